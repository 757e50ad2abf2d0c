"""How long a post is, by each platform's own rule.

The rule a platform uses is data on its :class:`~campaign.platforms.PlatformSpec`; this module is the
one place that turns a rule's name into a count.

- ``twitter-text-v3``: X's weighted length (URLs 23, emoji 2, CJK 2), see :mod:`campaign.twitter_text`.
- ``mastodon``: grapheme clusters, with every URL counting 23 and ``@user@domain`` counting as ``@user``
  (what Mastodon's ``StatusLengthValidator`` does).
- ``graphemes``: grapheme clusters (Bluesky's 300).
- ``characters``: Unicode code points (Facebook).
- ``little-text``: Unicode code points of the words as LinkedIn's commentary, every reserved character escaped
  (:mod:`campaign.platforms.little_text`): ``(free)`` counts 8.

A platform may also limit the text's size in UTF-8 bytes (:attr:`PlatformSpec.max_bytes`; Bluesky's
3,000): :func:`utf8_bytes` counts those.
"""

from __future__ import annotations

import regex

from campaign import twitter_text
from campaign.platforms import CountingRule, PlatformSpec, little_text

MASTODON_URL_LENGTH = 23
_MASTODON_REMOTE_MENTION = regex.compile(r"(?<![\w/])(@\w+)@[\w.\-]+\w", regex.UNICODE)


_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """Number of user-perceived characters (extended grapheme clusters)."""
    if text.isascii():
        return len(text) - text.count("\r\n")  # in ASCII only CR LF joins two characters into one
    return len(_GRAPHEME.findall(text))


def utf8_bytes(text: str) -> int:
    """The size of *text* in UTF-8 bytes: 1 for ASCII, 2 to 4 for other characters (a flag emoji is 8)."""
    return len(text.encode("utf-8"))


def count(rule: CountingRule, text: str) -> int:
    """The length of *text* under *rule*."""
    if rule == "twitter-text-v3":
        return twitter_text.parse_tweet(text).weighted_length
    if rule == "graphemes":
        return graphemes(text)
    if rule == "characters":
        return len(text)
    if rule == "mastodon":
        return _mastodon_length(text)
    if rule == "little-text":
        return len(little_text.commentary(text))
    raise ValueError(f"unknown counting rule {rule!r}")


def length(spec: PlatformSpec, text: str) -> int:
    """The length of *text* as *spec*'s platform counts it."""
    return count(spec.counting, text)


def _mastodon_length(text: str) -> int:
    pieces: list[str] = []
    position = 0
    for url in twitter_text.extract_urls_with_indices(text):
        pieces.append(text[position : url.start])
        pieces.append("x" * MASTODON_URL_LENGTH)
        position = url.end
    pieces.append(text[position:])
    countable = _MASTODON_REMOTE_MENTION.sub(r"\1", "".join(pieces))
    return graphemes(countable)
