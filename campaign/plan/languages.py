"""A post's language: a BCP 47 tag (``en-GB``, ``cy``, ``cy-GB``), checked and standardised with langcodes.

Screen readers choose their voice and pronunciation from it, and Mastodon and Bluesky use it to sort
posts for people who read only some languages, so a wrong tag is an error, not a detail: ``Welsh`` or
``en GB`` is refused with what to write instead, and a tag written another way (``en_gb``, ``en-UK``,
``wel``) is kept in its standard form (``en-GB``, ``cy``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import langcodes
from langcodes.tag_parser import LanguageTagError

from campaign.problems import shown

DEFAULT_LANGUAGE = "en-GB"
MAX_TAG_LENGTH = 35
"""The store keeps a post's language in 35 characters (``Post.language``)."""
EXAMPLES = "en-GB (English in the UK), cy (Welsh) or cy-GB"
MAX_WRITTEN = 100
"""The longest text read as a language (a tag, or a language's name to suggest one from): longer is refused
before langcodes reads it, which takes seconds on 100,000 characters."""


@dataclass(frozen=True)
class LanguageProblem:
    message: str
    fix: str
    suggestion: str | None = None
    """The tag that was probably meant (``cy`` for ``Welsh``), where one can be told."""


def standard_language(value: str) -> str | LanguageProblem:
    """*value* as a standard BCP 47 tag, or what is wrong with it and how to fix it."""
    written = value.strip()
    if not written:
        return LanguageProblem("the language is blank",
                               f"write a language tag such as {EXAMPLES}, or remove the key to use "
                               f"{DEFAULT_LANGUAGE}")
    if len(written) > MAX_WRITTEN:
        return LanguageProblem(f"{shown(written)} is too long to be a language tag",
                               f"write a BCP 47 language tag such as {EXAMPLES}")
    if not langcodes.tag_is_valid(written):
        suggestion = _suggestion(written)
        fix = (f"did you mean {suggestion!r} ({describe_language(suggestion)})?" if suggestion
               else f"write a BCP 47 language tag such as {EXAMPLES}")
        return LanguageProblem(f"{shown(written)} is not a language tag", fix, suggestion)
    tag = langcodes.standardize_tag(written)
    language = langcodes.Language.get(tag)
    if language.language in (None, "und") or tag.lower().startswith(("x-", "i-")):
        return LanguageProblem(f"{shown(written)} does not name a language a screen reader can speak",
                               f"write the language the post is written in, such as {EXAMPLES}")
    if len(tag) > MAX_TAG_LENGTH:
        return LanguageProblem(f"the language tag {tag!r} is longer than {MAX_TAG_LENGTH} characters",
                               "leave out the variants and extensions: write the language and region")
    return tag


SEPARATOR = ","
"""Between the tags of a post written in several languages, in order: ``cy,en`` (a bilingual account's post)."""


def tags_of(language: str) -> list[str]:
    """The tags of a post's language: one, or several for a post in several languages (``cy,en``)."""
    return language.split(SEPARATOR)


@functools.lru_cache(maxsize=256)
def describe_language(tag: str) -> str:
    """The language's name in English, for people: ``Welsh``, ``English, United Kingdom``; ``Welsh and
    English`` for a post in both (``cy,en``)."""
    if SEPARATOR in tag:
        return " and ".join(describe_language(one) for one in tags_of(tag))
    try:
        language = langcodes.Language.get(tag)
        names = [language.language_name()]
        if language.script:
            names.append(language.script_name())
        if language.territory:
            names.append(language.territory_name())
        return ", ".join(str(name) for name in names)
    except (LanguageTagError, LookupError, ImportError):  # the names are data; the tag itself is still right
        return tag


def _suggestion(written: str) -> str | None:
    """A valid tag close to what was written, where langcodes can tell: ``Welsh`` → ``cy``, ``en GB`` →
    ``en-GB``, ``en-EN`` → ``en``."""
    respelt = re.sub(r"[\s_./]+", "-", written).strip("-")
    if respelt and langcodes.tag_is_valid(respelt):
        return langcodes.standardize_tag(respelt)
    try:  # a language's name, in English or in itself: "Welsh", "Cymraeg", "British English"
        found = langcodes.Language.find(written)
        return langcodes.standardize_tag(found) if found.is_valid() else None
    except (LookupError, ImportError, LanguageTagError):
        pass
    try:  # keep the parts of the tag that are right: "en-EN" → "en"
        parsed = langcodes.Language.get(respelt or written)
    except LanguageTagError:
        return None
    if parsed.language and langcodes.tag_is_valid(parsed.language):
        kept = langcodes.Language.make(language=parsed.language, script=parsed.script)
        if kept.script is not None and not kept.is_valid():
            kept = langcodes.Language.make(language=parsed.language)
        return langcodes.standardize_tag(kept)
    return None
