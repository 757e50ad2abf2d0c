"""Content checks on a rendered draft: what would embarrass the force, or fail on the platform.

Errors block scheduling: over the platform's limit (in characters, and in UTF-8 bytes where the
platform limits those too), an image without alt text or with too many images, a phone number that is
not one of the plan's verified numbers, a malformed or non-https link, an empty post, the same words
twice on one account less than 12 hours apart (on X, at any distance). Warnings are shown in previews
for a person to weigh: hashtags not in CamelCase (screen readers read ``#seeitshareit`` as one word),
more than two hashtags, more than three emoji, the same words again on one account a day or more later.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import idna
import regex

from campaign import twitter_text
from campaign.plan.languages import SEPARATOR, describe_language, tags_of
from campaign.platforms import PLATFORMS, PlatformSpec
from campaign.platforms.base import comparable_text
from campaign.problems import Problem, Severity

if TYPE_CHECKING:
    from campaign.plan import Phone, Plan
    from campaign.render import Draft

MAX_HASHTAGS = 2
MAX_EMOJI = 3
REPEAT_WINDOW = timedelta(hours=12)
"""Long enough that a post whose fate is unknown is settled (or a person alerted) before the same words go out
again; short enough that a daily post with the same words is fine, even across the night the clocks change."""
"""Two posts of one account with the same words must be at least this far apart: the runner finds a post on
the platform by its account, time and text, and could take one of them for the other."""

# Long numbers: 7 to 15 digits, grouped by spaces, non-breaking spaces or hyphens, not part of a word,
# a date or a larger number.
_LONG_NUMBER = re.compile(r"(?<![\w+/:.,-])\+?\d(?:[ \u00a0-]?\d){6,14}(?![\w/.,:-]?\d)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# UK short numbers that are read as phone numbers wherever they appear.
_SHORT_NUMBER = re.compile(r"(?<![\w.,/:-])(999|112|101|111|105|116 ?\d{3})(?![\w.,/:-]?\d)")
# Anything that starts like a link, up to the next space.
_LINKISH = re.compile(r"(?i)(?<![\w@.])(?:https?:?/{0,3}|www\.)[^\s]+")
_GOOD_LINK = re.compile(r"^https://(?P<host>[^/\s?#:@]+)(?::\d{1,5})?(?:[/?#]\S*)?$", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\"’”"
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")
_GRAPHEME = regex.compile(r"\X")


Finding = tuple[str, str, Severity]
"""What is wrong, how to fix it, and how much it matters."""


def where_of(post_id: str, handle: str, platform: str) -> str:
    """How a problem of one draft says where it is: which post, for which account."""
    return f"post {post_id!r} for {handle} ({platform})"


class Checker:
    """Checks drafts against one plan's verified facts and each platform's rules.

    What depends only on the words (numbers, links, hashtags, emoji) is worked out once per distinct
    text: the same words usually go to several accounts.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.phones = _Phones(plan)
        self._link_of = {version: link.url for link in plan.links.values() for version in link.versions}
        """Each URL of a plan's link (its version in a language too) -> the link: one fact, in every language."""
        self._by_text: dict[str, list[Finding]] = {}
        self._by_words: dict[tuple[str, str], list[Finding]] = {}

    def check(self, draft: Draft) -> list[Problem]:
        """Every problem with *draft*, located at its words' line in the plan."""
        if draft.images:
            findings = self._platform_findings(draft)
            findings += image_findings(draft)
            findings += self._text_findings(draft.text, draft.language)
            alt_texts = "\n".join(image.alt for image in draft.images)
            findings += [(m, f, "error") for m, f in self.phones.problems(_mask_links(alt_texts))]
        else:  # what is wrong with words alone is the same wherever they go on one platform (counted, limited)
            key = (draft.platform, draft.text)
            known = self._by_words.get(key)
            if known is None:
                known = self._by_words[key] = (self._platform_findings(draft)
                                               + self._text_findings(draft.text, draft.language))
            findings = known
        if draft.reply_to is not None and not PLATFORMS[draft.platform].threads:
            label = PLATFORMS[draft.platform].label
            fix = f"leave the {label} account out of this post's `accounts:` (name the others instead of `all`)"
            findings = [*findings, (f"{label} has no threads, so this reply cannot go there", fix, "error")]
        if not findings:
            return []
        where = where_of(draft.post_id, draft.handle, draft.platform)
        return [Problem(draft.file, draft.line, where, message, fix, severity) for message, fix, severity in findings]

    def same_facts(self, texts: Mapping[str, str]) -> list[tuple[str, str]]:
        """What the words of one post in several languages (*texts*: language -> words) do not all say: each
        verified number and each link given in one language and not in another. A Welsh reader must be given
        the same helpline as an English one."""
        facts = {tag: self._facts(text) for tag, text in texts.items()}
        problems = []
        for fact in dict.fromkeys(f for found in facts.values() for f in found):
            lacking = [tag for tag, found in facts.items() if fact not in found]
            if lacking:
                having = [tag for tag in facts if tag not in lacking]
                problems.append((f"the {_names(having)} words give {fact}, the {_names(lacking)} do not",
                                 ("give the same numbers and links in every language (write them as "
                                  "{{ phones.… }} and {{ links.… }} in each)")))
        return problems

    def _facts(self, text: str) -> set[str]:
        """The verified numbers and the links *text* gives, as they are named in a message."""
        found = {f"{phone.number} ({phone.label})" for phone in self.phones.longest_first
                 if phone.number.strip() and _verified_pattern(phone.number).search(text)}
        found.update(self._link_of.get(url.text, url.text) for url in twitter_text.extract_urls_with_indices(text))
        return found

    def _text_findings(self, text: str, language: str) -> list[Finding]:
        languages = language.count(SEPARATOR) + 1  # a bilingual post has each language's hashtags
        cached = self._by_text.get(text) if languages == 1 else None
        if cached is None:
            cached = _text_findings(text, self.plan, self.phones, languages)
            if languages == 1:
                self._by_text[text] = cached
        return cached

    def _platform_findings(self, draft: Draft) -> list[Finding]:
        spec = PLATFORMS[draft.platform]
        found: list[Finding] = []
        if draft.length > draft.limit:
            how = (" (the words as sent: each ( ) [ ] { } < > * _ ~ | @ \\ counts twice and each hashtag 12 more)"
                   if spec.counting == "little-text" else "")
            if SEPARATOR in draft.language:
                how += f", {describe_language(draft.language)} together in one post"
            found.append(((f"it is {draft.length} characters as {spec.label} counts them{how}, over its limit of "
                          f"{draft.limit}"), (f"shorten it by {draft.length - draft.limit}, or give it a "
                          f"{self._variant(draft)} text"), "error"))
        if draft.byte_limit is not None and draft.byte_length > draft.byte_limit:
            over = draft.byte_length - draft.byte_limit
            found.append(((f"it is {draft.byte_length} bytes in UTF-8, over {spec.label}'s limit of "
                          f"{draft.byte_limit} bytes"), (f"shorten it by {over} bytes (emoji take 4 bytes each, "
                          f"flags 8, accented letters 2), or give it a {self._variant(draft)} text"),
                          "error"))
        if len(draft.images) < spec.min_images:
            found.append((f"it has no image, and every {spec.label} post is an image (or up to {spec.max_images})",
                          (f"add `images:` with at least one {' or '.join(_TYPE_NAMES.get(t, t) for t in spec.image_types)}"
                           f" and its alt text, or leave the {spec.label} account out of this post's `accounts:`"),
                          "error"))
        tags = len(twitter_text.extract_hashtags(draft.text))
        if spec.max_hashtags is not None and tags > spec.max_hashtags:
            found.append((f"it has {tags} hashtags; {spec.label} takes at most {spec.max_hashtags}",
                          f"remove {tags - spec.max_hashtags}, or give it a `variants: {{{draft.platform}: …}}` text",
                          "error"))
        if len(draft.images) > spec.max_images:
            found.append((f"it has {len(draft.images)} images; {spec.label} takes at most {spec.max_images}",
                          (f"remove {len(draft.images) - spec.max_images}, or give it a "
                           f"`variants: {{{draft.platform}: {{images: …}}}}` "
                          "with fewer"), "error"))
        for image in draft.images:
            if not image.alt.strip():
                found.append((f"the image {image.path.name!r} has no alt text",
                              "add `alt:` describing what it shows", "error"))
            elif len(image.alt) > spec.max_alt_text:
                both = (f" ({describe_language(draft.language)} together, as one post carries them)"
                        if SEPARATOR in draft.language else "")
                found.append(((f"the alt text of {image.path.name!r} is {len(image.alt):,} characters{both}; "
                              f"{spec.label} takes at most {spec.max_alt_text:,}"),
                              f"shorten it by {len(image.alt) - spec.max_alt_text:,}", "error"))
        return found

    def _variant(self, draft: Draft) -> str:
        """How the plan gives *draft*'s platform words of its own: per language in a plan with languages."""
        if not self.plan.campaign.bilingual:
            return f"`variants: {{{draft.platform}: …}}`"
        languages = ", ".join(f"{tag}: …" for tag in tags_of(draft.language))
        return f"`variants: {{{draft.platform}: {{{languages}}}}}`"


