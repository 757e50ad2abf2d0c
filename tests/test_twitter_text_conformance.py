"""twitter-text's own conformance cases, run against :mod:`campaign.twitter_text`.

The YAML files in ``tests/conformance/twitter-text/`` are copied unchanged from
twitter/twitter-text (Apache License 2.0). Every case of the sections used here is run; none is
skipped or filtered. The last two tests add cases beyond the upstream data (newer emoji, and
upstream quirks checked against twitter-text 3.1.0 from npm).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from campaign import twitter_text

CONFORMANCE = Path(__file__).parent / "conformance" / "twitter-text"


def _load(name: str) -> dict[str, list[dict[str, Any]]]:
    data = yaml.safe_load((CONFORMANCE / name).read_text(encoding="utf-8"))
    tests: dict[str, list[dict[str, Any]]] = data["tests"]
    return tests


VALIDATE = _load("validate.yml")
EXTRACT = _load("extract.yml")


# twitter-text's config/v2.json (v3 without emoji parsing) and config/v1.json (140 characters,
# each weighing 1), for the conformance sections written for them.
CONFIG_V2 = dataclasses.replace(twitter_text.CONFIG_V3, version=2, emoji_parsing_enabled=False)
CONFIG_V1 = twitter_text.TwitterTextConfig(
    version=1,
    max_weighted_tweet_length=140,
    scale=1,
    default_weight=1,
    emoji_parsing_enabled=False,
    transformed_url_length=23,
    ranges=(),
)


def _cases(section: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(case, id=case["description"]) for case in section]


def _parsed(result: twitter_text.ParsedTweet) -> dict[str, Any]:
    """A ParsedTweet in the shape of the conformance data's ``expected``."""
    return {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range_start,
        "displayRangeEnd": result.display_range_end,
        "validRangeStart": result.valid_range_start,
        "validRangeEnd": result.valid_range_end,
    }


@pytest.mark.parametrize("case", _cases(VALIDATE["WeightedTweetsWithDiscountedEmojiCounterTest"]))
def test_weighted_length_v3(case: dict[str, Any]) -> None:
    """parse_tweet gives exactly twitter-text v3's weighted length, validity, permillage and
    UTF-16 display/valid ranges (URLs 23, emoji sequences 2, CJK 2, NFC normalisation)."""
    assert _parsed(twitter_text.parse_tweet(case["text"])) == case["expected"]


@pytest.mark.parametrize("case", _cases(VALIDATE["UnicodeDirectionalMarkerCounterTest"]))
def test_directional_markers_and_invalid_characters(case: dict[str, Any]) -> None:
    """parse_tweet treats U+FFFE/U+FEFF/U+FFFF as invalid (valid range stops before the first)
    and bidi markers such as U+202A/U+2066 as valid, as current twitter-text does."""
    assert _parsed(twitter_text.parse_tweet(case["text"])) == case["expected"]


@pytest.mark.parametrize("case", _cases(VALIDATE["WeightedTweetsCounterTest"]))
def test_weighted_length_v2_config(case: dict[str, Any]) -> None:
    """With emoji parsing off (config v2) every character is weighed on its own, exactly as
    twitter-text does: the counting is driven by the config, not hard-wired to v3."""
    assert _parsed(twitter_text.parse_tweet(case["text"], config=CONFIG_V2)) == case["expected"]


@pytest.mark.parametrize("case", _cases(VALIDATE["tweets"]))
def test_tweet_validity_v1_config(case: dict[str, Any]) -> None:
    """The legacy 140-character cases: valid exactly when twitter-text's v1 config says so
    (empty is invalid, URLs count 23, a surrogate pair is one character)."""
    assert twitter_text.parse_tweet(case["text"], config=CONFIG_V1).valid is case["expected"]


def test_config_matches_upstream_v3_json() -> None:
    """The built-in CONFIG_V3 holds exactly the values of twitter-text's config/v3.json."""
    upstream = json.loads((CONFORMANCE / "config-v3.json").read_text(encoding="utf-8"))
    config = twitter_text.CONFIG_V3
    assert {
        "version": config.version,
        "maxWeightedTweetLength": config.max_weighted_tweet_length,
        "scale": config.scale,
        "defaultWeight": config.default_weight,
        "emojiParsingEnabled": config.emoji_parsing_enabled,
        "transformedURLLength": config.transformed_url_length,
        "ranges": [{"start": r.start, "end": r.end, "weight": r.weight} for r in config.ranges],
    } == upstream


