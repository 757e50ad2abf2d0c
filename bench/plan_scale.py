"""Benchmark: validating and rendering a national-scale plan, against a bare Jinja loop; and start-up time.

Prints, measured side by side in one run on this machine:
- a generated plan of 43 forces × 4 platforms × 60 posts (10,320 posts): the time `render_plan` takes to
  load, validate, render and check it, the time a bare Jinja loop takes to render the same templates with
  the same variables, their ratio (goal ≤ 3×), and the peak memory of each (in a fresh process);
- `campaign --help` wall time against `python -c "import click"` (goal ≤ 1.5×).

Run: .venv/bin/python bench/plan_scale.py [--forces 43] [--posts 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORCES = ["Lancashire", "Cumbria", "Merseyside", "Greater Manchester", "Cheshire", "West Yorkshire"]
PLATFORMS = {
    "x": ("'@Force{n}'", "{consumer_key: K, consumer_secret: S, access_token: T, access_token_secret: TS}"),
    "facebook": ("Force {n} Police", "{page_id: P, page_access_token: T}"),
    "mastodon": ("'@force{n}@police.social'", "{access_token: T}"),
    "bluesky": ("force{n}.bsky.social", "{app_password: P}"),
}
TEMPLATES = {
    "signs.j2": "Modern slavery can be hidden in {{ place }} in {{ town }} ({{ n }}). Look closer: {{ sign }}.\n"
                "If something doesn't seem right, call {{ phones.police }}, or {{ phones.emergency }} "
                "in an emergency.\n",
    "helpline.j2": "Worried someone is being exploited ({{ n }})? The {{ phones.helpline.label }} is open 24/7 on "
                   "{{ phones.helpline }}. More: {{ links.advice }}\n",
    "event.j2": "Tomorrow at {{ event.start | clock }}: {{ event.title }} at {{ event.location }}, "
                "for frontline staff in {{ town }} ({{ n }}).\n",
}
PLACES = ["nail bars", "car washes", "rural businesses", "massage parlours", "a property near you"]


def generate(folder: Path, forces: int, posts: int) -> Path:
    (folder / "posts").mkdir(parents=True)
    (folder / "schedules").mkdir()
    for name, body in TEMPLATES.items():
        (folder / "posts" / name).write_text(body)
    lines = [
        "campaign:", "  name: National week of action", "  timezone: Europe/London",
        "  starts: 2027-03-15", "  ends: 2027-03-21", "  hashtags: [SeeItShareIt, ModernSlavery]",
        "facts:", "  phones:",
        "    helpline: {label: Modern Slavery & Exploitation Helpline, number: '08000 121 700'}",
        "    police: {label: Police, number: '101'}", "    emergency: {label: Emergency, number: '999'}",
        "  links:", "    advice: https://www.gov.uk/government/collections/modern-slavery",
        "accounts:",
    ]
    for n in range(forces):
        for platform, (handle, credentials) in PLATFORMS.items():
            lines += [f"  f{n}-{platform}:", f"    platform: {platform}", f"    handle: {handle.format(n=n)}",
                      f"    credentials: {credentials}"]
    lines.append("events:")
    for n in range(forces):
        lines += [f"  f{n}-training:", "    title: Modern slavery training", "    start: '2027-03-17 10:00'",
                  f"    location: Town Hall {n}"]
    lines.append("posts:")
    for n in range(forces):
        town = FORCES[n % len(FORCES)]
        accounts = "[" + ", ".join(f"f{n}-{p}" for p in PLATFORMS) + "]"
        for i in range(posts):
            template = ("signs.j2", "helpline.j2", "event.j2")[i % 3]
            day, minute = 15 + i % 7, i // 7
            lines += [f"  - id: f{n}-p{i}", f"    accounts: {accounts}", f"    template: {template}",
                      f"    vars: {{n: {i}, town: {town}, place: {PLACES[i % 5]}, sign: workers who look scared}}"]
            if template == "event.j2":
                lines += [f"    event: f{n}-training", f"    at: '-1d 18:{minute:02d}'"]
            else:
                lines.append(f"    at: '2027-03-{day} 09:{minute:02d}'")
    plan = folder / "schedules" / "national.yaml"
    plan.write_text("\n".join(lines) + "\n")
    return plan


OURS = """
import json, sys, time, resource
from campaign.plan import load_plan
from campaign.render import Renderer, render_plan
start = time.perf_counter()
rendered = render_plan(sys.argv[1])
elapsed = time.perf_counter() - start
assert rendered.ok, [str(p) for p in rendered.errors[:5]]
start = time.perf_counter()
plan, _ = load_plan(sys.argv[1])
loading = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "loading": loading, "posts": len(rendered.drafts),
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

BARE = """
import json, sys, time, resource
from jinja2 import Environment, FileSystemLoader
from campaign.plan import read_plan
from campaign.render import format_clock
plan = read_plan(sys.argv[1])
env = Environment(loader=FileSystemLoader(str(plan.campaign.templates)))
env.filters["clock"] = format_clock
globals_ = {"phones": plan.phones, "links": plan.links}
jobs = [(post, account) for post in plan.posts for account in post.accounts]
start = time.perf_counter()
texts = []
for post, account in jobs:
    context = dict(globals_, **post.content.vars)
    if post.event:
        context["event"] = plan.events[post.event]
    texts.append(env.get_template(post.content.template).render(context))
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "posts": len(texts),
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_python(code: str, *args: str) -> dict[str, float]:
    output = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(output.stdout)
    return result


def wall(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forces", type=int, default=43)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan = generate(Path(tmp), options.forces, options.posts)
        ours = min((run_python(OURS, str(plan)) for _ in range(options.repeat)), key=lambda r: r["seconds"])
        bare = min((run_python(BARE, str(plan)) for _ in range(options.repeat)), key=lambda r: r["seconds"])
    print(f"plan: {options.forces} forces × 4 platforms × {options.posts} posts = {int(ours['posts'])} posts")
    print(f"  validate + render + check : {ours['seconds']:.2f} s   peak {ours['peak_kb'] / 1024:.0f} MB")
    print(f"    of which reading the YAML and checking the plan: {ours['loading']:.2f} s")
    print(f"  bare Jinja loop           : {bare['seconds']:.2f} s   peak {bare['peak_kb'] / 1024:.0f} MB")
    print(f"  ratio                     : {ours['seconds'] / bare['seconds']:.2f}×   (goal ≤ 3×)")

    campaign = str(Path(sys.executable).parent / "campaign")
    ours_help = wall([campaign, "--help"], 15)
    click_import = wall([sys.executable, "-c", "import click"], 15)
    print("start-up (median of 15):")
    print(f"  campaign --help           : {ours_help * 1000:.0f} ms")
    print(f"  python -c 'import click'  : {click_import * 1000:.0f} ms")
    print(f"  ratio                     : {ours_help / click_import:.2f}×   (goal ≤ 1.5×)")


if __name__ == "__main__":
    main()
