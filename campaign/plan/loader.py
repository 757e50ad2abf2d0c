"""The campaign plan: a typed model of ``schedules/*.yaml``, and its loader.

Loading checks everything it can and reports every problem at once, each with its file and line.
A plan with problems still loads as far as it can (broken entries are left out), so that the rest of
it can be rendered and checked in the same run and the author sees the whole list in one go.
See ``docs/plan-format.md`` for the format, written for the comms officers who write it.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign.exceptions import PlanError
from campaign.plan.languages import DEFAULT_LANGUAGE, LanguageProblem, standard_language
from campaign.plan.model import DEFAULT_COLLECT_AFTER, Account, Campaign, Event, Link, Phone, Plan, PostEntry
from campaign.plan.posts import PostReader
from campaign.platforms import PLATFORMS
from campaign.problems import Problem, errors
from campaign.times import ScheduledTime, TimeProblem, parse_date, parse_duration, parse_local, parse_zone
from campaign.yamlfile import (
    Reporter,
    Section,
    YamlList,
    YamlMap,
    describe,
    did_you_mean,
    load_yaml,
    seq_items,
)

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HASHTAG = re.compile(r"^#?(\w+)$")
_HANDLES = {
    "x": (re.compile(r"^@\w{1,15}$"), "an X handle such as '@LancsPolice'"),
    "mastodon": (re.compile(r"^@\w+@[\w.-]+\.\w+$"), "a Mastodon address such as '@lancspolice@police.social'"),
    "bluesky": (re.compile(r"^@?[a-z0-9.-]+\.[a-z]{2,}$"), "a Bluesky handle such as 'lancspolice.bsky.social'"),
    "facebook": (re.compile(r"^\S.*$"), "the Page's name, such as 'Lancashire Police'"),
}

TEXT = str
MAP = YamlMap
LIST = YamlList
TIME = (str, date)


def load_plan(path: Path | str) -> tuple[Plan | None, list[Problem]]:
    """Load and validate the plan at *path*: the plan (as far as it could be read) and every problem."""
    loader = Loader(Path(path))
    return loader.load(), loader.report.problems


def read_plan(path: Path | str) -> Plan:
    """Load the plan at *path*, raising :class:`PlanError` listing every error if there is any."""
    plan, problems = load_plan(path)
    if plan is None or errors(problems):
        raise PlanError(errors(problems))
    return plan


class Loader:
    """Reads one plan file, collecting its problems in ``report``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.report = Reporter(str(path))

    def error(self, line: int, where: str, message: str, fix: str) -> None:
        self.report.error(line, where, message, fix)

    def load(self) -> Plan | None:
        data = load_yaml(self.path, self.report)
        if data is None and not self.report.problems:
            self.error(1, "plan", "the file is empty", "start from the bundled example: `campaign init DIR`")
        if data is None:
            return None
        top = Section.of(
            data,
            "plan",
            1,
            self.report,
            {"campaign": MAP, "facts": MAP, "accounts": MAP, "events": MAP, "posts": LIST},
            required=("campaign", "accounts", "posts"),
        )
        if top is None:
            return None
        campaign = self._campaign(top)
        if campaign is None:
            return None
        phones, links = self._facts(top.get("facts"), top.value_line("facts"))
        accounts = self._accounts(top.get("accounts"))
        events = self._events(top.get("events"), campaign.tz)
        posts = self._posts(top.get("posts"), campaign, accounts, events)
        return Plan(self.path, campaign, phones, links, accounts, events, posts)

    # -- campaign ---------------------------------------------------------------------------------------

    def _campaign(self, top: Section) -> Campaign | None:
        section = Section.of(
            top.get("campaign"),
            "campaign",
            top.value_line("campaign"),
            self.report,
            {
                "id": TEXT, "name": TEXT, "timezone": TEXT, "starts": TIME, "ends": TIME, "hashtags": LIST,
                "objective": TEXT, "audience": TEXT, "grace": TEXT, "templates": TEXT, "author": TEXT,
                "approval": MAP, "collect_after": LIST, "language": TEXT,
            },
            required=("name", "timezone", "starts", "ends"),
        )
        if section is None:
            return None
        zone_name = section.get("timezone", "Europe/London")
        try:
            zone = parse_zone(zone_name)
        except TimeProblem as problem:
            self.error(section.value_line("timezone"), "campaign.timezone", problem.message, problem.fix)
            zone = ZoneInfo("UTC")
        starts = self._date(section, "starts")
        ends = self._date(section, "ends")
        if starts and ends and ends < starts:
            self.error(section.value_line("ends"), "campaign.ends", f"the campaign ends ({ends}) before it starts "
                       f"({starts})", "swap the dates, or correct the one that is wrong")
        campaign_id = section.get("id", _slug(self.path.stem))
        if not _ID.match(campaign_id):
            self.error(section.value_line("id"), "campaign.id", f"{campaign_id!r} is not a usable id",
                       "use lower-case letters, digits, '-' and '_', e.g. 'modern-slavery-week'")
        approval = None
        if "approval" in section:
            approval = Section.of(section.get("approval"), "campaign.approval", section.value_line("approval"),
                                  self.report, {"approver_must_differ": bool})
        templates = Path(os.path.normpath(self.path.parent / section.get("templates", "../posts")))
        if not templates.is_dir():
            self.error(section.value_line("templates") if "templates" in section else section.line,
                       "campaign.templates", f"the template folder {str(templates)!r} does not exist",
                       "create it, or set `templates:` to the folder of your .j2 files, relative to this plan")
        return Campaign(
            id=campaign_id,
            name=section.get("name", self.path.stem),
            zone=zone.key,
            starts=starts or date.min,
            ends=ends or date.max,
            hashtags=self._hashtags(section),
            objective=section.get("objective"),
            audience=section.get("audience"),
            grace=self._grace(section),
            collect_after=self._collect_after(section),
            templates=templates,
            author=section.get("author"),
            approver_must_differ=bool(approval.get("approver_must_differ", False)) if approval else False,
            language=self.language(section) or DEFAULT_LANGUAGE,
        )

    def language(self, section: Section) -> str | None:
        """The standard form of *section*'s `language:`; None if it has none, or a wrong one (reported)."""
        if "language" not in section:
            return None
        value = section.data["language"]
        if value is not None and not isinstance(value, str):
            section.get("language")  # reports the wrong kind of value
            return None
        result = standard_language(value or "")
        if isinstance(result, LanguageProblem):
            self.error(section.value_line("language"), section.sub("language"), result.message, result.fix)
            return None
        return result

    def _date(self, section: Section, key: str) -> date | None:
        value = section.get(key)
        if value is None:
            return None
        try:
            return parse_date(value)
        except TimeProblem as problem:
            self.error(section.value_line(key), section.sub(key), problem.message, problem.fix)
            return None

    def _hashtags(self, section: Section) -> tuple[str, ...]:
        tags: list[str] = []
        for index, item, line in seq_items(section.get("hashtags", YamlList())):
            match = _HASHTAG.match(str(item)) if isinstance(item, str) else None
            if match is None:
                self.error(line, f"campaign.hashtags[{index}]", f"{describe(item)} is not a hashtag",
                           "write it as letters and digits without spaces, e.g. SeeItShareIt")
                continue
            tag = match.group(1)
            if tag[:1].islower():
                self.report.warn(line, f"campaign.hashtags[{index}]",
                                 f"#{tag} is not in CamelCase, so screen readers read it as one word",
                                 "capitalise each word, e.g. #SeeItShareIt")
            tags.append(tag)
        return tuple(tags)

    def _grace(self, section: Section) -> timedelta:
        try:
            return parse_duration(section.get("grace", "10m"))
        except TimeProblem as problem:
            self.error(section.value_line("grace"), "campaign.grace", problem.message,
                       "write how late a post may still go out, e.g. '10m' or '1h'")
            return timedelta(minutes=10)

    def _collect_after(self, section: Section) -> tuple[timedelta, ...]:
        if "collect_after" not in section:
            return DEFAULT_COLLECT_AFTER
        offsets = []
        for index, item, line in seq_items(section.get("collect_after", YamlList())):
            try:
                offsets.append(parse_duration(str(item)))
            except TimeProblem as problem:
                self.error(line, f"campaign.collect_after[{index + 1}]", problem.message,
                           "list how long after publishing to collect engagement, e.g. [1h, 6h, 24h, 72h, 7d]")
        return tuple(sorted(set(offsets)))

    # -- facts ------------------------------------------------------------------------------------------

    def _facts(self, value: Any, line: int) -> tuple[dict[str, Phone], dict[str, Link]]:
        if value is None:
            return {}, {}
        section = Section.of(value, "facts", line, self.report, {"phones": MAP, "links": MAP})
        if section is None:
            return {}, {}
        phones: dict[str, Phone] = {}
        for key, item, item_line in _entries(section, "phones"):
            where = f"facts.phones.{key}"
            phone = Section.of(item, where, item_line, self.report, {"label": TEXT, "number": TEXT},
                               required=("label", "number"))
            if phone is None or "number" not in phone:
                continue
            number = phone.get("number")
            if isinstance(phone.data.get("number"), int):
                # Reported by get(): a number must be quoted so zeros and spacing survive. Keep it known, so
                # every template using it does not report a second, misleading problem.
                phones[key] = Phone(key, phone.get("label", key), str(phone.data["number"]))
                continue
            if number is not None and not re.fullmatch(r"\+?[0-9][0-9 ]*[0-9]", number):
                self.error(phone.value_line("number"), where, f"{number!r} is not a phone number",
                           "write digits with single spaces, as it should be printed, e.g. '08000 121 700'")
                continue
            if number is not None:
                phones[key] = Phone(key, phone.get("label", key), number)
        links: dict[str, Link] = {}
        for key, item, item_line in _entries(section, "links"):
            where = f"facts.links.{key}"
            if isinstance(item, str):
                url, label = item, key
            else:
                link = Section.of(item, where, item_line, self.report, {"url": TEXT, "label": TEXT}, ("url",))
                if link is None or link.get("url") is None:
                    continue
                url, label = link.get("url"), link.get("label", key)
            if not re.fullmatch(r"https://[^\s/]+\.[^\s/]+(/\S*)?", url):
                self.error(item_line, where, f"{url!r} is not an https:// link",
                           "write the full address starting with https://")
                continue
            links[key] = Link(key, url, label)
        return phones, links

    # -- accounts ---------------------------------------------------------------------------------------

    def _accounts(self, value: Any) -> dict[str, Account]:
        accounts: dict[str, Account] = {}
        if not isinstance(value, YamlMap):
            return accounts
        top = Section(value, "accounts", self.report, {k: MAP for k in value})
        for account_id, item, line in top.items():
            where = f"accounts.{account_id}"
            if not self.check_id(account_id, line, where):
                continue
            section = Section.of(item, where, line, self.report,
                                 {"platform": TEXT, "handle": TEXT, "credentials": MAP, "api_base": TEXT},
                                 required=("platform", "handle", "credentials"))
            if section is None:
                continue
            platform = section.get("platform")
            if platform is None:
                continue
            if platform not in PLATFORMS:
                self.error(section.value_line("platform"), f"{where}.platform", f"there is no platform {platform!r}",
                           did_you_mean(platform, list(PLATFORMS), "the platforms are"))
                continue
            handle = section.get("handle", "")
            pattern, example = _HANDLES[platform]
            if handle and not pattern.match(handle):
                self.error(section.value_line("handle"), f"{where}.handle", f"{handle!r} is not {example[:-1]}",
                           f"write {example}")
            api_base = section.get("api_base")
            if api_base is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", api_base):
                self.error(section.value_line("api_base"), f"{where}.api_base", f"{api_base!r} is not a URL",
                           "write the API's base address, e.g. 'http://127.0.0.1:8787'")
            credentials = self._credentials(section, platform, where)
            accounts[account_id] = Account(account_id, platform, handle, credentials, api_base, line)
        return accounts

    def _credentials(self, section: Section, platform: str, where: str) -> dict[str, str]:
        spec = PLATFORMS[platform]
        allowed = spec.credentials + spec.optional_credentials
        credentials = Section.of(section.get("credentials", YamlMap()), f"{where}.credentials",
                                 section.value_line("credentials"), self.report, {name: TEXT for name in allowed},
                                 required=spec.credentials if "credentials" in section else ())
        names: dict[str, str] = {}
        if credentials is None:
            return names
        for name, variable, line in credentials.items():
            if name not in allowed or not isinstance(variable, str):
                continue
            if not _ENV_NAME.match(variable):
                # Never quote the value: it may be the secret itself.
                self.error(line, f"{where}.credentials.{name}",
                           "this is not the name of an environment variable (it may be a secret: never put a "
                           "secret in a plan)",
                           "write the NAME of the variable that holds it, e.g. LANCS_X_ACCESS_TOKEN, and rotate "
                           "the secret if it was real")
                continue
            names[name] = variable
        return names

    # -- events -----------------------------------------------------------------------------------------

    def _events(self, value: Any, zone: ZoneInfo) -> dict[str, Event]:
        events: dict[str, Event] = {}
        if not isinstance(value, YamlMap):
            return events
        top = Section(value, "events", self.report, {k: MAP for k in value})
        for event_id, item, line in top.items():
            where = f"events.{event_id}"
            if not self.check_id(event_id, line, where):
                continue
            section = Section.of(item, where, line, self.report,
                                 {"title": TEXT, "start": TIME, "end": TIME, "location": TEXT, "details": TEXT},
                                 required=("title", "start"))
            if section is None:
                continue
            start = self._time(section, "start", zone)
            end = self._time(section, "end", zone)
            if start is None:
                continue
            if end is not None and end.utc <= start.utc:
                self.error(section.value_line("end"), f"{where}.end", f"the event ends ({end.label()}) before it "
                           f"starts ({start.label()})", "correct the start or the end")
            events[event_id] = Event(event_id, section.get("title", event_id), start, end,
                                     section.get("location"), section.get("details"), line)
        return events

    def _time(self, section: Section, key: str, zone: ZoneInfo) -> ScheduledTime | None:
        if key not in section:
            return None
        value = section.data[key]
        try:
            return parse_local(value, zone)
        except TimeProblem as problem:
            self.error(section.value_line(key), section.sub(key), problem.message, problem.fix)
            return None

    # -- posts ------------------------------------------------------------------------------------------

    def _posts(self, value: Any, campaign: Campaign, accounts: dict[str, Account],
               events: dict[str, Event]) -> tuple[PostEntry, ...]:
        reader = PostReader(self, campaign, accounts, events)
        return reader.read(value)

    def check_id(self, key: str, line: int, where: str) -> bool:
        if _ID.match(key):
            return True
        self.error(line, where, f"{key!r} is not a usable id",
                   f"use lower-case letters, digits, '-' and '_', e.g. {_slug(key)!r}")
        return False


def _entries(section: Section, key: str) -> list[tuple[str, Any, int]]:
    value = section.get(key)
    if not isinstance(value, YamlMap):
        return []
    return [(str(k), v, value.key_lines.get(k, value.line)) for k, v in value.items()]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "campaign"
