"""The HTML preview in a real headless browser (Debian's chromium): it loads, shows one card per post,
and a screenshot is taken."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.example import example_plan
from campaign.render import render_plan

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]
# No network, no first-run work: this machine's closed network refuses Chromium's background calls.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--run-all-compositor-stages-before-draw", "--virtual-time-budget=2000",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_the_bundled_week_preview_loads_in_chromium_with_one_card_per_post(tmp_path: Path) -> None:
    """Chromium renders the page: the DOM it built has one card per post and every image decoded."""
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", "--html", str(page)])
    assert result.exit_code == 0, result.output
    drafts = render_plan(example_plan()).drafts

    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert len(re.findall(r'<article class="post platform-', dom)) == len(drafts)
    for platform in ("x", "facebook", "mastodon", "bluesky"):
        assert f'data-platform="{platform}"' in dom
    assert dom.count("<h2 class=\"day\"") == len({d.when.local.date() for d in drafts})

    screenshot = tmp_path / "preview.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2400", page.as_uri())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
