"""Wall-clock times in a campaign's time zone, and the instants they mean.

A plan speaks in local wall time ("Tuesday at 09:00" in Europe/London). Every scheduled time is kept
three ways — the wall time, the zone and the UTC instant — and a wall time that happens twice (clocks
go back) or never (clocks go forward) is refused with the instants the author can choose between,
never silently moved as APScheduler would. "Every day at 09:00" adds days in local time, not 24 h.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaign.problems import shown

EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
"""A plan's dates and times lie between these days: far enough either way for any campaign, and far
from the ends of Python's calendar, so no sum of a date and an offset can overflow."""
MAX_OFFSET = timedelta(days=366)
"""The furthest a post may be from its event, before or after."""
_ZONE_CHOICE = r"(?P<choice>[A-Za-z]{1,6}|[+-]\d{2}:?\d{2})"

_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<clock>\d{1,2}:\d{2})"
    r"(?:\s*" + _ZONE_CHOICE + r")?$"
)
_CLOCK = re.compile(r"^(?P<hour>\d{1,2}):(?P<minute>\d{2})$")
# Numbers are read as whole numbers and checked against their bounds before any date arithmetic.
_OFFSET = re.compile(
    r"^(?P<sign>[+-])?\s*(?:(?P<days>\d{1,15})\s*d)?\s*(?:(?P<hours>\d{1,15})\s*h)?\s*"
    r"(?:(?P<minutes>\d{1,15})\s*m(?:in)?)?"
    r"\s*(?:(?:at\s+)?(?P<clock>\d{1,2}:\d{2})(?:\s*" + _ZONE_CHOICE + r")?)?$"
)


class TimeProblem(ValueError):
    """A time that cannot be used, with what is wrong and how to fix it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True, order=True)
class ScheduledTime:
    """One moment, as the UTC instant and as the wall time in the campaign's zone."""

    utc: datetime
    local: datetime
    """Naive wall time in :attr:`zone`."""
    zone: str

    @property
    def aware(self) -> datetime:
        return self.utc.astimezone(ZoneInfo(self.zone))

    @property
    def abbreviation(self) -> str:
        return self.aware.tzname() or self.zone

    def label(self) -> str:
        """``2027-03-15 09:00 GMT``."""
        return f"{self.local:%Y-%m-%d %H:%M} {self.abbreviation}"


def as_utc(value: datetime) -> datetime:
    """*value* as an aware datetime; a naive one is taken to be UTC (how SQLite hands back stored instants)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso_utc(value: datetime, timespec: str = "auto") -> str:
    """``2027-03-15T09:00:00Z``: an instant in ISO 8601, in UTC."""
    if value.tzinfo is UTC:  # as the store returns them: no conversion needed
        return value.isoformat(timespec=timespec)[:-6] + "Z"
    return as_utc(value).astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise TimeProblem(
            f"{name!r} is not an IANA time zone",
            "use a name like 'Europe/London' (see the tz database's zone.tab)",
        ) from None


MAX_TIME_TEXT = 40
"""The longest text read as a time, date, offset or duration; longer is refused before any pattern runs."""


def _short(value: object) -> str:
    text = str(value).strip()
    if len(text) > MAX_TIME_TEXT:
        raise TimeProblem(f"{shown(text)} is too long to be a time", "write a date, a time or a duration, e.g. "
                          "'2027-03-15 09:00', '-1d 18:00' or '10m'")
    return text


def parse_clock(text: str) -> time:
    text = _short(text)
    match = _CLOCK.match(text)
    if match is None:
        raise TimeProblem(f"{shown(text)} is not a time of day", "write it as HH:MM in 24-hour time, e.g. '18:00'")
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        raise TimeProblem(f"{shown(text)} is not a time of day", "hours run 00-23 and minutes 00-59, e.g. '18:00'")
    return time(hour, minute)


def in_range(day: date, written: str) -> date:
    """*day*, if it lies between :data:`EARLIEST` and :data:`LATEST`; otherwise a problem quoting *written*."""
    if not EARLIEST <= day <= LATEST:
        raise TimeProblem(f"{written} is out of range: a plan's dates lie between {EARLIEST} and {LATEST}",
                          "check the year")
    return day


def parse_date(value: object) -> date:
    if isinstance(value, datetime):
        raise TimeProblem(f"{value:%Y-%m-%d %H:%M} has a time", "write only the date, e.g. 2027-03-15")
    if isinstance(value, date):
        return in_range(value, value.isoformat())
    text = _short(value)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise TimeProblem(f"{shown(text)} is not a date", "write it as YYYY-MM-DD, e.g. 2027-03-15") from None
    return in_range(day, repr(text))


def parse_local(value: object, zone: ZoneInfo) -> ScheduledTime:
    """A plan's absolute time: ``2027-03-15 09:00``, optionally ``… BST`` or ``… +01:00`` to choose."""
    if isinstance(value, datetime):
        in_range(value.date(), f"{value:%Y-%m-%d %H:%M}")
        if value.tzinfo is not None:
            return _from_instant(value, zone)
        return resolve(value, zone)
    if isinstance(value, date):
        raise TimeProblem(f"{value} has no time of day", f"add one, e.g. '{value} 09:00'")
    text = _short(value)
    match = _DATETIME.match(text)
    if match is None:
        raise TimeProblem(
            f"{shown(text)} is not a date and time",
            "write it as 'YYYY-MM-DD HH:MM' in the campaign's time zone, e.g. '2027-03-15 09:00'",
        )
    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        raise TimeProblem(f"{match['date']!r} is not a real date", "check the month and day") from None
    in_range(day, repr(text))
    return resolve(datetime.combine(day, parse_clock(match["clock"])), zone, match["choice"])