@pytest.mark.parametrize("case", _cases(EXTRACT["hashtags"]))
def test_extract_hashtags(case: dict[str, Any]) -> None:
    """extract_hashtags finds exactly the hashtags twitter-text finds, in order, and rejects the
    ones it rejects (all-numeric, no preceding boundary, inside URLs, followed by '://')."""
    assert twitter_text.extract_hashtags(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", _cases(EXTRACT["hashtags_from_astral"]))
def test_extract_hashtags_from_astral(case: dict[str, Any]) -> None:
    """extract_hashtags accepts letters, marks and digits outside the Basic Multilingual Plane."""
    assert twitter_text.extract_hashtags(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", _cases(EXTRACT["hashtags_with_indices"]))
def test_extract_hashtags_with_indices(case: dict[str, Any]) -> None:
    """extract_hashtags_with_indices gives each hashtag's text and its [start, end) span,
    including the '#', as twitter-text does."""
    found = twitter_text.extract_hashtags_with_indices(case["text"])
    assert [{"hashtag": e.text, "indices": [e.start, e.end]} for e in found] == case["expected"]


@pytest.mark.parametrize("case", _cases(EXTRACT["urls"]))
def test_extract_urls(case: dict[str, Any]) -> None:
    """extract_urls finds exactly the URLs twitter-text finds (with and without protocol, IDN
    and CJK hosts, TLD rules, label-length limits, t.co slugs, trailing punctuation)."""
    assert twitter_text.extract_urls(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", _cases(EXTRACT["urls_with_indices"]))
def test_extract_urls_with_indices(case: dict[str, Any]) -> None:
    """extract_urls_with_indices gives each URL and its [start, end) span as twitter-text does."""
    found = twitter_text.extract_urls_with_indices(case["text"])
    assert [{"url": e.text, "indices": [e.start, e.end]} for e in found] == case["expected"]


@pytest.mark.parametrize("case", _cases(EXTRACT["urls_with_directional_markers"]))
def test_extract_urls_with_directional_markers(case: dict[str, Any]) -> None:
    """URLs wrapped in bidi isolates/embeddings (RTL text) are found, without the markers."""
    found = twitter_text.extract_urls_with_indices(case["text"])
    assert [{"url": e.text, "indices": [e.start, e.end]} for e in found] == case["expected"]


@pytest.mark.parametrize("case", _cases(EXTRACT["tco_urls_with_params"]))
def test_extract_tco_urls_with_params(case: dict[str, Any]) -> None:
    """t.co URLs keep their query string (but no further path), as twitter-text does."""
    assert twitter_text.extract_urls(case["text"]) == case["expected"]


def test_entity_indices_are_python_str_indices() -> None:
    """Entity start/end are code point indices: after an astral emoji (two UTF-16 units, one
    Python character) text[start:end] is still exactly the '#tag' or the URL."""
    text = "🚓🚓 #SaferStreets read https://example.police.uk/news 👮🏽‍♀️"
    (tag,) = twitter_text.extract_hashtags_with_indices(text)
    (url,) = twitter_text.extract_urls_with_indices(text)
    assert text[tag.start : tag.end] == "#SaferStreets"
    assert tag.text == "SaferStreets"
    assert text[url.start : url.end] == url.text == "https://example.police.uk/news"


def test_empty_text_is_invalid() -> None:
    """An empty post weighs 0 and is not valid (twitter-text requires weightedLength > 0)."""
    assert twitter_text.parse_tweet("") == twitter_text.ParsedTweet(
        weighted_length=0,
        valid=False,
        permillage=0,
        display_range_start=0,
        display_range_end=0,
        valid_range_start=0,
        valid_range_end=0,
    )


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        pytest.param("\u00a9", 1, id="copyright sign alone is text (1)"),
        pytest.param("\u00a9\ufe0f", 2, id="copyright sign with VS16 is one emoji"),
        pytest.param("1\ufe0f\u20e3", 2, id="keycap with VS16"),
        pytest.param("\u2764\ufe0f\u200d\U0001f525", 2, id="heart on fire (Unicode 13.1 ZWJ)"),
        pytest.param("\U0001f9d1\U0001f3fd\u200d\U0001f692", 2, id="firefighter with skin tone"),
        pytest.param("\U0001f46e\u200d\u2640\ufe0f", 2, id="woman police officer"),
        pytest.param("\U0001f1ec\U0001f1e7", 2, id="flag of the UK"),
        pytest.param(
            "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", 2, id="flag of Scotland"
        ),
        pytest.param("\U0001fae0", 2, id="melting face (Unicode 14)"),
        pytest.param("\u270c\ufe0e", 4, id="text-style victory hand: two characters"),
        pytest.param("\U0001f6a8\U0001f6a8", 4, id="two emoji are two units"),
    ],
)
def test_emoji_sequences_weigh_two(text: str, weight: int) -> None:
    """Beyond the upstream data: every emoji sequence, including ones newer than twitter-text's
    generated list, weighs 2 as one unit; text-default symbols weigh as text unless VS16 follows."""
    assert twitter_text.parse_tweet(text).weighted_length == weight


@pytest.mark.parametrize(
    ("text", "urls", "weighted_length"),
    [
        pytest.param("🫠.co.uk", [("co.uk", 2, 7)], 26, id="emoji glued before a domain"),
        pytest.param("Visit 🚓.police.uk today", [("police.uk", 8, 17)], 38, id="emoji glued to police.uk"),
        pytest.param("example.com/x.(a)", [("example.com/x", 0, 13)], 27, id="parens after a period"),
        pytest.param(
            "example\u200d.co.uk123✌.co.uk\u200d.پاکستان",
            [("co.uk", 9, 14)],
            52,
            id="indexOf finds the first copy",
        ),
        pytest.param(
            "see example.comテスト.みんな/path now",
            [("example.com/path", 4, 27)],
            40,
            id="mixed-script host with path",
        ),
        pytest.param("🚓\ufe0f ok", [], 7, id="VS16 after an emoji-presentation emoji is separate"),
    ],
)
def test_upstream_quirks(text: str, urls: list[tuple[str, int, int]], weighted_length: int) -> None:
    """Beyond the upstream data: behaviours found by comparing with twitter-text 3.1.0 (npm) on
    random texts, kept as upstream has them (these values are its output, indices as str indices):
    URLs are found on UTF-16 code units, so an emoji's low surrogate can start a domain."""
    assert [(e.text, e.start, e.end) for e in twitter_text.extract_urls_with_indices(text)] == urls
    assert twitter_text.parse_tweet(text).weighted_length == weighted_length
