"""Reading the ``posts:`` list of a plan: what each post says, where it goes and when."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign.plan import bilingual
from campaign.plan.model import (
    CAMPAIGN_DAYS_MAX,
    IMAGE_TYPES,
    Account,
    Campaign,
    Content,
    Event,
    Image,
    Occurrence,
    PostEntry,
    file_name_problem,
)
from campaign.plan.paths import campaign_folder, outside_problem
from campaign.platforms import PLATFORMS
from campaign.problems import brief, shown
from campaign.times import (
    ScheduledTime,
    TimeProblem,
    daily,
    parse_clock,
    parse_date,
    parse_local,
    parse_offset,
)
from campaign.yamlfile import (
    BlockText,
    LongNumber,
    Section,
    YamlList,
    YamlMap,
    describe,
    did_you_mean,
    is_blank,
    seq_items,
)

if TYPE_CHECKING:
    from campaign.plan.loader import Loader

TEXT = str
MAP = YamlMap
LIST = YamlList
TIME = (str, date)
ACCOUNTS = (str, YamlList)

CONTENT_KEYS: dict[str, type | tuple[type, ...]] = {
    "text": TEXT, "template": TEXT, "vars": MAP, "images": LIST, "hashtags": bool,
}
POST_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": TEXT, **CONTENT_KEYS, "accounts": ACCOUNTS, "platforms": LIST, "at": TIME, "event": TEXT,
    "daily": TEXT, "from": TIME, "until": TIME, "variants": MAP, "reply_to": TEXT, "author": TEXT,
    "language": TEXT,
}
POST_HINTS = {
    "id": "an id such as 'week-launch'",
    "text": "the post's words",
    "template": "the name of a template in the templates folder, such as launch.j2",
    "vars": "`name: value` lines for the template, indented under it",
    "images": "a list of images, each `- file: …` with `alt: …`",
    "hashtags": "true or false",
    "accounts": "a list of account ids such as [lancs-x], or `all`",
    "platforms": "a list of platforms such as [x, facebook]",
    "at": "a time such as '2027-03-15 09:00', or with `event:` one such as '-1d 18:00'",
    "event": "the id of an event under `events:`",
    "daily": "a time of day such as '12:30'",
    "from": "a date such as 2027-03-15",
    "until": "a date such as 2027-03-21",
    "variants": "per-platform changes, such as `x: {template: short.j2}`",
    "reply_to": "the id of the post it replies to",
    "author": "who wrote the post",
}
IMAGE_HINTS = {
    "file": "the image's file, relative to the plan's folder, such as images/guide.png",
    "alt": "what the image shows, for people using screen readers",
}
_HASHTAGS = re.compile(r"#\w+")


def has_own_words(text: str) -> bool:
    """Whether *text* says anything besides hashtags: a letter, a digit or a symbol (an emoji counts)."""
    return any(unicodedata.category(c)[0] in "LNS" for c in _HASHTAGS.sub("", text))


class PostReader:
    """Reads the posts. A post that cannot be loaded is reported once, where the mistake is, and never again
    through what names it: a post naming an account or event that is written but could not be loaded (reported
    under `accounts:` or `events:`) skips that account, or is left out if timed by that event, without a message
    of its own; a reply to a post left out is left out silently too. The first mistake already stops the plan,
    and fixing it brings back everything that hung on it."""

    def __init__(self, loader: Loader, campaign: Campaign, accounts: dict[str, Account],
                 events: dict[str, Event]) -> None:
        self.loader = loader
        self.report = loader.report
        self.campaign = campaign
        self.accounts = accounts
        self.events = events
        self.written: dict[str, int] = {}
        """The id of every post written in the plan, with the line of the post that has it (the first)."""
        self.failed: set[str] = set()
        """The ids of posts written in the plan that were not loaded: each failed with a problem reported."""
        self._failed_platforms: set[str | None] = set()
        """For the post being read: the platforms (None: not known) of accounts it names that failed to load."""
        # Answers that depend only on what is written, worked out once per plan: thousands of posts name the
        # same few templates, and many share a time.
        self._template_problems: dict[str, tuple[str, str] | None] = {}
        self._times: dict[tuple[Any, str | None], ScheduledTime | TimeProblem] = {}
        self._good_targets: set[tuple[str, ...]] = set()
        """Lists of accounts read without a problem (each a loaded account, named once): the same list in
        another post needs no second reading."""
        self.keys = {**POST_KEYS, **bilingual.post_keys(campaign.languages)} if campaign.bilingual else POST_KEYS
        """The keys a post may have: in a plan with languages, one per language and `without:` too."""
        self.hints = {**POST_HINTS, **bilingual.post_hints(campaign.languages)} if campaign.bilingual else POST_HINTS

    def read(self, value: Any) -> tuple[PostEntry, ...]:
        if not isinstance(value, YamlList):
            return ()
        posts: dict[str, PostEntry] = {}
        first_lines = self.written
        for index, item, line in seq_items(value):
            post_id = item.get("id") if isinstance(item, YamlMap) else None
            named = post_id if isinstance(post_id, str) and not is_blank(post_id) else None
            where = f"posts[{index + 1}] ({brief(named)})" if named else f"posts[{index + 1}]"
            section = Section.of(item, where, line, self.report, self.keys, required=("id",), hints=self.hints,
                                 own_blank=("language",))
            if section is None or not isinstance(section.get("id"), str) or not isinstance(post_id, str):
                continue
            if post_id in first_lines:
                self.report.error(section.value_line("id"), where, f"the id {post_id!r} is used twice "
                                  f"(first on line {first_lines[post_id]})", "give each post its own id")
                continue
            first_lines[post_id] = line
            if not self.loader.check_id(post_id, section.value_line("id"), where):
                self.failed.add(post_id)
                continue
            post = self._post(section, post_id, line)
            if post is None:
                self.failed.add(post_id)
            else:
                posts[post_id] = post
        self._check_replies(posts)
        return tuple(posts.values())

    def _post(self, section: Section, post_id: str, line: int) -> PostEntry | None:
        if self.campaign.bilingual:
            return self._post_in_languages(section, post_id, line)
        accounts = self._targets(section)
        content = self._content(section, required=True)
        variants = self._variants(section, accounts)
        occurrences = self._occurrences(section)
        # A wrong language is reported; the post is still rendered and checked (in the campaign's language).
        language = self.loader.language(section)
        author = self.loader.text(section, "author")
        if content is None or not accounts or not occurrences:
            return None
        self._passed(section, occurrences)
        return PostEntry(post_id, line, accounts, content, variants, occurrences, section.get("event"),
                         section.get("reply_to"), author, language or self.campaign.language)

    def _post_in_languages(self, section: Section, post_id: str, line: int) -> PostEntry | None:
        """A post of a plan with languages: its words per language, and the accounts it goes to with their
        partners (:mod:`campaign.plan.bilingual`)."""
        languages = self.campaign.languages
        misplaced = [key for key in ("text", "template", "images", "language") if section.written(key)]
        sections = " and ".join(f"`{tag}:`" for tag in languages)
        for key in misplaced:
            if key == "language":
                message, fix = ("in a plan with languages, a post's language is where its words are",
                                f"remove `language:`, and write the words under {sections}")
            elif key == "images":
                message, fix = ("in a plan with languages, a post's images go under each language",
                                f"move `images:` under {sections}, each image with alt text in that language")
            else:
                message, fix = ("in a plan with languages, a post's words go under each language",
                                f"move `{key}:` under {sections}, each language with its own words")
            self.report.error(section.key_line(key), section.sub(key), message, fix)
        if misplaced:
            return None
        accounts = self._targets(section)
        shared = self._content(section, required=False)
        written = bilingual.language_sections(section.data, languages)
        words: dict[str, Content] = {}
        for tag, (key, value) in written.items():
            if key not in section:
                continue  # blank: reported (and the post is left out, as its words are missing)
            own = Section.of(value, section.sub(key), section.key_line(key), self.report, CONTENT_KEYS,
                             hints=POST_HINTS)
            content = self._content(own, required=True) if own is not None else None
            if content is not None and shared is not None:
                words[tag] = shared.merged(content)
        without = bilingual.without_reasons(self.loader, section, languages, written)
        variants = self._language_variants(section, tuple(written))
        occurrences = self._occurrences(section)
        author = self.loader.text(section, "author")
        if without is None or len(words) < len(written) or variants is None or not accounts or not occurrences:
            return None
        images = bilingual.images_problem(words)
        if images is not None:
            self.report.error(section.line, section.where, *images)
            return None
        accounts = self._with_partners(section, accounts, words)
        if not accounts:
            return None
        self._passed(section, occurrences)
        first = next(iter(words))
        return PostEntry(post_id, line, accounts, words[first], {}, occurrences, section.get("event"),
                         section.get("reply_to"), author, first, words, variants, without)

    def _with_partners(self, section: Section, accounts: tuple[str, ...], words: dict[str, Content]
                       ) -> tuple[str, ...]:
        """*accounts* with each one's partner, and without the accounts whose languages the post has no words
        in: a partner or an account chosen by `all` or `platforms:` is left out (the post's `without:` says
        why); an account named in `accounts:` is a mistake (reported)."""
        written = section.get("accounts") if section.written("accounts") else None
        named = {written} if isinstance(written, str) else set(written or ())
        chosen: list[str] = []
        for account_id in accounts:
            account = self.accounts[account_id]
            for candidate in (account_id, account.pair):
                if candidate is None or candidate in chosen:
                    continue
                if any(tag in words for tag in self.accounts[candidate].languages):
                    chosen.append(candidate)
                elif candidate in named:
                    languages = " or ".join(bilingual.name(t) for t in self.accounts[candidate].languages)
                    self.report.error(section.value_line("accounts"), section.sub("accounts"),
                                      f"it goes to {candidate!r}, which posts in {languages}, and has no "
                                      f"{languages} words", f"remove {candidate!r} from the post's accounts, or "
                                      f"give the post its {languages} words")
                    return ()
        return tuple(chosen)

    def _language_variants(self, section: Section, languages: tuple[str, ...]
                           ) -> dict[tuple[str, str], Content] | None:
        """Per-platform changes in a plan with languages: `variants: {x: {cy: {template: …}, en: {…}}}`, with
        `vars:` and `hashtags:` for every language beside them. None if one is wrong (reported)."""
        value = section.get("variants")
        if not isinstance(value, YamlMap):
            return {}
        allowed: dict[str, type | tuple[type, ...]] = {"vars": MAP, "hashtags": bool,
                                                       **bilingual.post_keys(self.campaign.languages)}
        del allowed["without"]
        top = Section(value, section.sub("variants"), self.report, {name: MAP for name in PLATFORMS}, blanks=False)
        variants: dict[tuple[str, str], Content] = {}
        for platform, item, line in top.items():
            variant = Section.of(item, top.sub(platform), line, self.report, allowed, hints=POST_HINTS)
            if platform not in PLATFORMS or variant is None:
                continue
            shared = self._content(variant, required=False)
            if shared is None:
                return None
            sections = bilingual.language_sections(variant.data, self.campaign.languages)
            for tag in languages:
                own = None
                key = sections[tag][0] if tag in sections else None
                if key is not None and key in variant:
                    own_section = Section.of(variant.data[key], variant.sub(key), variant.key_line(key), self.report,
                                             CONTENT_KEYS, hints=POST_HINTS)
                    own = self._content(own_section, required=False) if own_section is not None else None
                    if own is None:
                        return None
                variants[(platform, tag)] = shared.merged(own)
        return variants

    # -- where --------------------------------------------------------------------------------------

    def _targets(self, section: Section) -> tuple[str, ...]:
        self._failed_platforms = set()
        where = section.where
        if section.written("accounts") and section.written("platforms"):
            self.report.error(section.key_line("platforms"), where, "both 'accounts' and 'platforms' are given",
                              "keep one: 'accounts' names accounts, 'platforms' means every account on them")
            return ()
        if not section.written("accounts") and not section.written("platforms"):
            self.report.error(section.line, where, "it does not say where to post",
                              "add `accounts: [account-id, …]`, `accounts: all` or `platforms: [x, …]`")
            return ()
        if section.written("platforms"):
            return self._platforms(section)
        value = section.get("accounts")
        if value is None or not self.loader.accounts_known:  # reported: blank, the wrong kind, or no accounts
            return ()
        if value == "all":
            self._failed_platforms = set(self.loader.failed_accounts.values())
            return tuple(self.accounts)
        if isinstance(value, str):
            line = section.value_line("accounts")
            value = YamlList(line)
            value.append(section.get("accounts"))
            value.item_lines.append(line)
        if all(type(name) is str for name in value) and (listed := tuple(value)) in self._good_targets:
            return listed  # this very list was read before without a problem
        chosen: list[str] = []
        named: set[str] = set()
        failed = self.loader.failed_accounts
        for name, line in self._names(section, "accounts", value, "an account id", "account"):
            if name in named:
                self.report.error(line, f"{where}.accounts", f"the account {name!r} is listed twice",
                                  "list each account once")
                continue
            named.add(name)
            if name in failed:  # written under `accounts:` but not loaded (reported there): skipped silently
                self._failed_platforms.add(failed[name])
            elif name in self.accounts:
                chosen.append(name)
            else:
                self.report.error(line, f"{where}.accounts", f"there is no account {shown(name)}",
                                  did_you_mean(name, list(self.accounts), "the accounts are") if self.accounts
                                  else "add it under `accounts:`")
        if chosen and len(chosen) == len(value):  # every item an account, once: nothing to report
            self._good_targets.add(tuple(chosen))
        return tuple(chosen)

    def _platforms(self, section: Section) -> tuple[str, ...]:
        where = section.where
        value = section.get("platforms")
        if value is None or not self.loader.accounts_known:  # reported: blank, the wrong kind, or no accounts
            return ()
        chosen: list[str] = []
        named: set[str] = set()
        for name, line in self._names(section, "platforms", value, "a platform", "platform"):
            item_where = f"{where}.platforms"
            if name in named:
                self.report.error(line, item_where, f"the platform {name!r} is listed twice", "list each platform once")
                continue
            named.add(name)
            if name not in PLATFORMS:
                self.report.error(line, item_where, f"there is no platform {shown(name)}",
                                  did_you_mean(name, list(PLATFORMS), "the platforms are"))
                continue
            matching = [a.id for a in self.accounts.values() if a.platform == name]
            # An account that failed to load (reported) may be this platform's: it is not reported again here.
            failed = {p for p in self.loader.failed_accounts.values() if p in (name, None)}
            self._failed_platforms |= failed
            if not matching and not failed:
                self.report.error(line, item_where, f"the plan has no {name} account",
                                  f"add one under `accounts:` with `platform: {name}`, or remove {name} here")
            chosen.extend(matching)
        return tuple(chosen)

    def _names(self, section: Section, key: str, value: YamlList, what: str, noun: str) -> list[tuple[str, int]]:
        """The names listed at *key* (accounts or platforms), each with its line; anything that is not a name
        (blank, a number, a list) is reported, and an empty list too."""
        where = f"{section.where}.{key}"
        if not value:
            self.report.error(section.value_line(key), where, f"the list of {key} is empty",
                              f"list at least one {noun}, or remove the post")
            return []
        names = []
        for index, name, line in seq_items(value):
            if is_blank(name):
                self.report.error(line, where, f"item {index + 1} is blank", f"write {what}, or remove the item")
            elif not isinstance(name, str):
                self.report.error(line, where, f"expected {what}, found {describe(name)}", f"write {what}")
            else:
                names.append((name, line))
        return names

    # -- what ---------------------------------------------------------------------------------------

    def _content(self, section: Section, required: bool) -> Content | None:
        where = section.where
        has_text, has_template = section.written("text"), section.written("template")
        if has_text and has_template:
            self.report.error(section.key_line("template"), where, "both 'text' and 'template' are given",
                              "keep one: 'text' for words written here, 'template' for a file in posts/")
            return None
        if required and not (has_text or has_template):
            self.report.error(section.line, where, "it has no words",
                              "add `text: …` or `template: name.j2` (a file in the templates folder)")
            return None
        if section.blank & {"text", "template", "vars", "images", "hashtags"}:
            return None  # reported: a blank is never read as "not set"
        template = section.get("template")
        if template is not None and not self._template_exists(template, section.value_line("template"), where):
            return None
        text = section.get("text")
        if has_text and text is None:
            return None  # not text: reported
        if text is not None and "{" not in text and not has_own_words(text):
            self.report.error(section.value_line("text"), f"{where}.text", "the post has no words of its own, "
                              "only hashtags or punctuation", "write what the post says; the campaign's hashtags "
                              "are added to it")
            return None
        variables = self._vars(section)
        if variables is None:
            return None
        images = self._images(section) if "images" in section else None
        words_key = "text" if has_text else "template"
        return Content(
            text=text,
            template=template,
            images=images,
            vars=variables,
            hashtags=section.get("hashtags"),
            line=section.value_line(words_key) if words_key in section else section.line,
            text_starts_below=isinstance(section.data.get("text"), BlockText),
        )

    def _vars(self, section: Section) -> dict[str, Any] | None:
        """The template's variables; None if any would print as "None" or nothing (reported)."""
        value: YamlMap = section.get("vars", YamlMap())
        ok = True
        for name, item in value.items():
            problem = _unprintable(item)
            if problem is not None:
                ok = False
                line = value.value_lines.get(name) or value.key_lines.get(name, value.line)
                self.report.error(line, f"{section.sub('vars')}.{brief(str(name))}",
                                  f"the template variable {shown(name)} {problem}",
                                  "give it a value, or remove it and the place the template uses it")
        return dict(value) if ok else None

    def _template_exists(self, name: str, line: int, where: str) -> bool:
        """Whether the template *name* can be used; if not, the problem is reported at *line* (unless it is the
        templates folder's, reported there). Each name is looked up once per plan."""
        if name not in self._template_problems:
            self._template_problems[name] = self._template_problem(name)
        problem = self._template_problems[name]
        if problem is None:
            return True
        if problem is not _FOLDER_REPORTED:
            self.report.error(line, f"{where}.template", *problem)
        return False

    def _template_problem(self, name: str) -> tuple[str, str] | None:
        """What is wrong with the template *name* (:data:`_FOLDER_REPORTED` if the folder is), if anything."""
        problem = file_name_problem(name)
        if problem is not None:
            return problem, "write the name of a .j2 file in the templates folder"
        folder = self.campaign.templates
        if self._outside(folder, "the templates folder", str(folder)) is not None:
            return _FOLDER_REPORTED  # reported at campaign.templates
        refused = self._outside(folder / name, "the template", name)
        if refused is not None:
            return refused
        if (folder / name).is_file():
            return None
        known = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.j2")) if folder.is_dir() else []
        fix = did_you_mean(name, known, "the templates are") if known else f"create {folder / name}"
        return f"there is no template {name!r} in {str(folder)!r}", fix

    def _images(self, section: Section) -> tuple[Image, ...]:
        images: list[Image] = []
        for index, item, line in seq_items(section.get("images", YamlList())):
            where = f"{section.where}.images[{index + 1}]"
            image = Section.of(item, where, line, self.report, {"file": TEXT, "alt": TEXT}, required=("file",),
                               hints=IMAGE_HINTS)
            if image is None or image.get("file") is None:
                continue
            problem = file_name_problem(image.get("file"))
            if problem is not None:
                self.report.error(image.value_line("file"), where, problem, "write the image file's name, relative to "
                                  "the plan's folder, such as images/guide.png")
                continue
            path = self.loader.path.parent / image.get("file")
            alt = (image.get("alt") or "").strip()
            if not alt and "alt" not in image.blank:  # a blank alt is reported already
                self.report.error(line, where, f"the image {shown(image.get('file'))} has no alt text",
                                  "add `alt:` describing what the image shows, for people using screen readers")
            if path.suffix.lower() not in IMAGE_TYPES:
                self.report.error(image.value_line("file"), where, f"{path.name!r} is not a PNG, JPEG, GIF or WebP",
                                  "convert it to one of those formats")
            elif (refused := self._outside(path, "the image", image.get("file"))) is not None:
                self.report.error(image.value_line("file"), where, *refused)
            elif not path.is_file():
                self.report.error(image.value_line("file"), where, f"the image file {str(path)!r} does not exist",
                                  "check the name; image paths are relative to the plan's folder")
            elif alt:
                images.append(Image(path, alt, line))
        return tuple(images)

    @functools.cached_property
    def _paths_checked(self) -> dict[Path, tuple[str, str] | None]:
        return {}

    def _outside(self, path: Path, what: str, shown: str) -> tuple[str, str] | None:
        """Why *path* may not be used, if it leads outside the campaign folder (see :mod:`campaign.plan.paths`);
        each path is looked up once per plan."""
        checked = self._paths_checked
        if path not in checked:
            checked[path] = outside_problem(path, campaign_folder(self.loader.path), what, shown)
        return checked[path]

    def _variants(self, section: Section, accounts: tuple[str, ...]) -> dict[str, Content]:
        value = section.get("variants")
        if not isinstance(value, YamlMap):
            return {}
        variants: dict[str, Content] = {}
        top = Section(value, f"{section.where}.variants", self.report, {name: MAP for name in PLATFORMS}, blanks=False)
        targeted = {self.accounts[a].platform for a in accounts}
        for platform, item, line in top.items():
            if platform not in PLATFORMS:
                continue
            variant = Section.of(item, top.sub(platform), line, self.report, CONTENT_KEYS, hints=POST_HINTS)
            if variant is None:
                continue
            if platform not in targeted and accounts and not self._failed_platforms & {platform, None}:
                self.report.warn(line, variant.where, f"there is a {platform} variant but the post does not go "
                                 f"to any {platform} account", f"add a {platform} account to the post or remove it")
            content = self._content(variant, required=False)
            if content is not None:
                variants[platform] = content
        return variants

    # -- when ---------------------------------------------------------------------------------------

    def _occurrences(self, section: Section) -> tuple[Occurrence, ...]:
        where = section.where
        forms = [key for key in ("at", "daily") if section.written(key)]
        if not forms:
            self.report.error(section.line, where, "it does not say when to post",
                              "add `at: 'YYYY-MM-DD HH:MM'`, or `event:` with `at: '-1d 18:00'`, "
                              "or `daily: 'HH:MM'` with optional `from:`/`until:` dates")
            return ()
        if len(forms) > 1:
            self.report.error(section.key_line("daily"), where, "both 'at' and 'daily' are given",
                              "use 'at' for one post, or 'daily' for one post a day")
            return ()
        if section.blank & {"at", "daily", "event", "from", "until"}:
            return ()  # reported: a blank is never read as "not set"
        if "daily" in section:
            if "event" in section:
                self.report.error(section.key_line("event"), where, "a daily post cannot be tied to an event",
                                  "remove 'event', or post once with 'at'")
                return ()
            return self._daily(section)
        for key in ("from", "until"):
            if key in section:
                self.report.error(section.key_line(key), where, f"{key!r} only applies to daily posts",
                                  f"remove {key!r}, or use `daily: 'HH:MM'` instead of 'at'")
        try:
            when = self._when(section)
        except TimeProblem as problem:
            self.report.error(section.value_line("at"), f"{where}.at", problem.message, problem.fix)
            return ()
        if when is None:
            return ()
        occurrence = Occurrence(when)
        return (occurrence,) if self._in_campaign(occurrence, section) else ()

    def _when(self, section: Section) -> Any:
        value = section.get("at")
        if value is None:  # the wrong kind of value: reported
            return None
        if section.written("event"):
            event_id = section.get("event")
            if event_id is None:  # the wrong kind of value: reported
                return None
            if event_id not in self.events and not self.loader.events_known:
                return None  # `events:` cannot be read: reported
            if event_id in self.loader.failed_events:
                return None  # the event is written but could not be loaded: reported there
            if event_id not in self.events:
                self.report.error(section.value_line("event"), f"{section.where}.event",
                                  f"there is no event {shown(event_id)}",
                                  did_you_mean(event_id, list(self.events), "the events are") if self.events
                                  else "add it under `events:`")
                return None
        else:
            event_id = None
        # The same time (or the same time before the same event) is written by many posts: worked out once.
        key = (value, event_id)
        when = self._times.get(key)
        if when is None:
            try:
                when = self._times[key] = self._time(value, event_id)
            except TimeProblem as problem:
                when = self._times[key] = problem
        if isinstance(when, TimeProblem):
            raise TimeProblem(when.message, when.fix)
        return when

    def _time(self, value: Any, event_id: str | None) -> ScheduledTime:
        """The time *value* (written at `at:`) stands for, before the event *event_id* if there is one."""
        if event_id is not None:
            return parse_offset(value).apply(self.events[event_id].start)
        if isinstance(value, str) and _looks_relative(value):
            raise TimeProblem(f"{shown(value)} is a time relative to an event, but the post has no `event:`",
                              "add `event: <event id>` to the post, or write a date and time")
        return parse_local(value, self.campaign.tz)

    def _daily(self, section: Section) -> tuple[Occurrence, ...]:
        where = section.where
        dates: dict[str, date] = {}
        clock = None
        for key in ("daily", "from", "until"):
            value = section.get(key)
            if value is None:
                continue  # not given, or the wrong kind of value (reported)
            try:
                if key == "daily":
                    clock = parse_clock(value)
                else:
                    dates[key] = parse_date(value)
            except TimeProblem as problem:
                self.report.error(section.value_line(key), f"{where}.{key}", problem.message, problem.fix)
                return ()
        if clock is None:
            return ()
        campaign = self.campaign
        known = self.loader.dates_known
        first = dates.get("from", campaign.starts)
        last = dates.get("until", campaign.ends)
        if not known and ("from" not in dates or "until" not in dates):
            return ()  # the campaign's dates could not be read (reported), so neither can the slot's
        if last < first:
            self.report.error(section.value_line("until"), f"{where}.until", f"the slot ends ({last}) before it "
                              f"starts ({first})", "swap 'from' and 'until'")
            return ()
        # Outside the campaign is one problem for the slot, not one for each of its days.
        if known and first < campaign.starts:
            self.report.error(section.value_line("from"), f"{where}.from", f"the slot starts on {first}, before the "
                              f"campaign starts on {campaign.starts}", "start it on a day of the campaign")
            return ()
        if known and last > campaign.ends:
            self.report.error(section.value_line("until"), f"{where}.until", f"the slot ends on {last}, after the "
                              f"campaign ends on {campaign.ends}", "end it on a day of the campaign")
            return ()
        if (last - first).days >= CAMPAIGN_DAYS_MAX:
            self.report.error(section.value_line("until"), f"{where}.until", f"the slot lasts {(last - first).days + 1:,} "
                              f"days; a campaign lasts at most {CAMPAIGN_DAYS_MAX}", "check the years of the dates")
            return ()
        occurrences = []
        for day, result in daily(first, last, clock, campaign.tz):
            if isinstance(result, TimeProblem):
                self.report.error(section.value_line("daily"), f"{where}.daily", result.message,
                                  f"on {day}, post separately with `at:` ({result.fix}), and split the slot with "
                                  "'from'/'until' so that it skips that day")
                continue
            occurrences.append(Occurrence(result, f"@{day.isoformat()}"))
        return tuple(occurrences)

    def _in_campaign(self, occurrence: Occurrence, section: Section) -> bool:
        if not self.loader.dates_known:
            return True  # the campaign's dates could not be read (reported)
        day = occurrence.when.local.date()
        key = "daily" if "daily" in section else "at"
        campaign = self.campaign
        if day < campaign.starts:
            self.report.error(section.value_line(key), f"{section.where}.{key}",
                              f"it is at {occurrence.when.label()}, before the campaign starts on {campaign.starts}",
                              "move it to a day of the campaign, or set campaign.starts earlier")
            return False
        if day > campaign.ends:
            self.report.error(section.value_line(key), f"{section.where}.{key}",
                              f"it is at {occurrence.when.label()}, after the campaign ends on {campaign.ends}",
                              "move it to a day of the campaign, or set campaign.ends later")
            return False
        return True

    def _passed(self, section: Section, occurrences: tuple[Occurrence, ...]) -> None:
        """A warning naming the post if any of its times has passed: it would never go out by itself."""
        passed = [o for o in occurrences if o.when.utc < self.loader.now]
        if not passed:
            return
        key = "daily" if "daily" in section else "at"
        if len(occurrences) == 1:
            message = f"its time, {passed[0].when.label()}, has passed"
        else:
            message = (f"{len(passed)} of its {len(occurrences)} times have passed ({passed[0].when.label()} to "
                       f"{passed[-1].when.label()})")
        self.report.warn(section.value_line(key), f"{section.where}.{key}", message,
                         "move it to a time still to come, or remove it: a post scheduled after its time and grace "
                         "window is recorded as missed and never goes out by itself")

    # -- threads ------------------------------------------------------------------------------------

    def _check_replies(self, posts: dict[str, PostEntry]) -> None:
        """Check each reply against the post it replies to, taking out of *posts* every reply that cannot be
        scheduled. A reply to a post that was left out (a post that failed to load, or a reply refused here) is
        left out silently: the one mistake is reported where it is, not again for each post after it."""
        left_out = set(self.failed)
        checked: set[str] = set()
        for first in list(posts.values()):
            # Check the posts a reply hangs from before the reply itself: a post earlier in the thread may be
            # left out, and a reply to it must then be left out silently however the posts are ordered.
            chain: list[PostEntry] = []
            post: PostEntry | None = first
            while post is not None and post.id not in checked:
                checked.add(post.id)
                chain.append(post)
                post = posts.get(post.reply_to) if post.reply_to is not None else None
            for post in reversed(chain):
                if post.reply_to is None:
                    continue
                if post.reply_to in left_out:
                    left_out.add(post.id)
                    del posts[post.id]
                    continue
                problem = self._reply_problem(post, posts)
                if problem is not None:
                    self.report.error(post.line, f"post {post.id!r}", *problem)
                    left_out.add(post.id)
                    del posts[post.id]

    def _reply_problem(self, post: PostEntry, posts: dict[str, PostEntry]) -> tuple[str, str] | None:
        """What is wrong with *post* as a reply to the post it names, if anything."""
        assert post.reply_to is not None
        parent = posts.get(post.reply_to)
        if parent is None:
            return (f"it replies to {post.reply_to!r}, which is not a post in this plan",
                    did_you_mean(post.reply_to, [p for p in self.written if p != post.id], "the posts are"))
        if len(parent.occurrences) > 1 or len(post.occurrences) > 1:
            return ("a daily post cannot be part of a thread", "give the thread's posts single times with 'at'")
        if not set(post.accounts) <= set(parent.accounts):
            missing = ", ".join(sorted(set(post.accounts) - set(parent.accounts)))
            return (f"it replies to {parent.id!r}, which does not go to {missing}",
                    "post the reply only to accounts the first post goes to")
        if post.occurrences[0].when.utc <= parent.occurrences[0].when.utc:
            return (f"it replies to {parent.id!r} but is not scheduled after it",
                    f"schedule it after {parent.occurrences[0].when.label()}")
        return None


_FOLDER_REPORTED = ("", "")
"""The problem of a template whose folder cannot be used: reported once, at campaign.templates."""


def _unprintable(value: Any) -> str | None:
    """What would make *value* print as "None", nothing, or not at all in a template; None if it is fine."""
    if is_blank(value):
        return "is blank"
    if isinstance(value, LongNumber):
        return f"is {describe(value)}"
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        if not items:
            return "is empty"
        for item in items:
            if _unprintable(item) is not None:
                return "has a blank item" if is_blank(item) else f"has an item that {_unprintable(item)}"
    return None


def _looks_relative(value: str) -> bool:
    text = value.strip().lower()
    return text == "start" or text[:1] in "+-" or bool(re.fullmatch(r"\d{1,2}:\d{2}", text))
