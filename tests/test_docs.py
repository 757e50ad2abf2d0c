"""Docs that cannot drift: every command is in the README, and every command's help works."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import COMMANDS, main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_in_the_readme_and_has_help(command: str) -> None:
    """`campaign COMMAND` is mentioned in the README, and `--help` works with the short help listed."""
    assert f"campaign {command}" in README
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: main {command}") or result.output.startswith(f"Usage: campaign {command}")


def test_the_command_list_matches_the_lazy_registry() -> None:
    """`campaign --help` lists exactly the registered commands, each with its short help."""
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    listed = result.output.split("Commands:", 1)[1].strip().splitlines()
    assert [line.split(maxsplit=1) for line in listed] == [[name, COMMANDS[name][1]] for name in sorted(COMMANDS)]


def test_help_imports_no_command_module() -> None:
    """`campaign --help` stays fast: it imports no command module and no platform or database library."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from campaign.cli import main; "
            "CliRunner().invoke(main, ['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith(('campaign.', 'tweepy', 'sqlalchemy', 'jinja2', "
            "'atproto', 'mastodon', 'yaml'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['campaign.cli']"