def _from_instant(value: datetime, zone: ZoneInfo) -> ScheduledTime:
    utc = value.astimezone(UTC)
    return ScheduledTime(utc, utc.astimezone(zone).replace(tzinfo=None), zone.key)


Written = Callable[[datetime, "str | None"], str]
"""How the author writes a wall time, optionally with the zone that picks it: used in suggested fixes."""


def _as_date_time(wall: datetime, choice: str | None) -> str:
    return f"{wall:%Y-%m-%d %H:%M}" + (f" {choice}" if choice else "")


def resolve(wall: datetime, zone: ZoneInfo, choice: str | None = None, written: Written = _as_date_time) -> ScheduledTime:
    """The instant of wall time *wall* in *zone*; refuses times that happen twice or never.

    *choice* (a zone abbreviation such as ``BST`` or a UTC offset such as ``+01:00``) picks one of the
    two instants of an ambiguous time, and must agree with the zone otherwise. *written* says how the
    author writes a time, for the fixes the problems suggest (``'2026-10-25 01:30 BST'``, ``'-1d 01:30 BST'``).
    """
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    candidates = {first.utcoffset(): first}
    candidates.setdefault(second.utcoffset(), second)
    real = [c for c in candidates.values() if c.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall]
    if not real:
        raise _gap_problem(wall, zone, written)
    if choice is not None:
        chosen = [c for c in real if _matches(c, choice)]
        if not chosen:
            names = " or ".join(_choice_name(c) for c in real)
            raise TimeProblem(
                f"{wall:%Y-%m-%d %H:%M} in {zone.key} is {names}, not {choice!r}",
                f"write '{written(wall, _choice_name(real[0]))}' or leave the zone off",
            )
        real = chosen
    if len(real) > 1:
        options = " and ".join(f"{c.astimezone(UTC):%H:%M} UTC ({c:%H:%M} {c.tzname()})" for c in real)
        picks = " or ".join(f"'{written(wall, _choice_name(c))}'" for c in real)
        raise TimeProblem(
            f"{wall:%Y-%m-%d %H:%M} happens twice in {zone.key} as the clocks go back: at {options}",
            f"choose one: write {picks}",
        )
    instant = real[0]
    return ScheduledTime(instant.astimezone(UTC), wall, zone.key)


