"""LinkedIn's little text: what goes out as commentary, and what LinkedIn's page shows for it."""

from __future__ import annotations

import pytest

from campaign.platforms.little_text import RESERVED, commentary, escape, shown

WORDS = [
    "Report concerns on 101 (or 999 in an emergency). #ModernSlavery #SeeItShareIt",
    "Read more: https://www.gov.uk/government/collections/modern_slavery?utm_source=li_x",
    "Every reserved character: \\ | { } @ [ ] ( ) < > # * _ ~ and a lone # sign",
    "Cymraeg: Caethwasiaeth Fodern — ŵ ŷ â ê î ô û ï #CaethwasiaethFodern",
    "@someone is not a mention, [this] is not a link, *this* is not bold, ~this~ is not struck",
]


@pytest.mark.parametrize("words", WORDS)
def test_the_page_shows_the_words_as_written(words: str) -> None:
    """Whatever the words hold, the commentary sent shows them exactly as written."""
    assert shown(commentary(words)) == words


def test_hashtags_go_as_hashtag_templates_and_everything_else_is_escaped() -> None:
    """Each hashtag (as the checks find them) becomes LinkedIn's template with an escaped sign, the form LinkedIn
    itself gives back; every other reserved character is escaped with a backslash, links included."""
    assert commentary("Call 101 (free) #ModernSlavery gov.uk/a_b") == (
        "Call 101 \\(free\\) {hashtag|\\#|ModernSlavery} gov.uk/a\\_b"
    )
    assert escape("".join(sorted(RESERVED))) == "".join("\\" + char for char in sorted(RESERVED))


def test_an_unescaped_reserved_character_cuts_the_post_there() -> None:
    """As reported again and again of LinkedIn: the API takes the post, and the page shows it cut just before
    the first reserved character that starts no element; hashtags, hashtag templates and mentions are elements."""
    assert shown("This is a test. (This is also a test.)") == "This is a test. "
    assert shown("Va al repo (durable) #tag") == "Va al repo "
    assert shown("Hello @[Acme Corp](urn:li:organization:1234) and {hashtag|#|Tech} #plain_tag") == (
        "Hello Acme Corp and #Tech #plain_tag"
    )
    assert shown("a lone # sign") == "a lone "
    assert shown("escaped \\(kept\\)") == "escaped (kept)"
