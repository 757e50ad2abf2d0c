"""Careless and hostile plans: the bundled week of action, mutated a thousand ways, through the commands.

Each mutation is one of what people (and attackers) do to a YAML file — a key deleted or written twice, a value
of the wrong kind, a blank, a huge or tiny number, control characters and other awkward unicode, an alias (and
an alias bomb), a file cut short, a stray byte — applied to the bundled plan, seeded so every run is the same.
Every mutated plan goes through `campaign validate`; every tenth also through `preview --format json`,
`calendar` and `schedule`. The promise: no traceback, no hang (each command is bounded in time), exit 0 or 1,
and every problem printed as `FILE:LINE: …` on a line of its own.
"""

from __future__ import annotations

import random
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from campaign.cli import main
from campaign.example import example_plan
from campaign.exceptions import CampaignError

MUTATIONS = 1000
PARTS = 4
"""The mutations are run in this many parts, one test each, so that the suite's workers share them."""
SECONDS_PER_COMMAND = 5
PROBLEM = re.compile(r"^[^\s:][^:]*:\d+: \S")
"""A problem line: ``FILE:LINE: where: what — fix``."""
AWKWARD = ["", " ", "\t", "\x00", "\x1b[31mred\x1b[0m", "\u2028", "\u202e", "\ufeff", "🏴󠁧󠁢󠁷󠁬󠁳󠁿" * 200, "é" * 5000,
           "{{ x }}", "{% for %}", "~", "null", "-1", "0", "9" * 5000, "1e308", "nan", "2027-02-30 25:61",
           "../../../../etc/passwd", "/etc/passwd", "*", "&a", "!!python/object:os.system 'ls'", "@", "#"]


class Hang(Exception):
    """A command ran past its time."""


@contextmanager
def bounded(seconds: int) -> Iterator[None]:
    def alarm(_signum: int, _frame: object) -> None:
        raise Hang(f"ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def scalars_and_keys(node: yaml.Node, found: list[tuple[yaml.Node, Any]], seen: set[int] | None = None) -> None:
    """Every (parent, place) in the tree: a mapping's pair index or a sequence's item index. A node an alias
    names again is walked once (an alias bomb from an earlier mutation is a few nodes, not 9⁸)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for index, (_key, value) in enumerate(node.value):
            found.append((node, index))
            scalars_and_keys(value, found, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.append((node, index))
            scalars_and_keys(item, found, seen)


def scalar(value: str, tag: str = "tag:yaml.org,2002:str") -> yaml.ScalarNode:
    return yaml.ScalarNode(tag=tag, value=value)


def node_mutation(rng: random.Random, text: str) -> str:
    """Change one place of the plan's node tree, and write the tree back."""
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    places: list[tuple[yaml.Node, Any]] = []
    scalars_and_keys(root, places)
    parent, index = rng.choice(places)
    kind = rng.choice(["delete", "blank", "null", "list", "map", "number", "awkward", "bool", "duplicate"])
    replacement: yaml.Node
    if kind == "delete":
        del parent.value[index]
        return yaml.serialize(root, Dumper=yaml.CSafeDumper)
    if kind == "duplicate" and isinstance(parent, yaml.MappingNode):
        parent.value.insert(index, parent.value[index])
        return yaml.serialize(root, Dumper=yaml.CSafeDumper)
    if kind == "blank":
        replacement = scalar("")
    elif kind == "null":
        replacement = scalar("", "tag:yaml.org,2002:null")
    elif kind == "list":
        replacement = yaml.SequenceNode(tag="tag:yaml.org,2002:seq", value=[scalar(rng.choice(AWKWARD))])
    elif kind == "map":
        replacement = yaml.MappingNode(tag="tag:yaml.org,2002:map", value=[(scalar("a"), scalar("1"))])
    elif kind == "number":
        replacement = scalar(rng.choice(["0", "-1", "99999999999", "1" * 4400, "3.5", "-0.0"]), "tag:yaml.org,2002:int"
                             if rng.random() < 0.7 else "tag:yaml.org,2002:float")
    elif kind == "bool":
        replacement = scalar(rng.choice(["true", "false"]), "tag:yaml.org,2002:bool")
    else:
        replacement = scalar(rng.choice(AWKWARD))
    if isinstance(parent, yaml.MappingNode):
        key, _ = parent.value[index]
        parent.value[index] = (key, replacement)
    else:
        parent.value[index] = replacement
    return yaml.serialize(root, Dumper=yaml.CSafeDumper)


def text_mutation(rng: random.Random, text: str) -> str:
    """Change the plan as text: cut it short, flip a byte, repeat a line, or add an alias bomb."""
    kind = rng.choice(["truncate", "flip", "repeat_line", "bomb", "insert"])
    if kind == "truncate":
        return text[: rng.randrange(len(text))]
    if kind == "flip":
        at = rng.randrange(len(text))
        return text[:at] + chr(rng.choice([0, 7, 9, 10, 27, 34, 39, 58, 123, 0x2028, 0xFEFF, 0x1F600])) + text[at + 1:]
    lines = text.splitlines(keepends=True)
    if kind == "repeat_line":
        at = rng.randrange(len(lines))
        return "".join(lines[: at + 1] + lines[at:])
    if kind == "bomb":
        bomb = "".join(f"x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * 9)}]\n" for n in range(1, 9))
        victim = next((i for i, line in enumerate(lines) if line.lstrip().startswith(("at:", "text:"))), 0)
        indent = lines[victim][: len(lines[victim]) - len(lines[victim].lstrip())]
        lines[victim] = f"{indent}{lines[victim].lstrip().split(':')[0]}: *x8\n"
        return "x0: &x0 [lol]\n" + bomb + "".join(lines)
    at = rng.randrange(len(lines))
    return "".join(lines[:at] + [f"{rng.choice(AWKWARD)}: {rng.choice(AWKWARD)}\n"] + lines[at:])


def mutate(rng: random.Random, text: str) -> str:
    try:
        return node_mutation(rng, text) if rng.random() < 0.7 else text_mutation(rng, text)
    except yaml.YAMLError:
        return text_mutation(rng, text)


def run(arguments: list[str], env: dict[str, str]) -> tuple[int, str]:
    with bounded(SECONDS_PER_COMMAND):
        result = CliRunner().invoke(main, arguments, env=env, catch_exceptions=True)
    if isinstance(result.exception, CampaignError):  # the project's own error: one line, exit 1, without debug
        return 1, result.output + f"Error: {result.exception}\n"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"campaign {' '.join(arguments)} raised {result.exception!r}") from result.exception
    return result.exit_code, result.output