def _choice_name(instant: datetime) -> str:
    name = instant.tzname() or ""
    if name and name[0].isalpha():
        return name
    offset = instant.utcoffset() or timedelta(0)
    return _format_offset(offset)


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _matches(instant: datetime, choice: str) -> bool:
    offset = instant.utcoffset() or timedelta(0)
    if choice.upper() in ("Z", "UTC"):
        return offset == timedelta(0)
    if choice[0] in "+-":
        digits = choice[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        return offset == timedelta(minutes=minutes if choice[0] == "+" else -minutes)
    return (instant.tzname() or "").upper() == choice.upper()


def _gap_problem(wall: datetime, zone: ZoneInfo, written: Written = _as_date_time) -> TimeProblem:
    # The gap lies between the two readings of the wall time; find the first instant after the change.
    low = min(wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    high = max(wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    before_offset = low.astimezone(zone).utcoffset()
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before_offset:
            low = middle
        else:
            high = middle
    change = high.replace(second=0, microsecond=0)
    if change.astimezone(zone).utcoffset() == before_offset:
        change += timedelta(minutes=1)
    last = (change - timedelta(minutes=1)).astimezone(zone)
    first = change.astimezone(zone)
    old_clock = (change + (last.utcoffset() or timedelta(0))).replace(tzinfo=None)
    return TimeProblem(
        f"{wall:%Y-%m-%d %H:%M} never happens in {zone.key}: the clocks go forward from "
        f"{old_clock:%H:%M} {last.tzname()} to {first:%H:%M} {first.tzname()}",
        f"choose {last:%H:%M} {last.tzname()} ({change - timedelta(minutes=1):%H:%M} UTC) "
        f"or {first:%H:%M} {first.tzname()} ({change:%H:%M} UTC), e.g. '{written(first.replace(tzinfo=None), None)}'",
    )


@dataclass(frozen=True)
class Offset:
    """When a post goes out relative to an event's start.

    ``-1d 18:00`` is the day before at 18:00 (local); ``+1h`` is one hour after the start (elapsed
    time); ``-2d`` is two days before at the same wall time; ``start`` is the start itself. On the night
    the clocks go back, ``-1d 01:30 BST`` picks the first 01:30 and ``-1d 01:30 GMT`` the second.
    """

    days: int = 0
    elapsed: timedelta = timedelta(0)
    clock: time | None = None
    choice: str | None = None
    """The zone abbreviation or UTC offset written after the clock, to pick one reading of an ambiguous time."""
    day_part: str = ""
    """What was written before the clock (``-1d ``), to suggest the same form in a fix."""

    def apply(self, start: ScheduledTime) -> ScheduledTime:
        zone = ZoneInfo(start.zone)
        wall_day = start.local.date() + timedelta(days=self.days)
        wall = datetime.combine(wall_day, self.clock or start.local.time())
        anchored = resolve(wall, zone, self.choice, self._written) if (self.days or self.clock) else start
        if not self.elapsed:
            return anchored
        return _from_instant(anchored.utc + self.elapsed, zone)

    def _written(self, wall: datetime, choice: str | None) -> str:
        return f"{self.day_part}{wall:%H:%M}" + (f" {choice}" if choice else "")


def parse_offset(value: object) -> Offset:
    text = _short(value)
    if text.lower() in ("start", "at start", "0"):
        return Offset()
    match = _OFFSET.match(text)
    if match is None or not any(match[g] for g in ("days", "hours", "minutes", "clock")):
        raise TimeProblem(
            f"{shown(text)} is not a time relative to the event",
            "write 'start', '-1d 18:00' (the day before at 18:00), '+1h' (an hour after the start), "
            "'-30m', or '09:00' (the event's day at 09:00)",
        )
    sign = -1 if match["sign"] == "-" else 1
    clock = parse_clock(match["clock"]) if match["clock"] else None
    if clock is not None and (match["hours"] or match["minutes"]):
        raise TimeProblem(
            f"{shown(text)} mixes hours with a time of day",
            "write either a time of day ('-1d 18:00') or a duration ('+1h30m'), not both",
        )
    days = int(match["days"] or 0)
    hours, minutes = int(match["hours"] or 0), int(match["minutes"] or 0)
    if (days * 24 + hours) * 60 + minutes > MAX_OFFSET.days * 24 * 60:  # in whole numbers: never an overflow
        raise TimeProblem(f"{shown(text)} is more than {MAX_OFFSET.days} days from the event",
                          "a post goes out within a year of its event; check the number")
    elapsed = timedelta(hours=hours, minutes=minutes)
    day_part = text[:match.start("clock")] if match["clock"] else ""
    return Offset(days=sign * days, elapsed=sign * elapsed, clock=clock, choice=match["choice"], day_part=day_part)


def daily(start: date, end: date, clock: time, zone: ZoneInfo) -> list[tuple[date, ScheduledTime | TimeProblem]]:
    """Each day from *start* to *end* (inclusive) at *clock*, added in local time."""
    days: list[tuple[date, ScheduledTime | TimeProblem]] = []
    day = start
    while day <= end:
        try:
            days.append((day, resolve(datetime.combine(day, clock), zone)))
        except TimeProblem as problem:
            days.append((day, problem))
        if day >= LATEST:
            break
        day += timedelta(days=1)
    return days


_DURATION = re.compile(
    r"^(?:(?P<days>\d{1,15})\s*d)?\s*(?:(?P<hours>\d{1,15})\s*h)?\s*(?:(?P<minutes>\d{1,15})\s*m(?:in)?)?$"
)
MAX_DURATION = timedelta(days=366)
"""The longest duration read at all; each use has its own, shorter bounds (:func:`bounded_duration`)."""


def parse_duration(text: str) -> timedelta:
    """``10m``, ``1h``, ``1h30m``, ``7d``: a length of time, at most :data:`MAX_DURATION`."""
    text = _short(text)
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        raise TimeProblem(f"{shown(text)} is not a duration", "write it like '10m', '6h', '1h30m' or '7d'")
    days, hours, minutes = (int(match[name] or 0) for name in ("days", "hours", "minutes"))
    if (days * 24 + hours) * 60 + minutes > MAX_DURATION.days * 24 * 60:  # in whole numbers: never an overflow
        raise TimeProblem(f"{shown(text)} is more than {MAX_DURATION.days} days", "check the number")
    return timedelta(days=days, hours=hours, minutes=minutes)


def bounded_duration(text: str, shortest: timedelta, longest: timedelta, what: str) -> timedelta:
    """A duration (:func:`parse_duration`) between *shortest* and *longest*; *what* names it in the problem."""
    duration = parse_duration(text)
    if not shortest <= duration <= longest:
        raise TimeProblem(f"{what} {shown(text.strip())} is out of range",
                          f"write a length of time from {describe_duration(shortest)} to {describe_duration(longest)}")
    return duration


def describe_duration(value: timedelta) -> str:
    """``10m``, ``24h``, ``90d``: as a plan writes it."""
    minutes = int(value.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
