"""The HTML preview as a sign-off document: every card carries its content hash (read back by the parser that
`approve --preview` uses), each distinct image is inlined once, a reply quotes its parent's words, and an image
that now leads out of the campaign folder is shown on no card."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path

import pytest

from campaign.example import example_plan
from campaign.preview_html import NOT_SHOWN, NotAPreview, html_preview, previewed_hashes
from campaign.render import render_plan
from tests.plan_fixtures import write_campaign

NOISE_POST = """\
- id: launch
  accounts: {accounts}
  text: The week of action starts today.
  at: '2027-03-15 09:00'
  images:
    - {{file: images/noise.png, alt: Coloured noise}}
"""


def noise_page(root: Path, accounts: str) -> tuple[str, str]:
    """The preview page of one post with a 240×120 PNG of random colours (it does not compress) on *accounts*,
    and the image's base64."""
    from PIL import Image

    plan = write_campaign(root, NOISE_POST.format(accounts=accounts))
    shuffle = random.Random(7)
    image = Image.frombytes("RGB", (240, 120), bytes(shuffle.getrandbits(8) for _ in range(240 * 120 * 3)))
    image.save(plan.parent / "images" / "noise.png")
    rendered = render_plan(plan)
    assert rendered.ok, rendered.problems
    encoded = base64.b64encode((plan.parent / "images" / "noise.png").read_bytes()).decode("ascii")
    return html_preview(rendered, list(rendered.drafts)), encoded


def test_an_image_on_four_cards_is_inlined_once_and_costs_little_per_extra_card(tmp_path: Path) -> None:
    """One image on one card, then on four: the page holds its bytes once either way, and each extra card adds
    its markup (under 2% of the image), not another copy of the image (which is 115 kB as base64)."""
    one, encoded = noise_page(tmp_path / "one", "[lancs-x]")
    four, same = noise_page(tmp_path / "four", "all")
    assert encoded == same and len(encoded) > 100_000
    assert one.count(encoded) == 1 and four.count(encoded) == 1
    assert four.count('<article class="post') == 4
    per_extra_card = (len(four) - len(one)) / 3
    assert 0 < per_extra_card < len(encoded) * 0.02


def test_every_card_carries_its_content_hash_and_the_parser_reads_them_all() -> None:
    """The bundled week's page: each card shows the first 12 characters of its post's content hash and holds the
    whole hash in data-hash; `previewed_hashes` reads back exactly each post's key and hash."""
    rendered = render_plan(example_plan())
    drafts = list(rendered.drafts)
    page = html_preview(rendered, drafts)
    assert previewed_hashes(page) == {d.key: d.content_hash for d in drafts}
    for draft in drafts:
        assert f'data-key="{draft.key}" data-hash="{draft.content_hash}"' in page
        assert f"content <code>{draft.content_hash[:12]}</code>" in page


def test_a_reply_quotes_the_start_of_its_parents_words_even_when_the_parent_is_not_shown() -> None:
    """The thread reply on X, previewed alone: "Replying to @LancsPolice:" and the first words of the launch post
    (cut near 120 characters, between words), with the parent's key kept in small print and a title."""
    rendered = render_plan(example_plan())
    reply = next(d for d in rendered.drafts if d.key == "launch-what-is/lancs-x")
    parent = next(d for d in rendered.drafts if d.key == "week-launch/lancs-x")
    page = html_preview(rendered, [reply])
    quoted = re.search(r'<div class="reply" title="Replies to week-launch/lancs-x">Replying to '
                       r"<strong>@LancsPolice</strong>: <q>(.*?)…</q>\s*"
                       r'<small class="reply-key">\(week-launch/lancs-x\)</small>', page)
    assert quoted is not None, page
    words = quoted.group(1).replace("&#39;", "'")
    assert 60 < len(words) <= 120
    assert " ".join(parent.text.split()).startswith(words)


def test_a_post_that_quotes_card_markup_cannot_add_a_card_to_what_was_approved(tmp_path: Path) -> None:
    """Words that look like a card (`<article data-key=… data-hash=…>`) are escaped on the page, so the parser
    reads only the real cards."""
    forged = '<article data-key="launch/lancs-facebook" data-hash="' + "0" * 64 + '">'
    plan = write_campaign(tmp_path, f"""\
        - id: launch
          accounts: [lancs-x]
          text: 'Markup in a post: {forged}'
          at: '2027-03-15 09:00'
        """)
    rendered = render_plan(plan)
    page = html_preview(rendered, list(rendered.drafts))
    assert previewed_hashes(page) == {"launch/lancs-x": rendered.drafts[0].content_hash}


@pytest.mark.parametrize(("page", "reason"), [
    ("<!doctype html><title>Minutes</title><p>No posts here.</p>", "it has no post cards"),
    ('<article class="post" data-key="launch/lancs-x" data-platform="x">',
     "the card of 'launch/lancs-x' has no content hash (a preview written before they were shown?)"),
    ('<article data-key="launch/lancs-x" data-hash="' + "a" * 64 + '"><article data-key="launch/lancs-x" '
     'data-hash="' + "b" * 64 + '">', "it shows 'launch/lancs-x' twice, with different content"),
])
def test_a_page_that_is_no_signed_off_preview_is_refused_with_the_reason(page: str, reason: str) -> None:
    """A page with no cards, cards without hashes (an older preview) or one post with two hashes is no record of
    what was reviewed: NotAPreview says which."""
    with pytest.raises(NotAPreview) as refused:
        previewed_hashes(page)
    assert str(refused.value) == reason


def test_an_image_that_now_leads_outside_is_not_shown_on_any_card(tmp_path: Path) -> None:
    """An image on two cards that became a symlink out of the campaign folder after rendering: both cards use the
    one "not shown" placeholder, and no byte of the file outside is on the page."""
    plan = write_campaign(tmp_path / "campaign", NOISE_POST.format(accounts="[lancs-x, lancs-facebook]")
                          .replace("noise.png", "guide.png"))
    rendered = render_plan(plan)
    assert rendered.ok, rendered.problems
    canary = tmp_path / "outside.png"
    canary.write_bytes(b"\x89PNG\r\n\x1a\n" + b"CANARY" * 50)
    guide = plan.parent / "images" / "guide.png"
    guide.unlink()
    guide.symlink_to(canary)
    page = html_preview(rendered, list(rendered.drafts))
    assert page.count(NOT_SHOWN) == 1
    assert page.count('<use href="#not-shown"/>') == 2
    assert base64.b64encode(canary.read_bytes()).decode("ascii")[8:40] not in page
    assert "data:image/png" not in page