def _text_findings(text: str, plan: Plan, phones: _Phones, languages: int = 1) -> list[Finding]:
    found: list[Finding] = []
    if not text.strip():
        found.append(("the post is empty", "give it some words", "error"))
    if "{{" in text or "{%" in text:
        found.append(("the text still contains template code ('{{' or '{%'), which would be published as written",
                      "template code works in `text:` and templates, not inside `vars:` values; move it there",
                      "error"))
    found += [(m, f, "error") for m, f in phones.problems(_mask_links(text))]
    found += [(m, f, "error") for m, f in _link_problems(text)]
    found += [(m, f, "warning") for m, f in _hashtag_warnings(text, plan, languages)]
    emoji = _emoji_count(text)
    if emoji > MAX_EMOJI:
        found.append((f"it has {emoji} emoji; screen readers read out every one",
                      f"keep at most {MAX_EMOJI}, and none in the middle of a sentence", "warning"))
    return found


def _names(tags: Sequence[str]) -> str:
    return " and ".join(describe_language(tag).split(",")[0] for tag in tags)


def _mask_links(text: str) -> str:
    spans = [(u.start, u.end) for u in twitter_text.extract_urls_with_indices(text)]
    spans += [(m.start(), m.end()) for m in _LINKISH.finditer(text)]
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


