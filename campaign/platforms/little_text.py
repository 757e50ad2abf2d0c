"""LinkedIn's "little text": the format of a post's ``commentary``.

In commentary these characters are markup: ``\\ | { } @ [ ] ( ) < > # * _ ~``. LinkedIn's documentation: "All
reserved characters need to be escaped with a backslash, even if those characters are not used in one of the
supported elements or templates." One that is not escaped is not refused: the API answers 201, and the page
shows the post cut just before it (reported again and again for a ``(``: "Va al repo (durable)" published as
"Va al repo "), losing the helpline number and the link that followed.

So :func:`commentary` escapes every reserved character, except the markup meant as such: each hashtag (as the
checks find them, with twitter-text's rules) is sent as LinkedIn's hashtag template ``{hashtag|\\#|Tag}``, the
form LinkedIn itself gives back. Links are escaped like the rest of the text, as the documentation asks (no
exception is documented for them; LinkedIn shows the characters without their backslashes). :func:`shown` is
the other direction: what the page shows for a commentary, cut where LinkedIn cuts it. The sandbox shows posts
with it, so a post that reads correctly in the preview reads the same there, and a lookup compares it with the
words that were sent.
"""

from __future__ import annotations

import re

from campaign import twitter_text

RESERVED = frozenset("\\|{}@[]()<>#*_~")
"""The characters that are markup in little text."""
_ESCAPE = re.compile(r"([\\|{}@\[\]()<>#*_~])")
_TEMPLATE = r"\{hashtag\|(?:\\#|#|＃)\|((?:\\.|[^\\|{}@\[\]()<>#*~])+)\}"
"""A hashtag template, its tag as group 1 (the sign may be written #, \\# or the full-width ＃)."""
_HASHTAG_TEMPLATE = re.compile(_TEMPLATE)
_MENTION = re.compile(r"@\[((?:\\.|[^\\\]])+)\]\s?\((urn:li:(?:person|organization):[^)\s]+)\)")
_BARE_HASHTAG = re.compile(r"#(\w+)")
_HASHTAGS_OR_ESCAPES = re.compile(rf"(\\.)|{_TEMPLATE}|#(\w+)")


def escape(text: str) -> str:
    """*text* with every reserved character escaped: plain text whatever it holds."""
    return _ESCAPE.sub(r"\\\1", text)


def commentary(text: str) -> str:
    """*text* as LinkedIn commentary: its hashtags as hashtag templates, everything else escaped."""
    pieces: list[str] = []
    position = 0
    for tag in twitter_text.extract_hashtags_with_indices(text):
        pieces.append(escape(text[position : tag.start]))
        pieces.append("{hashtag|\\#|" + escape(text[tag.start + 1 : tag.end]) + "}")
        position = tag.end
    pieces.append(escape(text[position:]))
    return "".join(pieces)


def shown(commentary_text: str) -> str:
    """What LinkedIn's page shows for *commentary_text*: escapes undone, hashtag templates and bare hashtags as
    ``#Tag``, mentions as the name, and nothing from the first reserved character that starts none of these."""
    out: list[str] = []
    position, end = 0, len(commentary_text)
    while position < end:
        char = commentary_text[position]
        if char == "\\" and position + 1 < end:
            out.append(commentary_text[position + 1])
            position += 2
            continue
        if char not in RESERVED:
            out.append(char)
            position += 1
            continue
        if char == "{" and (found := _HASHTAG_TEMPLATE.match(commentary_text, position)):
            out.append("#" + _unescaped(found.group(1)))
        elif char == "@" and (found := _MENTION.match(commentary_text, position)):
            out.append(_unescaped(found.group(1)))
        elif char == "#" and (found := _BARE_HASHTAG.match(commentary_text, position)):
            out.append(found.group(0))
        else:
            break  # a reserved character that starts nothing: LinkedIn shows the post cut here
        position = found.end()
    return "".join(out)


def as_stored(commentary_text: str) -> str:
    """*commentary_text* as LinkedIn gives it back when it is read: every hashtag, bare or templated, in the
    template form with an escaped sign (``{hashtag|\\#|Tag}``), everything else as sent."""

    def one(match: re.Match[str]) -> str:
        return match[1] or "{hashtag|\\#|" + (match[2] or match[3]) + "}"

    return _HASHTAGS_OR_ESCAPES.sub(one, commentary_text)


def _unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)