@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS))
def test_a_thousand_mutated_plans_never_crash_hang_or_leave_a_problem_without_its_line(
    tmp_path: Path, part: int
) -> None:
    """1,000 seeded mutations of the bundled plan through validate (and every tenth through preview, calendar
    and schedule): each command ends within 5 s with exit 0 or 1, prints no traceback, and every problem line
    is `FILE:LINE: …`. Each part makes the same 1,000 mutations from the same seed and runs its quarter of them,
    in order (its schedules into one store)."""
    campaign = tmp_path / "campaign"
    assert CliRunner().invoke(main, ["init", str(campaign)]).exit_code == 0  # the bundled week, as a user gets it
    original = example_plan().read_text(encoding="utf-8")
    plan = campaign / "schedules" / "fuzz.yaml"
    # CAMPAIGN_DEBUG: an unexpected error is raised (and caught here as a failure), not turned into exit 70.
    env = {"CAMPAIGN_DB": str(tmp_path / "store.db"), "NO_COLOR": "1", "CAMPAIGN_DEBUG": "1"}
    rng = random.Random(20261125)
    failures: list[str] = []
    commands: list[Callable[[Path], list[str]]] = [
        lambda p: ["validate", str(p)],
        lambda p: ["preview", str(p), "--format", "json"],
        lambda p: ["calendar", str(p), "-o", str(tmp_path / "week.ics")],
        lambda p: ["schedule", str(p)],
    ]
    mine = range(part * MUTATIONS // PARTS, (part + 1) * MUTATIONS // PARTS)
    for number in range(mine.stop):
        text = mutate(rng, original)
        if rng.random() < 0.2:
            text = mutate(rng, text)
        if number not in mine:
            continue
        plan.write_text(text, encoding="utf-8", errors="surrogatepass")
        for command in commands if number % 10 == 0 else commands[:1]:
            arguments = command(plan)
            try:
                code, output = run(arguments, env)
            except (AssertionError, Hang) as problem:
                failures.append(f"mutation {number}, campaign {arguments[0]}: {problem}")
                continue
            if code not in (0, 1) or "Traceback" in output:
                failures.append(f"mutation {number}, campaign {arguments[0]}: exit {code}\n{output[-800:]}")
            if arguments[0] == "validate":
                unlined = [line for line in output.splitlines()
                           if ("error" in line.lower() or "warning" in line.lower()) and not PROBLEM.match(line)
                           and not line.startswith(("Error:", f"{plan}: "))]
                if unlined and code == 1:
                    failures.append(f"mutation {number}: problems without FILE:LINE: {unlined[:3]}")
    assert not failures, f"{len(failures)} failures, the first: " + "\n\n".join(failures[:5])