class _Phones:
    """A plan's verified numbers, in the forms the checks compare: worked out once per plan."""

    def __init__(self, plan: Plan) -> None:
        phones = list(plan.phones.values())
        self.longest_first = sorted(phones, key=lambda p: len(p.number), reverse=True)
        self.verified = {_normal(p.number): p for p in phones}
        self.by_digits = {re.sub(r"\D", "", p.number): p for p in phones}
        self.known = ", ".join(f"{p.number} ({p.label})" for p in phones) or "none yet"

    def problems(self, text: str) -> list[tuple[str, str]]:
        """Every number in *text* that is not one of the plan's verified numbers exactly as written there.

        A verified number is found as a whole first (so Crimestoppers' ``0800 555 111`` is not read as the
        short number ``111``); the numbers left are read as long numbers, and short ones only where they stand
        alone.
        """
        text = _mask_verified(text, self.longest_first)
        longs = list(_LONG_NUMBER.finditer(text))
        candidates = [(m.start(), m.group(0)) for m in longs if not _ISO_DATE.match(m.group(0))]
        candidates += [(m.start(), m.group(0)) for m in _SHORT_NUMBER.finditer(text)
                       if not any(n.start() <= m.start() < n.end() for n in longs)]
        problems = []
        for _, written in sorted(candidates):
            if _normal(written) in self.verified:
                continue
            same = self.by_digits.get(re.sub(r"\D", "", written))
            if same is not None:
                problems.append((
                    f"the number {written!r} is not written as verified: the {same.label} is {same.number!r}",
                    f"write {{{{ phones.{same.key} }}}} so it is always printed exactly as verified",
                ))
            else:
                problems.append((
                    f"the number {written!r} is not one of the plan's verified numbers",
                    "check it against its source: if it is one of the verified numbers, write it as "
                    "{{ phones.… }}; if it is a new one, checked, add it under facts.phones. Verified numbers: "
                    + self.known,
                ))
        return problems


