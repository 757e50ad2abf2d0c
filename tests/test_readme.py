"""The README stays true: its Quick start is what CI runs, and every `campaign` command in it works."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from campaign.people import login_name
from tests.conftest import DemoRun

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CAMPAIGN = Path(sys.executable).parent / "campaign"


def quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)]


def console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    """Two copy-paste commands: the first previews the bundled week, the second is CI's test command."""
    demo, tests = quick_start()
    assert demo == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/campaign demo"
    assert tests == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.split(" && ", 1)[1] in ci


@pytest.mark.slow
@pytest.mark.xdist_group("demo-run")  # one pytest-xdist worker runs the shared demo, once
def test_quick_start_demo_command_runs(demo_run: DemoRun) -> None:
    """The installed `campaign demo` (the Quick start's last step), exactly as written, runs the whole toolkit
    on the built-in defaults: every post of the bundled week is published, and the report and export exist.
    (The run is shared with the other tests of the demo: see ``demo_run``.)"""
    demo = quick_start()[0].split(" && ")[-1]
    assert shlex.split(demo) == [".venv/bin/campaign", "demo"]
    assert demo_run.result.args == [str(CAMPAIGN), "demo"]
    result = demo_run.result
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1. Validated modern-slavery-week.yaml: 108 posts, 0 errors, 0 warnings." in result.stdout
    assert re.search(r"^   total\s+108\s+0\s+0$", result.stdout, flags=re.MULTILINE)
    report = re.search(r"^HTML report: (.+)$", result.stdout, flags=re.MULTILINE)
    assert report is not None and Path(report.group(1)).is_file()


def test_every_readme_command_runs_in_order(tmp_path: Path) -> None:
    """Each `$ …` line of the README succeeds when a new user types them in order, from `campaign init` on,
    with the installed console script and a store of their own."""
    commands = console_commands()
    assert commands[0].startswith("campaign init ") and len(commands) >= 10
    # $USER is the reader's login, as their shell would expand it (a container may not set it).
    env = {**os.environ, "CAMPAIGN_DB": str(tmp_path / "store.db"), "USER": login_name()}
    cwd = tmp_path
    for command in commands:
        words = [word.replace("$USER", env["USER"]) for word in shlex.split(command)]
        if words[0] == "cd":
            cwd = cwd / words[1]
            assert cwd.is_dir(), command
            continue
        assert words[0] == "campaign", command
        stdout_file = None
        if ">" in words:
            stdout_file = cwd / words[words.index(">") + 1]
            words = words[: words.index(">")]
        result = subprocess.run([str(CAMPAIGN), *words[1:]], check=False, cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr, command
        if stdout_file is not None:
            stdout_file.write_text(result.stdout, encoding="utf-8")
