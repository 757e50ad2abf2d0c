"""The campaign plan: a typed model of ``schedules/*.yaml``, and its loader.

Loading checks everything it can and reports every problem at once, each with its file and line.
A plan with problems still loads as far as it can (broken entries are left out), so that the rest of
it can be rendered and checked in the same run and the author sees the whole list in one go.
See ``docs/plan-format.md`` for the format, written for the comms officers who write it.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign.exceptions import PlanError
from campaign.plan import bilingual
from campaign.plan.hosts import read_media_host
from campaign.plan.languages import DEFAULT_LANGUAGE, LanguageProblem, standard_language
from campaign.plan.model import (
    CAMPAIGN_DAYS_MAX,
    CAMPAIGN_DAYS_WARNING,
    COLLECT_AFTER_RANGE,
    DEFAULT_COLLECT_AFTER,
    GRACE_RANGE,
    MAX_COLLECT_AFTER,
    MAX_ID,
    MAX_TEXT,
    Account,
    Campaign,
    Event,
    Link,
    Phone,
    Plan,
    PostEntry,
    file_name_problem,
)
from campaign.plan.paths import campaign_folder, outside_problem
from campaign.plan.posts import PostReader
from campaign.platforms import PLATFORMS
from campaign.platforms.credentials import is_variable_name, looks_secret
from campaign.problems import Problem, brief, errors, shown
from campaign.times import (
    EARLIEST,
    LATEST,
    ScheduledTime,
    TimeProblem,
    bounded_duration,
    describe_duration,
    parse_date,
    parse_local,
    parse_zone,
)
from campaign.yamlfile import (
    Reporter,
    Section,
    YamlList,
    YamlMap,
    collector_paused,
    describe,
    did_you_mean,
    is_blank,
    load_yaml,
    seq_items,
)

_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PHONE = re.compile(r"\+?[0-9](?:[ \u00a0-]?[0-9])+")
"""A verified number as it is printed: digits, grouped by single spaces, non-breaking spaces or hyphens (the
checks accept it in a post exactly as written here)."""
_HASHTAG = re.compile(r"#?(\w+)")
_HANDLES = {
    "x": (re.compile(r"@\w{1,15}"), "an X handle: '@' and at most 15 letters, digits or '_', such as '@LancsPolice'"),
    "mastodon": (re.compile(r"@\w+@[\w.-]+\.\w+"), "a Mastodon address such as '@lancspolice@police.social'"),
    "bluesky": (re.compile(r"@?[a-z0-9.-]+\.[a-z]{2,}"), "a Bluesky handle such as 'lancspolice.bsky.social'"),
    "facebook": (re.compile(r"\S.*"), "the Page's name, such as 'Lancashire Police'"),
    "linkedin": (re.compile(r"[a-z0-9][a-z0-9-]*", re.IGNORECASE),
                 "a LinkedIn page's name: the NAME in its address linkedin.com/company/NAME, such as 'lancashire-police'"),
    "instagram": (re.compile(r"@?[a-z0-9._]{1,30}", re.IGNORECASE),
                  "an Instagram username: at most 30 letters, digits, '.' or '_', such as 'lancspolice'"),
}

TEXT = str
MAP = YamlMap
LIST = YamlList
TIME = (str, date)

TOP_HINTS = {
    "campaign": "the campaign's `name:`, `timezone:`, `starts:` and `ends:`, indented under it",
    "facts": "`phones:` and `links:`, indented under it",
    "accounts": "each account's id, with its `platform:`, `handle:` and `credentials:` indented under it",
    "events": "each event's id, with its `title:` and `start:` indented under it",
    "posts": "the posts, each starting `- id: …`",
}
CAMPAIGN_HINTS = {
    "id": "an id such as 'modern-slavery-week'",
    "name": "the campaign's name",
    "timezone": "an IANA time zone such as Europe/London",
    "starts": "its first day, such as 2027-03-15",
    "ends": "its last day, such as 2027-03-21",
    "hashtags": "a list such as [SeeItShareIt, ModernSlavery], or [] for none",
    "grace": "how late a post may still go out, such as 10m",
    "templates": "the folder of the .j2 templates, relative to the plan, such as ../posts",
    "approval": "`approver_must_differ: true` or `false`, indented under it",
    "collect_after": "a list such as [1h, 6h, 24h, 72h, 7d]",
    "languages": "the languages every post is written in, the first first, such as [cy, en]",
}
ACCOUNT_HINTS = {
    "platform": ", ".join(sorted(PLATFORMS)),
    "handle": "the account's handle as its platform writes it, such as '@LancsPolice' on X",
    "credentials": "the NAME of the environment variable that holds each credential, indented under it",
    "api_base": "the API's base address, such as 'http://127.0.0.1:8787'",
    "language": "the one language the account posts in, such as cy",
    "languages": "the languages each post gives, in order, such as [cy, en]",
    "pair": "the id of the account that posts in the other language",
    "media_host": "`bucket:` (with its `credentials:`) or `base_url:`, indented under it",
}
EVENT_HINTS = {
    "start": "a date and time such as '2027-03-16 10:00'",
    "end": "a date and time such as '2027-03-16 13:00'",
}


def plan_clock() -> datetime:
    """The moment plans are checked against when no other is given: a post before it is a warning."""
    return datetime.now(UTC)


BEFORE_EVERY_PLAN = datetime(2000, 1, 1, tzinfo=UTC)
"""A moment before any plan's dates may begin: to check a plan as if all of it were still to come (a rehearsal
or the demo plays a week as if it started now)."""


def load_plan(path: Path | str, now: datetime | None = None) -> tuple[Plan | None, list[Problem]]:
    """Load and validate the plan at *path*: the plan (as far as it could be read) and every problem.

    At most :data:`campaign.problems.MAX_PROBLEMS` problems are listed, then one line counting the rest. A post
    whose time is before *now* (default: this moment) is a warning.
    """
    loader = Loader(Path(path), now)
    with collector_paused():  # what is read and made here lives until the end, and holds no cycles
        plan = loader.load()
    return plan, loader.report.all()


def read_plan(path: Path | str) -> Plan:
    """Load the plan at *path*, raising :class:`PlanError` listing every error if there is any."""
    plan, problems = load_plan(path)
    if plan is None or errors(problems):
        raise PlanError(errors(problems))
    return plan


_HTTPS = re.compile(r"https://[^\s/]+\.[^\s/]+(/\S*)?")
"""A link a plan may give: https, a host with a dot, a path."""


class Loader:
    """Reads one plan file, collecting its problems in ``report``."""

    def __init__(self, path: Path, now: datetime | None = None) -> None:
        self.path = path
        self.now = now or plan_clock()
        self.report = Reporter(str(path))
        self.dates_known = True
        """False when the campaign's dates could not be read: posts are then not checked against them."""
        self.accounts_known = True
        self.events_known = True
        """False when `accounts:` or `events:` is written but cannot be read (reported): posts naming them are
        then not reported again, one by one."""
        self.failed_accounts: dict[str, str | None] = {}
        """Accounts written in the plan that could not be loaded (each reported), with their platform where it
        could be read: a post naming one skips it silently, so one mistake is one message, not one per post."""
        self.failed_events: set[str] = set()
        """Events written in the plan that could not be loaded (each reported): a post timed by one is left out
        silently."""

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
            hints=TOP_HINTS,
        )
        if top is None:
            return None
        campaign = self._campaign(top)
        if campaign is None:
            return None
        phones, links = self._facts(top.get("facts"), campaign.languages)
        accounts = self._accounts(top.get("accounts"), campaign)
        events = self._events(top.get("events"), campaign.tz)
        self.accounts_known = isinstance(top.get("accounts"), YamlMap)
        self.events_known = not top.written("events") or isinstance(top.get("events"), YamlMap)
        posts = self._posts(top.get("posts"), campaign, accounts, events)
        return Plan(self.path, campaign, phones, links, accounts, events, posts)

    # -- campaign ---------------------------------------------------------------------------------------

    def _campaign(self, top: Section) -> Campaign | None:
        value = top.get("campaign")
        if value is None:  # missing, blank or not a mapping: reported
            return None
        section = Section(
            value,
            "campaign",
            self.report,
            {
                "id": TEXT, "name": TEXT, "timezone": TEXT, "starts": TIME, "ends": TIME, "hashtags": (LIST, MAP),
                "objective": TEXT, "audience": TEXT, "grace": TEXT, "templates": TEXT, "author": TEXT,
                "approval": MAP, "collect_after": LIST, "language": TEXT, "languages": LIST,
            },
            required=("name", "timezone", "starts", "ends"),
            hints=CAMPAIGN_HINTS,
            own_blank=("language",),
        )
        zone = ZoneInfo("UTC")
        zone_name = section.get("timezone")
        if zone_name is not None:
            try:
                zone = parse_zone(zone_name)
            except TimeProblem as problem:
                self.error(section.value_line("timezone"), "campaign.timezone", problem.message, problem.fix)
        starts = self._date(section, "starts")
        ends = self._date(section, "ends")
        if starts is None or ends is None:
            self.dates_known = False
        elif ends < starts:
            self.dates_known = False
            self.error(section.value_line("ends"), "campaign.ends", f"the campaign ends ({ends}) before it starts "
                       f"({starts})", "swap the dates, or correct the one that is wrong")
        else:
            self._length(section, starts, ends)
        campaign_id = section.get("id")
        if campaign_id is None:
            campaign_id = _slug(self.path.stem)
            if len(campaign_id) > MAX_ID:
                self.error(section.line, "campaign", f"the campaign's id, from the file name, is {len(campaign_id)} "
                           f"characters long; an id may be at most {MAX_ID}", "add a shorter `id:` to the campaign")
        else:
            self.check_id(campaign_id, section.value_line("id"), "campaign.id")
        approval = None
        if "approval" in section and section.get("approval") is not None:
            approval = Section(section.get("approval"), "campaign.approval", self.report,
                               {"approver_must_differ": bool}, hints={"approver_must_differ": "true or false"})
        languages = bilingual.campaign_languages(self, section)
        written_tags = section.get("hashtags")
        by_language = bilingual.language_hashtags(self, written_tags, section.value_line("hashtags"), languages,
                                                  self.hashtag_list)
        if languages:
            hashtags = by_language[languages[0]]
        elif isinstance(written_tags, YamlList):
            hashtags = self.hashtag_list(written_tags, "campaign.hashtags")
        else:
            hashtags = ()
        return Campaign(
            id=campaign_id,
            name=self.text(section, "name") or self.path.stem,
            zone=zone.key,
            starts=starts or EARLIEST,
            ends=ends or LATEST,
            hashtags=hashtags,
            objective=section.get("objective"),
            audience=section.get("audience"),
            grace=self._grace(section),
            collect_after=self._collect_after(section),
            templates=self._templates(section),
            author=self.text(section, "author"),
            approver_must_differ=bool(approval.get("approver_must_differ", False)) if approval else False,
            language=languages[0] if languages else self.language(section) or DEFAULT_LANGUAGE,
            languages=languages,
            language_hashtags=by_language,
        )

    def _length(self, section: Section, starts: date, ends: date) -> None:
        """Check how long the campaign is. Over the limit, its dates are not used to check the posts (which
        would only repeat the one mistake), and a daily post must then give its own `from:` and `until:`."""
        days = (ends - starts).days + 1
        if days > CAMPAIGN_DAYS_MAX:
            self.dates_known = False
            self.error(section.value_line("ends"), "campaign.ends", f"the campaign lasts {days:,} days ({starts} to "
                       f"{ends}); a plan may cover at most {CAMPAIGN_DAYS_MAX}",
                       "check the years of `starts:` and `ends:`; plan a longer programme as several campaigns")
        elif days > CAMPAIGN_DAYS_WARNING:
            self.report.warn(section.value_line("ends"), "campaign.ends", f"the campaign lasts {days} days ({starts} "
                             f"to {ends}), more than a month", "check the dates; most campaigns last a week or two")

    def text(self, section: Section, key: str) -> str | None:
        """Text at *key*, refused if longer than the store keeps (:data:`MAX_TEXT`)."""
        value: str | None = section.get(key)
        limit = MAX_TEXT.get(key)
        if value is not None and limit is not None and len(value) > limit:
            self.error(section.value_line(key), section.sub(key), f"it is {len(value):,} characters long; at most "
                       f"{limit} are allowed", "shorten it")
            return None
        return value

    def _templates(self, section: Section) -> Path:
        written: str = section.get("templates", "../posts")
        problem = file_name_problem(written)
        if problem is not None:
            self.error(section.value_line("templates"), "campaign.templates", problem,
                       "set `templates:` to the folder of your .j2 files, relative to this plan")
            return self.path.parent
        templates = Path(os.path.normpath(self.path.parent / written))
        if not templates.is_dir():
            self.error(section.value_line("templates") if "templates" in section else section.line,
                       "campaign.templates", f"the template folder {shown(str(templates), 200)} does not exist",
                       "create it, or set `templates:` to the folder of your .j2 files, relative to this plan")
        elif (refused := outside_problem(templates, campaign_folder(self.path), "the templates folder",
                                         written)) is not None:
            self.error(section.value_line("templates") if "templates" in section else section.line,
                       "campaign.templates", *refused)
        return templates

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

    def hashtag_list(self, value: YamlList, where_list: str) -> tuple[str, ...]:
        """The hashtags of one list, each checked (*where_list*: where the list is, for messages)."""
        tags: list[str] = []
        for index, item, line in seq_items(value):
            where = f"{where_list}[{index + 1}]"
            if is_blank(item):
                self.error(line, where, "this hashtag is blank", "write the hashtag, e.g. SeeItShareIt, or remove "
                           "the item")
                continue
            match = _HASHTAG.fullmatch(item) if isinstance(item, str) and len(item) <= 100 else None
            if match is None:
                self.error(line, where, f"{describe(item)} is not a hashtag",
                           "write it as letters and digits without spaces, e.g. SeeItShareIt")
                continue
            tag = match.group(1)
            if tag[:1].islower():
                self.report.warn(line, where,
                                 f"#{tag} is not in CamelCase, so screen readers read it as one word",
                                 "capitalise each word, e.g. #SeeItShareIt")
            tags.append(tag)
        return tuple(tags)

    def _grace(self, section: Section) -> timedelta:
        try:
            return bounded_duration(section.get("grace", "10m"), *GRACE_RANGE, "the grace window")
        except TimeProblem as problem:
            self.error(section.value_line("grace"), "campaign.grace", problem.message,
                       f"write how late a post may still go out, from {describe_duration(GRACE_RANGE[0])} to "
                       f"{describe_duration(GRACE_RANGE[1])}, e.g. '10m' or '1h'")
            return timedelta(minutes=10)

    def _collect_after(self, section: Section) -> tuple[timedelta, ...]:
        value = section.get("collect_after")
        if value is None:  # not given (or blank, or not a list: reported)
            return DEFAULT_COLLECT_AFTER
        if len(value) > MAX_COLLECT_AFTER:
            self.error(section.value_line("collect_after"), "campaign.collect_after", f"it lists {len(value)} times; "
                       f"engagement is collected at most {MAX_COLLECT_AFTER} times", "keep the times that matter")
            return DEFAULT_COLLECT_AFTER
        fix = "list how long after publishing to collect engagement, e.g. [1h, 6h, 24h, 72h, 7d]"
        offsets = []
        for index, item, line in seq_items(value):
            where = f"campaign.collect_after[{index + 1}]"
            if is_blank(item):
                self.error(line, where, "this item is blank", fix)
                continue
            if not isinstance(item, str):
                self.error(line, where, f"expected a length of time, found {describe(item)}", fix)
                continue
            try:
                offsets.append(bounded_duration(item, *COLLECT_AFTER_RANGE, "the time"))
            except TimeProblem as problem:
                self.error(line, where, problem.message, fix)
        return tuple(sorted(set(offsets)))

    # -- facts ------------------------------------------------------------------------------------------

    def _facts(self, value: Any, languages: tuple[str, ...]) -> tuple[dict[str, Phone], dict[str, Link]]:
        if value is None:  # not given (or blank, or not a mapping: reported)
            return {}, {}
        section = Section(value, "facts", self.report, {"phones": MAP, "links": MAP},
                          hints={"phones": "each phone's name, with its `label:` and `number:` indented under it",
                                 "links": "each link's name and its https:// address"})
        phones: dict[str, Phone] = {}
        for key, item, item_line in _entries(section, "phones"):
            where = f"facts.phones.{brief(key)}"
            phone = Section.of(item, where, item_line, self.report, {"label": TEXT, "number": TEXT},
                               required=("label", "number"),
                               hints={"label": "what the number is, such as 'Modern Slavery Helpline'",
                                      "number": "the number as it should be printed, in quotes, such as '101'"})
            if phone is None or "number" not in phone:
                continue
            number = phone.get("number")
            if isinstance(phone.data.get("number"), int) and not isinstance(phone.data.get("number"), bool):
                # Reported by get(): a number must be quoted so zeros and spacing survive. Keep it known, so
                # every template using it does not report a second, misleading problem.
                phones[key] = Phone(key, phone.get("label", key), str(phone.data["number"]))
                continue
            if number is not None and not _PHONE.fullmatch(number):
                self.error(phone.value_line("number"), where, f"{shown(number)} is not a phone number",
                           "write digits, with single spaces or hyphens between groups, as it should be printed, "
                           "e.g. '08000 121 700' or '0800-555-111'")
                continue
            if number is not None:
                phones[key] = Phone(key, phone.get("label", key), number)
        links: dict[str, Link] = {}
        for key, item, item_line in _entries(section, "links"):
            where = f"facts.links.{brief(key)}"
            by_language: dict[str, str] = {}
            if isinstance(item, str) and not is_blank(item):
                url, label = item, key
            else:
                # In a plan with languages, a link may give its version in a language: `cy: https://…`.
                link = Section.of(item, where, item_line, self.report,
                                  {"url": TEXT, "label": TEXT, **dict.fromkeys(languages, TEXT)}, ("url",),
                                  hints={"url": "the https:// address", "label": "what the link is",
                                         **{tag: f"the address of its {bilingual.name(tag)} version"
                                            for tag in languages}})
                if link is None or link.get("url") is None:
                    continue
                url, label = link.get("url"), link.get("label", key)
                by_language = {tag: link.get(tag) for tag in languages if link.get(tag) is not None}
            wrong = [written for written in (url, *by_language.values()) if not _HTTPS.fullmatch(written)]
            if wrong:
                self.error(item_line, where, f"{shown(wrong[0])} is not an https:// link",
                           "write the full address starting with https://")
                continue
            links[key] = Link(key, url, label, by_language)
        return phones, links

    # -- accounts ---------------------------------------------------------------------------------------

    def _accounts(self, value: Any, campaign: Campaign) -> dict[str, Account]:
        accounts: dict[str, Account] = {}
        if not isinstance(value, YamlMap):  # not given (or blank, or not a mapping: reported)
            return accounts
        if not value:
            self.error(value.line, "accounts", "the plan has no accounts",
                       "add at least one, with its `platform:`, `handle:` and `credentials:`")
        top = Section(value, "accounts", self.report, {k: MAP for k in value}, blanks=False)
        for account_id, item, line in top.items():
            where = f"accounts.{brief(account_id)}"
            # Until it is loaded, the account is one that failed (each way it can fail is reported below).
            written = item.get("platform") if isinstance(item, YamlMap) else None
            self.failed_accounts[account_id] = written if isinstance(written, str) and written in PLATFORMS else None
            if not self.check_id(account_id, line, where):
                continue
            if not isinstance(item, YamlMap):
                Section.of(item, where, line, self.report, ACCOUNT_KEYS)  # reports it
                continue
            section = Section(item, where, self.report, ACCOUNT_KEYS, required=("platform", "handle", "credentials"),
                              hints=ACCOUNT_HINTS, secret_keys=("credentials",))
            platform = section.get("platform")
            if platform is None:
                continue
            if platform not in PLATFORMS:
                self.error(section.value_line("platform"), f"{where}.platform",
                           f"there is no platform {shown(platform)}",
                           did_you_mean(platform, list(PLATFORMS), "the platforms are"))
                continue
            del self.failed_accounts[account_id]
            handle = self.text(section, "handle") or ""
            pattern, example = _HANDLES[platform]
            if handle and not pattern.fullmatch(handle):
                address = re.search(r"linkedin\.com/company/([A-Za-z0-9-]+)", handle) if platform == "linkedin" else None
                self.error(section.value_line("handle"), f"{where}.handle",
                           f"{shown(handle)} is not {example.split(' such as ')[0].split(':')[0]}",
                           f"write the name in the address only: {address.group(1)!r}" if address
                           else f"write {example}")
            api_base = self.text(section, "api_base")
            if api_base is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", api_base):
                self.error(section.value_line("api_base"), f"{where}.api_base", f"{shown(api_base)} is not a URL",
                           "write the API's base address, e.g. 'http://127.0.0.1:8787'")
            credentials = self._credentials(section, platform, where)
            languages, pair = bilingual.account_languages(self, section, campaign, where, line)
            media_host = read_media_host(self, section, platform, where)
            accounts[account_id] = Account(account_id, platform, handle, credentials, api_base, line, languages, pair,
                                           section.value_line("pair") if pair else 0, media_host)
        if campaign.bilingual:
            checked = bilingual.check_pairs(self, accounts, campaign)
            for left_out in accounts.keys() - checked.keys():  # reported: posts naming it skip it silently
                self.failed_accounts[left_out] = accounts[left_out].platform
            accounts = {key: account for key, account in accounts.items() if key in checked}
            accounts.update(checked)
        return accounts

    def _credentials(self, section: Section, platform: str, where: str) -> dict[str, str]:
        """The names of the environment variables holding the account's credentials.

        Whatever is written where a name should be, it is never quoted back: it may be the secret itself.
        """
        names: dict[str, str] = {}
        if "credentials" not in section:  # missing or blank: reported
            return names
        spec = PLATFORMS[platform]
        allowed = spec.credentials + spec.optional_credentials
        value = section.data["credentials"]
        fix = ("write the NAME of the environment variable that holds each credential, e.g. "
               "`access_token: LANCS_X_ACCESS_TOKEN`, and rotate the secret if it was real")
        if not isinstance(value, YamlMap):
            self.error(section.value_line("credentials"), f"{where}.credentials",
                       f"expected the names of environment variables, one per credential, found "
                       f"{describe(value, secret=True)} (not shown: it may be a secret)", fix)
            return names
        credentials = Section(value, f"{where}.credentials", self.report, {name: TEXT for name in allowed},
                              required=spec.credentials, secret=True,
                              hints=dict.fromkeys(allowed, "the NAME of the environment variable that holds it"))
        for name, variable, line in credentials.items():
            if name not in allowed or name in credentials.blank:
                continue  # reported
            problem = None
            if not isinstance(variable, str):
                problem = f"this is {describe(variable, secret=True)}, not the name of an environment variable"
            elif not is_variable_name(variable):
                problem = "this is not the name of an environment variable"
            elif looks_secret(variable):
                problem = "this looks like a secret, not the name of an environment variable"
            if problem is not None:
                # Never quote the value: it may be the secret itself.
                self.error(line, f"{where}.credentials.{name}",
                           f"{problem} (not shown: it may be a secret, and you must never put a secret in a plan)",
                           fix)
                continue
            names[name] = variable
        return names

    # -- events -----------------------------------------------------------------------------------------

    def _events(self, value: Any, zone: ZoneInfo) -> dict[str, Event]:
        events: dict[str, Event] = {}
        if not isinstance(value, YamlMap):  # not given (or blank, or not a mapping: reported)
            return events
        top = Section(value, "events", self.report, {k: MAP for k in value}, blanks=False)
        for event_id, item, line in top.items():
            where = f"events.{brief(event_id)}"
            self.failed_events.add(event_id)  # until it is loaded (each way it can fail is reported below)
            if not self.check_id(event_id, line, where):
                continue
            section = Section.of(item, where, line, self.report,
                                 {"title": TEXT, "start": TIME, "end": TIME, "location": TEXT, "details": TEXT},
                                 required=("title", "start"), hints=EVENT_HINTS)
            if section is None:
                continue
            start = self._time(section, "start", zone)
            end = self._time(section, "end", zone)
            if start is None:
                continue
            self.failed_events.discard(event_id)
            if end is not None and end.utc <= start.utc:
                self.error(section.value_line("end"), f"{where}.end", f"the event ends ({end.label()}) before it "
                           f"starts ({start.label()})", "correct the start or the end")
            events[event_id] = Event(event_id, section.get("title", event_id), start, end,
                                     section.get("location"), section.get("details"), line)
        return events

    def _time(self, section: Section, key: str, zone: ZoneInfo) -> ScheduledTime | None:
        value = section.get(key)
        if value is None:  # not given (or blank, or the wrong kind: reported)
            return None
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
        if len(key) > MAX_ID:
            self.error(line, where, f"the id {shown(key)} is too long; an id may be at most {MAX_ID} characters",
                       f"use a shorter id, e.g. {_slug(key)[:40]!r}")
            return False
        if _ID.fullmatch(key):
            return True
        self.error(line, where, f"{shown(key)} is not a usable id",
                   f"use lower-case letters, digits, '-' and '_', e.g. {_slug(key)[:40]!r}")
        return False


ACCOUNT_KEYS: dict[str, type | tuple[type, ...]] = {
    "platform": TEXT, "handle": TEXT, "credentials": MAP, "api_base": TEXT, "media_host": MAP,
    # In a plan with languages (campaign/plan/bilingual.py):
    "language": TEXT, "languages": LIST, "pair": TEXT,
}


def _entries(section: Section, key: str) -> list[tuple[str, Any, int]]:
    value = section.get(key)
    if not isinstance(value, YamlMap):
        return []
    return [(str(k), v, value.key_lines.get(k, value.line)) for k, v in value.items()]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "campaign"