def _mask_verified(text: str, longest_first: Sequence[Phone]) -> str:
    """*text* with every verified number (*longest_first*), written as verified and standing alone, blanked
    out."""
    for phone in longest_first:
        if phone.number.strip():
            text = _verified_pattern(phone.number).sub(lambda m: " " * len(m.group(0)), text)
    return text


@functools.lru_cache(maxsize=256)
def _verified_pattern(number: str) -> re.Pattern[str]:
    """A verified number as written (a space may be any run of spaces or non-breaking spaces), not joined to
    more digits on either side."""
    body = "".join(r"[ \u00a0]+" if c in " \u00a0" else re.escape(c) for c in _normal(number))
    return re.compile(rf"(?<![\w+])(?<!\d[ \u00a0-]){body}(?![ \u00a0-]?\d)(?!\w)")


def _normal(number: str) -> str:
    return re.sub(r"[ \u00a0]+", " ", number.strip())


def _link_problems(text: str) -> list[tuple[str, str]]:
    problems = []
    seen: set[str] = set()
    for match in _LINKISH.finditer(text):
        link = match.group(0).rstrip(_TRAILING_PUNCTUATION)
        seen.add(link)
        problem = _link_problem(link)
        if problem:
            problems.append(problem)
    for entity in twitter_text.extract_urls_with_indices(text):
        if any(entity.text in link or link in entity.text for link in seen):
            continue
        problems.append((f"{entity.text!r} will be shown as a link without https://",
                         f"write it in full as 'https://{entity.text}', or reword it if it is not a link"))
    return problems


@functools.lru_cache(maxsize=1024)
def _link_problem(link: str) -> tuple[str, str] | None:
    if link.lower().startswith("http://"):
        return (f"the link {link!r} is not https", "use the https:// address; check that it opens")
    if link.lower().startswith("www."):
        return (f"{link!r} is not a full link", f"write it in full as 'https://{link}'")
    match = _GOOD_LINK.match(link)
    if match is None:
        return (f"the link {link!r} is malformed", "write it in full as https://host/path, with no spaces")
    host = match["host"].rstrip(".")
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return (f"the link {link!r} has an invalid host {host!r}", "check the spelling of the address")
    if "." not in ascii_host or not re.fullmatch(r"[a-z0-9.-]+\.(xn--[a-z0-9-]+|[a-z]{2,})", ascii_host.lower()):
        return (f"the link {link!r} has an invalid host {host!r}", "check the spelling of the address")
    return None


def _hashtag_warnings(text: str, plan: Plan, languages: int = 1) -> list[tuple[str, str]]:
    """Hashtags not in their accessible form, and too many of them (*languages*: how many languages the text is
    in, each with its own)."""
    tags = twitter_text.extract_hashtags(text)
    known = {tag.lower(): tag for tag in plan.campaign.all_hashtags}
    warnings = []
    for tag in dict.fromkeys(tags):
        display = known.get(tag.lower())
        if display is not None and display != tag:
            warnings.append((f"#{tag} is not written in its accessible form #{display}",
                             f"write #{display}: screen readers read each capitalised word separately"))
        elif display is None and not _camel_case(tag):
            warnings.append((f"#{tag} is not in CamelCase, so screen readers cannot tell its words apart",
                             "capitalise the first letter of each word in it, as in #SeeItShareIt"))
    if len(tags) > MAX_HASHTAGS * languages:
        most = MAX_HASHTAGS * languages
        warnings.append((f"it has {len(tags)} hashtags; more than {most} make a post harder to read",
                         "keep the ones that matter, e.g. the campaign's " +
                         " ".join(f"#{t}" for t in plan.campaign.hashtags)))
    return warnings


def _camel_case(tag: str) -> bool:
    letters = [c for c in tag if c.isalpha()]
    if not letters or not any(c.isupper() or c.islower() for c in letters):
        return True  # scripts without case
    return letters[0].isupper() and not (len(letters) > 4 and all(c.isupper() for c in letters))


def _emoji_count(text: str) -> int:
    if _EMOJI.search(text) is None:
        return 0
    return sum(1 for cluster in _GRAPHEME.findall(text) if _EMOJI.search(cluster))


