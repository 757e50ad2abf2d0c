"""twitter-text's own conformance cases, run against :mod:`campaign.twitter_text`.

The YAML files in ``tests/conformance/twitter-text/`` are copied unchanged from
twitter/twitter-text (Apache License 2.0). Every case of the sections used here is run; none is
skipped or filtered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from campaign import twitter_text

CONFORMANCE = Path(__file__).parent / "conformance" / "twitter-text"


def _load(name: str) -> dict[str, list[dict[str, Any]]]:
    data = YAML(typ="safe").load((CONFORMANCE / name).read_text(encoding="utf-8"))
    tests: dict[str, list[dict[str, Any]]] = data["tests"]
    return tests


VALIDATE = _load("validate.yml")
EXTRACT = _load("extract.yml")


def _cases(section: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(case, id=case["description"]) for case in section]


@pytest.mark.parametrize("case", _cases(VALIDATE["WeightedTweetsWithDiscountedEmojiCounterTest"]))
def test_weighted_length_v3(case: dict[str, Any]) -> None:
    """parse_tweet gives exactly twitter-text v3's weighted length, validity, permillage and
    UTF-16 display/valid ranges (URLs 23, emoji sequences 2, CJK 2, NFC normalisation)."""
    result = twitter_text.parse_tweet(case["text"])
    expected = case["expected"]
    assert {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range_start,
        "displayRangeEnd": result.display_range_end,
        "validRangeStart": result.valid_range_start,
        "validRangeEnd": result.valid_range_end,
    } == expected


@pytest.mark.parametrize("case", _cases(VALIDATE["UnicodeDirectionalMarkerCounterTest"]))
def test_directional_markers_and_invalid_characters(case: dict[str, Any]) -> None:
    """parse_tweet treats U+FFFE/U+FEFF/U+FFFF as invalid (valid range stops before the first)
    and bidi markers such as U+202A/U+2066 as valid, as current twitter-text does."""
    result = twitter_text.parse_tweet(case["text"])
    expected = case["expected"]
    assert {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range_start,
        "displayRangeEnd": result.display_range_end,
        "validRangeStart": result.valid_range_start,
        "validRangeEnd": result.valid_range_end,
    } == expected


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
