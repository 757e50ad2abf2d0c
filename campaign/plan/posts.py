"""Reading the ``posts:`` list of a plan: what each post says, where it goes and when."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from campaign.plan.model import (
    IMAGE_TYPES,
    Account,
    Campaign,
    Content,
    Event,
    Image,
    Occurrence,
    PostEntry,
)
from campaign.platforms import PLATFORMS
from campaign.times import TimeProblem, daily, parse_clock, parse_date, parse_local, parse_offset
from campaign.yamlfile import BlockText, Section, YamlList, YamlMap, describe, did_you_mean, seq_items

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


class PostReader:
    def __init__(self, loader: Loader, campaign: Campaign, accounts: dict[str, Account],
                 events: dict[str, Event]) -> None:
        self.loader = loader
        self.report = loader.report
        self.campaign = campaign
        self.accounts = accounts
        self.events = events

    def read(self, value: Any) -> tuple[PostEntry, ...]:
        if not isinstance(value, YamlList):
            return ()
        posts: dict[str, PostEntry] = {}
        for index, item, line in seq_items(value):
            post_id = item.get("id") if isinstance(item, YamlMap) else None
            where = f"posts[{index + 1}] ({post_id})" if isinstance(post_id, str) else f"posts[{index + 1}]"
            section = Section.of(item, where, line, self.report, POST_KEYS, required=("id",))
            if section is None or not isinstance(post_id, str) or not isinstance(section.get("id"), str):
                continue
            if not self.loader.check_id(post_id, section.value_line("id"), where):
                continue
            if post_id in posts:
                self.report.error(section.value_line("id"), where, f"the id {post_id!r} is used twice "
                                  f"(first on line {posts[post_id].line})", "give each post its own id")
                continue
            post = self._post(section, post_id, line)
            if post is not None:
                posts[post_id] = post
        self._check_replies(posts)
        return tuple(posts.values())

    def _post(self, section: Section, post_id: str, line: int) -> PostEntry | None:
        accounts = self._targets(section)
        content = self._content(section, required=True)
        variants = self._variants(section, accounts)
        occurrences = self._occurrences(section)
        # A wrong language is reported; the post is still rendered and checked (in the campaign's language).
        language = self.loader.language(section)
        if content is None or not accounts or not occurrences:
            return None
        return PostEntry(post_id, line, accounts, content, variants, occurrences, section.get("event"),
                         section.get("reply_to"), section.get("author"), language or self.campaign.language)

    # -- where --------------------------------------------------------------------------------------

    def _targets(self, section: Section) -> tuple[str, ...]:
        where = section.where
        if "accounts" in section and "platforms" in section:
            self.report.error(section.key_line("platforms"), where, "both 'accounts' and 'platforms' are given",
                              "keep one: 'accounts' names accounts, 'platforms' means every account on them")
            return ()
        if "platforms" in section:
            chosen: list[str] = []
            for index, name, line in seq_items(section.get("platforms", YamlList())):
                if name not in PLATFORMS:
                    self.report.error(line, f"{where}.platforms[{index + 1}]", f"there is no platform {name!r}",
                                      did_you_mean(str(name), list(PLATFORMS), "the platforms are"))
                    continue
                matching = [a.id for a in self.accounts.values() if a.platform == name]
                if not matching:
                    self.report.error(line, f"{where}.platforms[{index + 1}]", f"the plan has no {name} account",
                                      f"add one under `accounts:` with `platform: {name}`, or remove {name} here")
                chosen.extend(matching)
            return tuple(chosen)
        value = section.get("accounts")
        if value is None:
            if "accounts" not in section:
                self.report.error(section.line, where, "it does not say where to post",
                                  "add `accounts: [account-id, …]`, `accounts: all` or `platforms: [x, …]`")
            return ()
        if value == "all":
            return tuple(self.accounts)
        if isinstance(value, str):
            line = section.value_line("accounts")
            value = YamlList(line)
            value.append(section.get("accounts"))
            value.item_lines.append(line)
        chosen = []
        for index, name, line in seq_items(value):
            if name in self.accounts:
                chosen.append(str(name))
                continue
            shown = repr(name) if isinstance(name, str) else describe(name)
            self.report.error(line, f"{where}.accounts", f"there is no account {shown}",
                              did_you_mean(str(name), list(self.accounts), "the accounts are"))
        return tuple(chosen)

    # -- what ---------------------------------------------------------------------------------------

    def _content(self, section: Section, required: bool) -> Content | None:
        where = section.where
        has_text, has_template = "text" in section, "template" in section
        if has_text and has_template:
            self.report.error(section.key_line("template"), where, "both 'text' and 'template' are given",
                              "keep one: 'text' for words written here, 'template' for a file in posts/")
            return None
        if required and not (has_text or has_template):
            self.report.error(section.line, where, "it has no words",
                              "add `text: …` or `template: name.j2` (a file in the templates folder)")
            return None
        template = section.get("template")
        if template is not None and not self._template_exists(template, section.value_line("template"), where):
            return None
        vars_section = section.get("vars", YamlMap())
        text = section.get("text")
        words_key = "text" if has_text else "template"
        return Content(
            text=text,
            template=template,
            images=self._images(section) if "images" in section else None,
            vars=dict(vars_section),
            hashtags=section.get("hashtags"),
            line=section.value_line(words_key) if words_key in section else section.line,
            text_starts_below=isinstance(section.data.get("text"), BlockText),
        )

    def _template_exists(self, name: str, line: int, where: str) -> bool:
        folder = self.campaign.templates
        if (folder / name).is_file():
            return True
        known = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.j2")) if folder.is_dir() else []
        fix = did_you_mean(name, known, "the templates are") if known else f"create {folder / name}"
        self.report.error(line, f"{where}.template", f"there is no template {name!r} in {str(folder)!r}", fix)
        return False

    def _images(self, section: Section) -> tuple[Image, ...]:
        images: list[Image] = []
        for index, item, line in seq_items(section.get("images", YamlList())):
            where = f"{section.where}.images[{index + 1}]"
            image = Section.of(item, where, line, self.report, {"file": TEXT, "alt": TEXT}, required=("file",))
            if image is None or image.get("file") is None:
                continue
            path = self.loader.path.parent / image.get("file")
            alt = (image.get("alt") or "").strip()
            if not alt:
                self.report.error(line, where, f"the image {image.get('file')!r} has no alt text",
                                  "add `alt:` describing what the image shows, for people using screen readers")
            if path.suffix.lower() not in IMAGE_TYPES:
                self.report.error(image.value_line("file"), where, f"{path.name!r} is not a PNG, JPEG, GIF or WebP",
                                  "convert it to one of those formats")
            elif not path.is_file():
                self.report.error(image.value_line("file"), where, f"the image file {str(path)!r} does not exist",
                                  "check the name; image paths are relative to the plan's folder")
            elif alt:
                images.append(Image(path, alt, line))
        return tuple(images)

    def _variants(self, section: Section, accounts: tuple[str, ...]) -> dict[str, Content]:
        value = section.get("variants")
        if not isinstance(value, YamlMap):
            return {}
        variants: dict[str, Content] = {}
        top = Section(value, f"{section.where}.variants", self.report, {name: MAP for name in PLATFORMS})
        targeted = {self.accounts[a].platform for a in accounts}
        for platform, item, line in top.items():
            if platform not in PLATFORMS:
                continue
            variant = Section.of(item, top.sub(platform), line, self.report, CONTENT_KEYS)
            if variant is None:
                continue
            if platform not in targeted and accounts:
                self.report.warn(line, variant.where, f"there is a {platform} variant but the post does not go "
                                 f"to any {platform} account", f"add a {platform} account to the post or remove it")
            content = self._content(variant, required=False)
            if content is not None:
                variants[platform] = content
        return variants

    # -- when ---------------------------------------------------------------------------------------

    def _occurrences(self, section: Section) -> tuple[Occurrence, ...]:
        where = section.where
        forms = [key for key in ("at", "daily") if key in section]
        if not forms:
            self.report.error(section.line, where, "it does not say when to post",
                              "add `at: 'YYYY-MM-DD HH:MM'`, or `event:` with `at: '-1d 18:00'`, "
                              "or `daily: 'HH:MM'` with optional `from:`/`until:` dates")
            return ()
        if len(forms) > 1:
            self.report.error(section.key_line("daily"), where, "both 'at' and 'daily' are given",
                              "use 'at' for one post, or 'daily' for one post a day")
            return ()
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
        event_id = section.get("event")
        value = section.data["at"]
        if event_id is None:
            if isinstance(value, str) and _looks_relative(value):
                raise TimeProblem(f"{value!r} is a time relative to an event, but the post has no `event:`",
                                  "add `event: <event id>` to the post, or write a date and time")
            return parse_local(value, self.campaign.tz)
        if event_id not in self.events:
            self.report.error(section.value_line("event"), f"{section.where}.event", f"there is no event {event_id!r}",
                              did_you_mean(event_id, list(self.events), "the events are") if self.events
                              else "add it under `events:`")
            return None
        return parse_offset(value).apply(self.events[event_id].start)

    def _daily(self, section: Section) -> tuple[Occurrence, ...]:
        where = section.where
        try:
            clock = parse_clock(section.get("daily", ""))
            first = parse_date(section.data["from"]) if "from" in section else self.campaign.starts
            last = parse_date(section.data["until"]) if "until" in section else self.campaign.ends
        except TimeProblem as problem:
            self.report.error(section.line, where, problem.message, problem.fix)
            return ()
        if last < first:
            self.report.error(section.value_line("until"), f"{where}.until", f"the slot ends ({last}) before it "
                              f"starts ({first})", "swap 'from' and 'until'")
            return ()
        occurrences = []
        for day, result in daily(first, last, clock, self.campaign.tz):
            if isinstance(result, TimeProblem):
                self.report.error(section.value_line("daily"), f"{where}.daily", result.message,
                                  f"on {day}, {result.fix}; or set 'from'/'until' to skip that day")
                continue
            occurrence = Occurrence(result, f"@{day.isoformat()}")
            if self._in_campaign(occurrence, section):
                occurrences.append(occurrence)
        return tuple(occurrences)

    def _in_campaign(self, occurrence: Occurrence, section: Section) -> bool:
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

    # -- threads ------------------------------------------------------------------------------------

    def _check_replies(self, posts: dict[str, PostEntry]) -> None:
        refused: set[str] = set()
        for post in list(posts.values()):
            if post.reply_to is None:
                continue
            where = f"post {post.id!r}"
            parent = posts.get(post.reply_to)
            problem: tuple[str, str] | None = None
            if post.reply_to in refused:
                problem = (f"it replies to {post.reply_to!r}, which cannot be scheduled",
                           f"fix the problem with {post.reply_to!r} reported above")
            elif parent is None:
                    problem = (f"it replies to {post.reply_to!r}, which is not a post in this plan",
                           did_you_mean(post.reply_to, [p for p in posts if p != post.id], "the posts are"))
            elif len(parent.occurrences) > 1 or len(post.occurrences) > 1:
                problem = ("a daily post cannot be part of a thread", "give the thread's posts single times with 'at'")
            elif not set(post.accounts) <= set(parent.accounts):
                missing = ", ".join(sorted(set(post.accounts) - set(parent.accounts)))
                problem = (f"it replies to {parent.id!r}, which does not go to {missing}",
                           "post the reply only to accounts the first post goes to")
            elif post.occurrences[0].when.utc <= parent.occurrences[0].when.utc:
                problem = (f"it replies to {parent.id!r} but is not scheduled after it",
                           f"schedule it after {parent.occurrences[0].when.label()}")
            if problem is not None:
                self.report.error(post.line, where, *problem)
                refused.add(post.id)
                del posts[post.id]


def _looks_relative(value: str) -> bool:
    text = value.strip().lower()
    return text == "start" or text[:1] in "+-" or bool(re.fullmatch(r"\d{1,2}:\d{2}", text))
