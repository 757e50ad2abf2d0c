"""Welsh text, however it was typed: ŵ and ŷ (and every accented letter) counted, sent and found again as one
character each, whether the keyboard made them as one character or as a letter and a combining accent."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from pathlib import Path

from campaign.platforms import adapter_class
from campaign.platforms.base import Outgoing, comparable_text
from campaign.render import render_plan
from campaign.sandbox import Sandbox
from tests.conftest import FakeClock
from tests.plan_fixtures import WITH_LINKEDIN, write_campaign

COMPOSED = "Caethwasiaeth fodern: mae'n digwydd yma. Ffoniwch 101 — gŵr, tŷ, Llŷn, caffi, Môn."
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)


def test_a_welsh_post_typed_with_combining_accents_is_counted_and_sent_composed(tmp_path: Path) -> None:
    """Typed as letters and combining accents (4 characters more), the words are rendered composed: what the
    preview shows, what is counted on every platform (Facebook's and LinkedIn's characters too) and what is
    approved and sent, so ŵ is one character, not two."""
    assert len(DECOMPOSED) == len(COMPOSED) + 4  # ŵ ŷ ŷ ô
    plan = write_campaign(tmp_path, f"""\
        - id: cymraeg
          accounts: all
          at: '2027-03-15 09:00'
          hashtags: false
          language: cy
          text: "{DECOMPOSED}"
          images:
            - {{file: images/guide.png, alt: "{unicodedata.normalize('NFD', 'Taflen: gŵr a thŷ')}"}}
        """, base=WITH_LINKEDIN)
    rendered = render_plan(plan)
    assert rendered.ok, [str(p) for p in rendered.problems]
    assert {draft.text for draft in rendered.drafts} == {COMPOSED}
    lengths = {draft.platform: draft.length for draft in rendered.drafts}
    assert lengths["facebook"] == lengths["bluesky"] == lengths["mastodon"] == len(COMPOSED)
    assert lengths["linkedin"] == len(COMPOSED)  # no reserved character to escape
    assert {draft.images[0].alt for draft in rendered.drafts} == {"Taflen: gŵr a thŷ"}


def test_a_lookup_finds_a_welsh_post_whichever_way_its_accents_were_stored(sandbox: Sandbox,
                                                                        clock: FakeClock) -> None:
    """A post is found again by its words compared composed: a server that stores the letters as it was sent
    them (decomposed here) still has the post that was looked for with composed words, so it is not sent again."""
    assert comparable_text(DECOMPOSED) == comparable_text(COMPOSED)
    with adapter_class("mastodon")(sandbox.account_config("mastodon")) as mastodon:
        receipt = mastodon.publish(Outgoing(DECOMPOSED))
        assert sandbox.posts("mastodon")[0].text == DECOMPOSED
        found = mastodon.find(Outgoing(COMPOSED), clock.now - timedelta(minutes=5))
    assert [post.remote_id for post in found] == [receipt.remote_id]

