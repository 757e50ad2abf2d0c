"""Benchmark: validating and rendering a national-scale plan, against a bare Jinja loop; and start-up time.

Prints, measured side by side in one run on this machine (each measurement in a fresh process, ours and the
bare loop's taken in turn, the fastest of --repeat):
- a generated plan of 43 forces × 4 platforms × 60 posts (10,320 posts): the time `render_plan` takes to
  read, validate, render and check it, the time a bare Jinja loop takes to render the same templates with
  the same variables for every post and account, their ratio and the goal row (≤ 3×, met or NOT MET), and
  the peak memory of each;
- where `render_plan`'s time goes: reading the YAML, validating the plan, rendering (templates, tidying,
  hashtags, drafts) and checking (counting each platform's length, the content checks, the repeats check),
  timed inside the call in runs of their own (timing each draft's check costs time too, so the goal row is
  timed in runs without it);
- the floor, and why: what no way of doing this job can avoid, measured here in fresh processes. Reading a
  plan so that every value keeps its line means building a node with its position for each of the plan's
  ~63,000 YAML values: PyYAML's libyaml composer alone (the fastest parser we know that keeps positions,
  with no values made from the nodes) takes about half the bare loop. Counting a post as X counts it needs
  twitter-text's URL pattern, which embeds ~1,600 TLDs and is compiled once per process (by Python's re, for
  an ASCII link: about a sixth of the bare loop). The bare loop itself is the rendering; ours renders each
  post once for all the accounts it goes to where its template reads neither `platform` nor `account`, so
  it can spend less there. floor = (compose + URL pattern + bare loop) ÷ bare loop, before any validation
  or check runs. Decision 0012 says what was measured and chosen;
- `campaign --help` wall time against `python -c "import click"` (goal ≤ 1.5×).

The machine may be shared: read the ratios, which are measured side by side, not the seconds.

Run: .venv/bin/python bench/plan_scale.py [--forces 43] [--posts 60] [--repeat 5]
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
from typing import Any

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
import campaign.plan.loader as loader
import campaign.render as render
from campaign.checks import Checker

spent = {"yaml": 0.0, "load": 0.0, "drafts": 0.0, "check": 0.0, "repeats": 0.0}

def timed(function, part):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[part] += time.perf_counter() - start
    return wrapper

instrumented = sys.argv[2] == "parts"  # timing each part costs time too: the goal row is timed without it
if instrumented:
    loader.load_yaml = timed(loader.load_yaml, "yaml")
    loader.Loader.load = timed(loader.Loader.load, "load")
    render.Renderer.drafts = timed(render.Renderer.drafts, "drafts")
    render.Renderer._measure = timed(render.Renderer._measure, "check")
    Checker.check = timed(Checker.check, "check")
    render.repeated_texts = timed(render.repeated_texts, "repeats")
start = time.perf_counter()
rendered = render.render_plan(sys.argv[1])
elapsed = time.perf_counter() - start
assert rendered.ok, [str(p) for p in rendered.errors[:5]]
parts = {"read YAML": spent["yaml"], "validate": spent["load"] - spent["yaml"],
         "render": spent["drafts"] - spent["check"], "check": spent["check"] + spent["repeats"]}
print(json.dumps({"seconds": elapsed, "parts": parts, "posts": len(rendered.drafts),
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

FLOOR = """
import json, sys, time
import yaml
from campaign import twitter_text
from campaign.yamlfile import _Loader, collector_paused
start = time.perf_counter()
twitter_text._urls().extract_url_ascii  # built and compiled, as for a post with an https:// link
urls = time.perf_counter() - start
text = open(sys.argv[1], encoding="utf-8").read()
with collector_paused():
    start = time.perf_counter()
    yaml.compose(text, Loader=_Loader)  # libyaml's nodes, each with its position, and no values made
    compose = time.perf_counter() - start
print(json.dumps({"compose": compose, "urls": urls}))
"""


def run_python(code: str, *args: str) -> dict[str, Any]:
    output = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(output.stdout)
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
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan = generate(Path(tmp), options.forces, options.posts)
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "parts": [], "bare": [], "floor": []}
        for _ in range(options.repeat):  # in turn, so that a busy moment of the machine falls on both
            runs["ours"].append(run_python(OURS, str(plan), "whole"))
            runs["bare"].append(run_python(BARE, str(plan)))
            runs["parts"].append(run_python(OURS, str(plan), "parts"))
            runs["floor"].append(run_python(FLOOR, str(plan)))
    ours = min(runs["ours"], key=lambda r: r["seconds"])
    parts = min(runs["parts"], key=lambda r: r["seconds"])
    bare = min(runs["bare"], key=lambda r: r["seconds"])
    compose = min(r["compose"] for r in runs["floor"])
    urls = min(r["urls"] for r in runs["floor"])
    ratio = ours["seconds"] / bare["seconds"]
    print(f"plan: {options.forces} forces × 4 platforms × {options.posts} posts = {int(ours['posts'])} posts")
    print(f"  render_plan (read + validate + render + check) : {ours['seconds']:.2f} s   peak "
          f"{ours['peak_kb'] / 1024:.0f} MB")
    print(f"    (where it goes, timed part by part in runs of their own, {parts['seconds']:.2f} s in all)")
    for part, seconds in parts["parts"].items():
        print(f"    {part:<14}: {seconds:.2f} s  ({seconds / parts['seconds']:4.0%})")
    print(f"  bare Jinja loop (every post, every account)    : {bare['seconds']:.2f} s   peak "
          f"{bare['peak_kb'] / 1024:.0f} MB")
    floor = (compose + urls + bare["seconds"]) / bare["seconds"]
    print(f"  floor: libyaml compose {compose:.2f} s + URL pattern {urls:.2f} s + bare loop = "
          f"{floor:.2f}× the bare loop (see the docstring)")
    print(f"goal: render_plan ≤ 3× the bare loop         : {ratio:.2f}×   {'met' if ratio <= 3 else 'NOT MET'}")

    campaign = str(Path(sys.executable).parent / "campaign")
    ours_help = wall([campaign, "--help"], 15)
    click_import = wall([sys.executable, "-c", "import click"], 15)
    start_up = ours_help / click_import
    print("start-up (median of 15):")
    print(f"  campaign --help           : {ours_help * 1000:.0f} ms")
    print(f"  python -c 'import click'  : {click_import * 1000:.0f} ms")
    print(f"goal: campaign --help ≤ 1.5× import click : {start_up:.2f}×   {'met' if start_up <= 1.5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