def repeated_texts(drafts: Sequence[Draft]) -> dict[str, list[Problem]]:
    """Problems for posts that repeat an earlier post's words on the same account, by draft key.

    - Less than :data:`REPEAT_WINDOW` (12 hours) after a post with the same words (compared as
      :func:`~campaign.platforms.base.comparable_text`, the form a lookup compares), on any platform: an
      error. The runner finds a post on the platform by its text, and could take one for the other.
    - On X, the exact same text at any distance: an error, as X refuses a post identical to a recent one.
    - Elsewhere, the exact same text a day or more later: a warning (followers see the same words twice).
    """
    seen: dict[tuple[str, str], list[Draft]] = {}
    found: dict[str, list[Problem]] = {}
    comparable: dict[str, str] = {}  # the same words usually go to several accounts
    for draft in sorted(drafts, key=lambda d: d.when.utc):
        if not draft.text:
            continue
        words = comparable.get(draft.text)
        if words is None:
            words = comparable[draft.text] = comparable_text(draft.text)
        earlier = seen.setdefault((draft.account, words), [])
        if not earlier:
            earlier.append(draft)
            continue
        problem = _repeat_problem(draft, earlier)
        earlier.append(draft)
        if problem is not None:
            found[draft.key] = [problem]
    return found


def _repeat_problem(draft: Draft, earlier: list[Draft]) -> Problem | None:
    where = where_of(draft.post_id, draft.handle, draft.platform)
    if draft.when.utc - earlier[-1].when.utc < REPEAT_WINDOW:
        last = earlier[-1]
        fix = ("change the words of one (e.g. add the day with {{ when | day }}) or move one so they are "
               "at least 12 hours apart: the runner finds a post on the platform by its text, and could take "
               "one for the other")
        if draft.platform == "x" and draft.text == last.text:
            fix += "; on X moving it is not enough, as X refuses a post identical to a recent one"
        return Problem(
            draft.file, draft.line, where,
            f"{draft.key} at {draft.when.label()} has the same text as {last.key} at {last.when.label()}, "
            f"{_apart(draft.when.utc - last.when.utc)} on one account",
            fix,
        )
    same = next((e for e in earlier if e.text == draft.text), None)
    if same is None:
        return None
    severity: Severity = "error" if draft.platform == "x" else "warning"
    return Problem(
        draft.file, draft.line, where,
        f"its text is exactly the same as {same.key} at {same.when.label()}",
        "vary the words (a daily post can use {{ when | day }} or a different opening each day)"
        + ("; X refuses a post identical to a recent one" if severity == "error" else ""),
        severity,
    )


