"""Benchmark: `campaign demo`, the README's first command, against the goal "demo wall ≤ 15 s" (issue 12).

Prints, measured side by side in one run on this machine:
- each run of `campaign demo` (the installed console script, no arguments, a fresh $TMPDIR, as the README runs
  it): its wall time and where the time went, read from when each numbered step's line appeared (validate =
  start-up and checking the plan; set up = the store, scheduling, approval, the sandbox and signing the accounts
  in; the week = the rehearsal, from the clock starting to every post settled; collect; report = the report and
  the export; exit), with the machine's load average before and after it;
- the reference: `campaign --help` (the command-line start-up every command pays), median of 5 per round,
  taken between the demo runs; the demo's wall time as a multiple of it, and the demo's fixed costs (its wall
  time less the week's own real time, which the demo prints);
- what the compressed week looked like, from each run's store (moved back onto the plan's week): every post
  published or not, replies after the posts they answer, each account's other posts in the order they were
  due (a reply waits for the post it answers, and a later post may go first meanwhile), how late posts went
  out in plan time (p50 / p90 / max), and the snapshots collected;
- the goal row: the median demo wall time ≤ 15 s, met or NOT MET (and the slowest run beside it).

The machine has 2 cores shared with other work: compare runs by the load printed beside them.

Run: .venv/bin/python bench/demo.py [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

CAMPAIGN = Path(sys.executable).parent / "campaign"
GOAL_SECONDS = 15.0
STEPS = (("validate", re.compile(r"^1\. Validated")), ("set up", re.compile(r"^3\. Rehearsing")),
         ("the week", re.compile(r"^   total\s")), ("collect", re.compile(r"^4\. Collected")),
         ("report", re.compile(r"^HTML report: ")))


@dataclass
class DemoRun:
    wall: float
    steps: dict[str, float]
    week: float
    """The week's real time, as the demo says it (step 3)."""
    load: tuple[float, float]
    returncode: int
    folder: Path | None
    output: str
    fidelity: dict[str, object] = field(default_factory=dict)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text(encoding="ascii").split()[0])


def run_demo() -> DemoRun:
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}
    before = load_average()
    started = time.perf_counter()
    seen: dict[str, float] = {}
    lines: list[str] = []
    with subprocess.Popen([str(CAMPAIGN), "demo"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=tmpdir, env=env) as process:
        assert process.stdout is not None
        for line in process.stdout:
            now = time.perf_counter() - started
            lines.append(line.rstrip("\n"))
            for name, pattern in STEPS:
                if name not in seen and pattern.search(line):
                    seen[name] = now
    wall = time.perf_counter() - started
    output = "\n".join(lines)
    week = re.search(r"hours in ([\d.]+) s", output)
    folder = re.search(r" in (.+)/rehearsal\.db\.$", output, flags=re.MULTILINE)
    marks = [("start", 0.0)] + [(name, seen[name]) for name, _ in STEPS if name in seen] + [("exit", wall)]
    steps = {name: end - start for (_, start), (name, end) in itertools.pairwise(marks)}
    return DemoRun(wall, steps, float(week.group(1)) if week else float("nan"), (before, load_average()),
                   process.returncode, Path(folder.group(1)) if folder else None, output)


def fidelity(folder: Path) -> dict[str, object]:
    """How the week played, from the demo's store (its times are the plan's after the demo)."""
    database = sqlite3.connect(folder / "rehearsal.db")
    rows = database.execute("SELECT key, account, due_at, published_at, state, reply_to FROM post").fetchall()
    published = {key: (account, datetime.fromisoformat(due), datetime.fromisoformat(at), parent)
                 for key, account, due, at, state, parent in rows if state == "published"}
    late = sorted((at - due).total_seconds() / 60 for _, due, at, _ in published.values())
    replies_after = all(at > published[parent][2] for _, _, at, parent in published.values()
                        if parent and parent in published)
    in_order = True
    accounts = {account for account, _, _, _ in published.values()}
    for account in accounts:
        times = sorted((due, at) for a, due, at, parent in published.values() if a == account and not parent)
        in_order &= all(b_due == a_due or b_at > a_at for (a_due, a_at), (b_due, b_at)
                        in itertools.pairwise(times))
    snapshots = database.execute("SELECT count(*) FROM engagement_snapshot").fetchone()[0]
    return {"posts": len(rows), "published": len(published), "late": late, "replies_after": replies_after,
            "in_order": in_order, "snapshots": snapshots}


def help_startup(times: int = 5) -> float:
    walls = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run([str(CAMPAIGN), "--help"], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def minutes(value: float) -> str:
    return f"{value:.0f} min" if value < 90 else f"{value / 60:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="demo runs (default 3)")
    options = parser.parse_args()
    help_startup(1)  # warm the page cache: the first start-up of a fresh process reads every module from disk
    references, runs = [], []
    for _ in range(options.runs):
        references.append(help_startup())
        run = run_demo()
        if run.returncode == 0 and run.folder is not None:
            run.fidelity = fidelity(run.folder)
        if run.folder is not None:
            shutil.rmtree(run.folder.parent, ignore_errors=True)
        runs.append(run)
    references.append(help_startup())
    reference = statistics.median(references)

    print(f"campaign demo, {len(runs)} runs (wall time; where it went; load average before → after):")
    for number, run in enumerate(runs, start=1):
        steps = "  ".join(f"{name} {seconds:.1f}" for name, seconds in run.steps.items())
        status = "" if run.returncode == 0 else f"   EXIT {run.returncode}"
        print(f"  run {number}: {run.wall:5.1f} s   [{steps}]   load {run.load[0]:.2f} → {run.load[1]:.2f}{status}")
    walls = [run.wall for run in runs]
    median = statistics.median(walls)
    week = statistics.median(run.week for run in runs)
    print(f"reference: campaign --help {reference * 1000:.0f} ms (median of {5 * len(references)}, between the runs)")
    print(f"  demo ÷ --help             : {median / reference:.0f}×")
    print(f"  the week's real time      : {week:.1f} s (the demo prints it; its 153 hours played evenly at the same "
          f"speed would take {153 * 3600 / 10_080:.1f} s)")
    print(f"  fixed costs (wall − week) : {median - week:.1f} s")
    print("the week, from each run's store (plan time):")
    for number, run in enumerate(runs, start=1):
        found = run.fidelity
        if not found:
            print(f"  run {number}: no store to read (the demo failed)")
            continue
        late = found["late"]
        assert isinstance(late, list)
        print(f"  run {number}: published {found['published']}/{found['posts']}, replies after their parents "
              f"{'yes' if found['replies_after'] else 'NO'}, each account's other posts in order {'yes' if found['in_order'] else 'NO'}, "
              f"late p50 {minutes(statistics.median(late))} p90 {minutes(late[int(0.9 * len(late))])} "
              f"max {minutes(late[-1])}, {found['snapshots']} snapshots")
    met = median <= GOAL_SECONDS and all(run.returncode == 0 for run in runs)
    print(f"goal: demo wall ≤ {GOAL_SECONDS:.0f} s (median)   : {median:.1f} s (slowest {max(walls):.1f} s)   "
          f"{'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
