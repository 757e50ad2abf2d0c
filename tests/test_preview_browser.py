"""The HTML preview in a real headless browser (Debian's chromium): it loads, shows one card per post,
draws an image shared by several cards on each of them, fits a phone, and a screenshot is taken."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.example import example_plan
from campaign.render import render_plan
from tests.browser_fixtures import on_a_phone
from tests.plan_fixtures import WITH_INSTAGRAM, WITH_LINKEDIN, write_campaign

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


MAGENTA = (255, 0, 255)


def magenta_plan(root: Path) -> Path:
    """A plan whose one post goes to all four accounts with the same 300×150 magenta image."""
    from PIL import Image

    plan = write_campaign(root, """\
        - id: launch
          accounts: all
          text: The week of action starts today.
          at: '2027-03-15 09:00'
          images:
            - {file: images/magenta.png, alt: A magenta card twice as wide as it is tall}
        """)
    Image.new("RGB", (300, 150), MAGENTA).save(plan.parent / "images" / "magenta.png")
    return plan


def magenta_boxes(screenshot: Path, tolerance: int = 0) -> list[tuple[int, int]]:
    """The (width, height) of each magenta rectangle in *screenshot*: rows of them, found band by band (within
    *tolerance* of magenta in each channel, for a JPEG's)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(np.int16)
    mask = np.all(np.abs(pixels - np.array(MAGENTA)) <= tolerance, axis=2)

    def runs(line: np.ndarray) -> list[tuple[int, int]]:
        edges = np.flatnonzero(np.diff(np.concatenate(([0], line.astype(np.int8), [0]))))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]

    boxes = []
    for top, bottom in runs(mask.any(axis=1)):
        band = mask[top:bottom]
        for left, right in runs(band.any(axis=0)):
            boxes.append((right - left, bottom - top))
    return boxes


def test_an_image_on_four_cards_is_inlined_once_and_each_card_shows_it_in_its_shape(tmp_path: Path) -> None:
    """One image on four accounts' cards: the page holds its bytes once, each card names it for a screen reader
    (role="img" with the alt text), and chromium draws it on every card, magenta, twice as wide as tall — with no
    script and nothing fetched."""
    plan = magenta_plan(tmp_path)
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", str(plan), "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    encoded = base64.b64encode((plan.parent / "images" / "magenta.png").read_bytes()).decode("ascii")
    assert html.count(encoded) == 1
    assert "<script" not in html

    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    label = 'role="img" aria-label="A magenta card twice as wide as it is tall"'
    assert dom.count(label) == 4
    assert dom.count('<use href="#img-') == 4

    screenshot = tmp_path / "preview.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,1400", page.as_uri())
    boxes = magenta_boxes(screenshot)
    assert len(boxes) == 4, boxes
    for width, height in boxes:
        assert width >= 250 and abs(width / height - 2) < 0.03, boxes


def test_the_preview_fits_a_phone_without_scrolling_sideways(tmp_path: Path) -> None:
    """The bundled week's preview at 390 px wide: nothing is wider than the screen."""
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.read_text(encoding="utf-8")
    scroll_width, viewport_width = on_a_phone(page, tmp_path / "phone.png")
    assert (scroll_width, viewport_width) == (390, 390)


LINKEDIN_BLUE = (10, 102, 194)


def test_a_linkedin_card_reads_as_the_page_will_and_is_drawn_in_linkedin_blue(tmp_path: Path) -> None:
    """A LinkedIn page's post in the preview: its words as LinkedIn's page will show them (brackets, asterisks
    and underscores as written, not escaped, not cut), its count by LinkedIn's rule, and chromium draws its card
    in LinkedIn's blue (the avatar), as each platform's card is drawn in its own colours."""
    from PIL import Image

    words = "Training for *all* staff (free): https://www.gov.uk/modern_slavery"
    plan = write_campaign(tmp_path, f"""\
        - id: training
          accounts: [lancs-linkedin]
          at: '2027-03-15 09:00'
          hashtags: false
          text: '{words}'
        """, base=WITH_LINKEDIN)
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", str(plan), "--html", str(page)])
    assert result.exit_code == 0, result.output
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'data-platform="linkedin"' in dom and "Training for *all* staff (free): " in dom and "\\(" not in dom
    assert f">{len(words) + 5} / 3000<" in dom  # ( ) * * _ escaped: five more, as LinkedIn counts the words sent
    screenshot = tmp_path / "preview.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,900", page.as_uri())
    colours = Image.open(screenshot).convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert any(colour == LINKEDIN_BLUE and count >= 40 * 40 * 0.9 for count, colour in colours)  # the 40 px avatar


def test_an_instagram_card_shows_its_picture_whole_as_the_feed_does(tmp_path: Path) -> None:
    """An Instagram post with a landscape picture (1.9:1, within what Instagram takes): chromium draws it on the card
    whole, at its own shape, as Instagram's feed shows it (a square crop, as the profile's grid makes, hid the ends
    of a helpline card's words from the approver), with the card's count by Instagram's 2,200."""
    from PIL import Image

    plan = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-instagram]
          at: '2027-03-15 09:00'
          text: The week of action starts today.
          images:
            - {file: images/magenta.jpg, alt: A wide magenta card}
        """, base=WITH_INSTAGRAM)
    Image.new("RGB", (380, 200), MAGENTA).save(plan.parent / "images" / "magenta.jpg", quality=100, subsampling=0)
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", str(plan), "--html", str(page)])
    assert result.exit_code == 0, result.output
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'data-platform="instagram"' in dom and re.search(r">\d+ / 2200<", dom)
    screenshot = tmp_path / "preview.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,900", page.as_uri())
    [(width, height)] = magenta_boxes(screenshot, tolerance=8)
    assert width >= 250 and abs(width / height - 380 / 200) < 0.03