def _apart(gap: timedelta) -> str:
    """``at the same time``, ``only 45 minutes apart``, ``only 23 hours 30 minutes apart``."""
    hours, minutes = divmod(int(gap.total_seconds() // 60), 60)
    if not hours and not minutes:
        return "at the same time"
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return f"only {' '.join(parts)} apart"


# -- images -----------------------------------------------------------------------------------------------------

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
_TYPE_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}


@dataclass(frozen=True)
class ImageFacts:
    """What an image file really is, read from its bytes."""

    size: int
    """In bytes."""
    mime_type: str | None
    """None if it is not an image of a type a plan may use (or cannot be read)."""
    width: int = 0
    height: int = 0
    unreadable: str | None = None
    """Why it cannot be read as an image, if it cannot."""


def image_facts(path: Path) -> ImageFacts:
    """The size, real type and dimensions of the image at *path*, read once per version of the file."""
    stat = path.stat()
    return _image_facts(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _image_facts(path: Path, mtime_ns: int, size: int) -> ImageFacts:
    from PIL import Image, UnidentifiedImageError  # only plans with images need Pillow

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                kind = image.format
                image.verify()  # checksums and structure, without decoding the pixels
    except Image.DecompressionBombError:
        return ImageFacts(size, None, unreadable="it has more pixels than any platform takes")
    except UnidentifiedImageError:
        return ImageFacts(size, None, unreadable="it is not an image file (or not one of a type Pillow reads)")
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or damaged (Pillow raises all three)
        return ImageFacts(size, None, unreadable=f"it is damaged ({exc})")
    return ImageFacts(size, _FORMATS.get(kind or ""), width, height,
                      None if kind in _FORMATS else f"it is a {kind} image, not a PNG, JPEG, GIF or WebP")


def image_findings(draft: Draft) -> list[Finding]:
    """Each image of *draft* against its platform's limits (size, type, pixels), and against what its name
    says it is: found at `validate`, not when the platform refuses the upload."""
    spec = PLATFORMS[draft.platform]
    found: list[Finding] = []
    for image in draft.images:
        name = image.path.name
        try:
            facts = image_facts(image.path)
        except OSError as exc:
            found.append((f"the image {name!r} cannot be read: {exc.strerror or exc}",
                          "check that the file is there and readable", "error"))
            continue
        declared = _TYPE_NAMES.get(image.mime_type, image.mime_type)
        if facts.mime_type is None:
            found.append((f"the image {name!r} cannot be used: {facts.unreadable}",
                          f"export it again as a {declared}", "error"))
            continue
        if facts.mime_type != image.mime_type:
            actual = _TYPE_NAMES[facts.mime_type]
            found.append((f"the image {name!r} is named as a {declared} but is a {actual} file",
                          f"rename it to end in .{actual.lower().replace('jpeg', 'jpg')}, or save it as a {declared}",
                          "error"))
        if facts.mime_type not in spec.image_types:
            found.append((f"{spec.label} does not take {_TYPE_NAMES[facts.mime_type]} images ({name!r})",
                          ("save it as " + " or ".join(_TYPE_NAMES.get(t, t) for t in spec.image_types)
                           + f", or give the post a `variants: {{{draft.platform}: {{images: …}}}}` with such a file"),
                          "error"))
        if spec.max_image_bytes is not None and facts.size > spec.max_image_bytes:
            found.append(((f"the image {name!r} is {_megabytes(facts.size)} ({facts.size:,} bytes); {spec.label} takes "
                          f"at most {_megabytes(spec.max_image_bytes)} ({spec.max_image_bytes:,} bytes)"),
                          (f"make it smaller (fewer pixels{'' if facts.mime_type == 'image/jpeg' else ', or as a JPEG'}), "
                           f"or give the post a "
                          f"`variants: {{{draft.platform}: {{images: …}}}}` with a smaller file"), "error"))
        found += _pixel_findings(spec, name, facts)
    return found


def _pixel_findings(spec: PlatformSpec, name: str, facts: ImageFacts) -> list[Finding]:
    pixels = facts.width * facts.height
    fix = "save it at fewer pixels"
    if spec.max_image_side is not None and max(facts.width, facts.height) > spec.max_image_side:
        return [((f"the image {name!r} is {facts.width}×{facts.height} pixels; {spec.label} takes at most "
                 f"{spec.max_image_side}×{spec.max_image_side}"), fix, "error")]
    limit = spec.max_gif_pixels if facts.mime_type == "image/gif" and spec.max_gif_pixels else spec.max_image_pixels
    if limit is not None and pixels > limit:
        what = "GIFs of" if limit == spec.max_gif_pixels else "images of"
        return [((f"the image {name!r} is {facts.width}×{facts.height} ({pixels:,} pixels); {spec.label} takes "
                 f"{what} at most {limit:,} pixels"), fix, "error")]
    if spec.aspect_ratios is not None and facts.height:
        narrowest, widest = spec.aspect_ratios
        if not narrowest <= facts.width / facts.height <= widest:
            return [((f"the image {name!r} is {facts.width}×{facts.height} pixels ({facts.width / facts.height:.2f} "
                     f"times as wide as tall); {spec.label} takes images from {narrowest:g} to {widest:g} times as "
                     "wide as tall"), "crop it (a square or 4:5 portrait always fits), or give the post a "
                     f"`variants: {{{spec.name}: {{images: …}}}}` with another", "error")]
    return []


def _megabytes(size: int) -> str:
    """``7.7 MB``; a limit set in binary megabytes (5 × 1024 × 1024) as the platform states it, ``5 MB``."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 100_000:
        return f"{size / 1_000_000:.1f}".rstrip("0").rstrip(".") + " MB"
    return f"{size / 1000:.0f} KB"
