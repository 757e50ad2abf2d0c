"""The README stays true: its Quick start is what CI runs, and every `campaign` command in it works."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CAMPAIGN = Path(sys.executable).parent / "campaign"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)]


def console_commands() -> list[str]:
    return [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]


def test_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    """Two copy-paste commands: the first previews the bundled week, the second is CI's test command."""
    demo, tests = quick_start()
    assert demo == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/campaign preview"
    assert tests == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.split(" && ", 1)[1] in ci


def test_quick_start_demo_command_runs() -> None:
    """The installed `campaign preview` (the Quick start's last step) previews the bundled week cleanly."""
    result = subprocess.run([str(CAMPAIGN), "preview"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Modern slavery week of action" in result.stdout
    assert re.search(r"\d+ posts on 4 accounts over 7 days · 0 errors · 0 warnings", result.stdout)


@pytest.mark.parametrize("command", console_commands())
def test_every_readme_command_runs(command: str, tmp_path: Path) -> None:
    """Each `$ campaign …` line of the README succeeds, run in order in a campaign folder made by `init`."""
    subprocess.run([str(CAMPAIGN), "init", str(tmp_path / "my-campaign")], check=True, capture_output=True)
    words = shlex.split(command)
    if words[0] == "cd":
        assert (tmp_path / words[1]).is_dir()
        return
    cwd = tmp_path if words[1] == "init" else tmp_path / "my-campaign"
    if words[1] == "init":
        words[2] = str(tmp_path / "another-campaign")
    result = subprocess.run([str(CAMPAIGN), *words[1:]], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
