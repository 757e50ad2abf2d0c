"""The locked-down Jinja environment every post template is rendered in.

A plan is written under time pressure and sometimes copied from someone else, so a template is treated
as untrusted input. :class:`TemplateSandbox` (Jinja's immutable sandbox, tightened):

- **sees data, nothing else.** The context holds strings, numbers, booleans, dates and read-only
  :class:`Record` s and tuples of those (:func:`plain`): the plan's facts, events and campaign, the post's
  vars. No path, no plan object, nothing whose methods reach the file system or change what a later post
  sees. Attributes are allowed from a short list per kind of value (``upper`` on text, ``weekday`` on a
  date, ``index`` on ``loop`` …); anything else — ``__class__``, ``mro``, ``__globals__`` — is an error
  naming the template and line, never output.
- **is bounded.** Each render may take :data:`MAX_STEPS` steps (loop items, calls, filters, numbers a
  ``range()`` makes) and :data:`MAX_SECONDS` seconds; no value it builds — text, list, number — may be
  over :data:`MAX_VALUE` characters (``'x' * 3000000000`` is refused before it is made), it may print
  :data:`MAX_PRINTED` characters in all and a post may be :data:`MAX_OUTPUT` long. The bounds are written
  into the code Jinja generates (:class:`_CodeGenerator`) and checked before any operation that could
  make something large (:data:`_FILTER_SIZES`).
- **reads templates only from inside the campaign folder** (:class:`CampaignLoader`, with
  :mod:`campaign.plan.paths`), so ``{% include '/etc/passwd' %}`` and symlinks out are refused.

``StrictUndefined`` stays: a misspelt name is an error with the template's name and line (:class:`PlanUndefined`),
never a blank in a published post. Decision 0008 explains the choices and the limits.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sized
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache, partial, update_wrapper
from pathlib import Path
from typing import Any, NoReturn, cast

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from jinja2 import BaseLoader, StrictUndefined, Template, TemplateNotFound, Undefined, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateModule
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.runtime import BlockReference, Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Namespace, missing

from campaign.plan import Event
from campaign.plan.languages import tags_of
from campaign.plan.paths import OutsideCampaign, UnusablePath, inside
from campaign.times import ScheduledTime

MAX_OUTPUT = 100_000
"""The longest a post's rendered text may be, in characters (Facebook, the most generous, takes 63,206)."""
MAX_VALUE = 100_000
"""The largest value a template may build (text, or a list or record of values), in characters as printed."""
MAX_PRINTED = 1_000_000
"""How much one render may print in all, in characters, counting what it builds up in `{% set %}` blocks
and macros as well as the post itself."""
MAX_STEPS = 1_000_000
"""How much work one render may do: one step for each item a loop goes through, each call and filter, and
one for each number a `range()` makes or character a filter or method produces."""
MAX_SECONDS = 1.0
"""How long one render may take: the bundled posts take well under a millisecond each."""
MAX_RANGE = 100_000
"""The most numbers one `range()` may make."""
MAX_DEPTH = 50
"""How deeply macros (and recursive loops) may call each other."""
MAX_NESTING = 64
"""How deeply a value a template builds may nest (a list in a list …)."""
MAX_INT_BITS = 20_000
"""The largest whole number a template may compute, in bits (about 6,000 digits)."""
MAX_TEMPLATE = 100_000
"""The longest a template may be, in characters."""

LIMIT_FIX = ("a post template needs a few short loops at most: look for a large range(), a loop inside a loop, "
             "a macro that calls itself, or text multiplied by a large number")
DATA_ONLY_FIX = ("templates see the plan's values only (facts, events, the campaign, the post's vars, `when`); "
                 "use those, with filters such as | day, | clock, | upper")
UNDEFINED_FIX = "correct the template; every {{ name }} must be a fact, an event field or one of the post's vars"
NONE_FIX = ("print only values that are set: test a field the plan may leave out first, "
            "{% if event.location %}…{% endif %}, or give a default, event.location | default('…')")



def format_day(value: date | datetime | ScheduledTime, language: str = "en") -> str:
    """``Tuesday 16 March``; in another language, its own words and order, from CLDR's data through Babel
    (Welsh: ``Dydd Mawrth 16 Mawrth``)."""
    if isinstance(value, ScheduledTime):
        value = value.local
    locale = _babel_locale(language)
    if locale is not None:
        return str(babel_dates.format_date(value, "EEEE d MMMM", locale=locale))
    return f"{value:%A} {value.day} {value:%B}"


def format_clock(value: datetime | ScheduledTime, language: str = "en") -> str:
    """``6pm``, ``10.30am``: the house style for times in posts; in another language, its usual short form from
    CLDR's data through Babel (Welsh: ``18:00``)."""
    if isinstance(value, ScheduledTime):
        value = value.local
    locale = _babel_locale(language)
    if locale is not None:
        return str(babel_dates.format_time(value, "short", locale=locale))
    hour = value.hour % 12 or 12
    suffix = "am" if value.hour < 12 else "pm"
    if value.hour == 12 and value.minute == 0:
        return "midday"
    return f"{hour}{suffix}" if value.minute == 0 else f"{hour}.{value.minute:02d}{suffix}"




@lru_cache(maxsize=64)
def _babel_locale(language: str) -> Locale | None:
    """Babel's locale for the language tag *language*; None for English (the house style) and for a language
    CLDR does not know (then English, as before a plan could name another)."""
    first = tags_of(language)[0]
    if first.split("-")[0].lower() == "en":
        return None
    try:
        return Locale.parse(first, sep="-")
    except (UnknownLocaleError, ValueError):
        return None


@pass_context
def _day_filter(context: Context, value: date | datetime | ScheduledTime) -> str:
    """`| day`, in the language of the words being rendered (the post's, or in a plan with languages, each
    language's own)."""
    return format_day(value, _language_of(context))


@pass_context
def _clock_filter(context: Context, value: datetime | ScheduledTime) -> str:
    """`| clock`, in the language of the words being rendered."""
    return format_clock(value, _language_of(context))


def _language_of(context: Context) -> str:
    post = context.get("post")
    language = post.get("language") if isinstance(post, Mapping) else None
    return language if isinstance(language, str) else "en"


# -- what templates see: plain, read-only data ---------------------------------------------------------------


class Record(Mapping[str, Any]):
    """A read-only record that templates read with dots (``phones.helpline.label``).

    It knows its name, so a misspelt field is reported with the ones that exist, and it may print as one of
    its fields (a verified number prints as the number, a link as its URL). It has no methods a template
    can use beyond ``keys``, ``values``, ``items`` and ``get``, and none that change it.

    A field given as None is one the plan does not set (an event without `location:`). It is not in the
    record: in a template it is undefined, never the text "None". Printing it is an error that says the
    field is not set (:class:`UnsetField`); testing it is not: ``{% if event.location %}`` and
    ``{% if event.location is defined %}`` are false, and ``event.location | default('…')`` gives the default.
    """

    __slots__ = ("_data", "_name", "_label", "_shows", "_unset", "_title")

    def __init__(self, name: str, data: Mapping[str, Any], label: str, shows: str | None = None,
                 title: str | None = None) -> None:
        self._data = {key: value for key, value in data.items() if value is not None}
        self._unset = tuple(key for key, value in data.items() if value is None)
        self._name = name
        self._label = label
        self._shows = shows
        self._title = title or f"{{{{ {name} }}}}"

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = missing) -> Any:
        """The field *key*; if it is not there, *default* if one is given, else an undefined value that is
        false in a test and an error if printed (never None, which would print as "None")."""
        if key in self._data:
            return self._data[key]
        if default is not missing:
            return default
        if key in self._unset:
            return self.undefined(key)
        return UnsetField(hint=f"{{{{ {self._name}.get({key!r}) }}}}: there is no {key!r}; {self.missing_message}",
                          obj=self, name=key, exc=cast(Any, partial(NotSetError, fix=UNDEFINED_FIX)))

    def undefined(self, key: str) -> StrictUndefined:
        """What a template gets for *key*, which the record does not have: a field not set (:class:`UnsetField`),
        or one that does not exist (:class:`PlanUndefined`); printing either is an error saying which."""
        if key in self._unset:
            fix = (f"add `{key}:` to {self._title} in the plan, or print it only where it is set: "
                   f"{{% if {self._name}.{key} %}}…{{% endif %}}")
            return UnsetField(hint=f"{{{{ {self._name}.{key} }}}}: {self._title} has no {key} (`{key}:` is not "
                              "set in the plan)", obj=self, name=key, exc=cast(Any, partial(NotSetError, fix=fix)))
        return PlanUndefined(obj=self, name=key)

    def is_unset(self, key: str) -> bool:
        """Whether *key* is a field of the record that the plan does not set."""
        return key in self._unset

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __str__(self) -> str:
        return str(self._data[self._shows]) if self._shows is not None else repr(self)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._data.items()) + "}"

    @property
    def missing_message(self) -> str:
        unset = f" (not set here: {', '.join(sorted(self._unset))})" if self._unset else ""
        return f"the {self._label} are: {', '.join(sorted(self._data)) or 'none'}{unset}"

    @property
    def name(self) -> str:
        return self._name


def _local(value: ScheduledTime | None) -> datetime | None:
    """The wall time of *value* in the campaign's zone, as a plain (naive) datetime."""
    return None if value is None else value.local


def event_record(event: Event) -> Record:
    """An event as templates see it: its fields, with its times as plain local datetimes. A field the plan does
    not set (`end:`, `location:`, `details:`) is undefined, not None (see :class:`Record`)."""
    return Record("event", {"id": event.id, "title": event.title, "start": _local(event.start),
                            "end": _local(event.end), "location": event.location, "details": event.details},
                  "event's fields", title=f"the event {event.id!r}")


def plain(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """*value* (read from YAML) as data a template may hold: text, numbers, dates, and tuples and read-only
    records of those. A value repeated through YAML aliases stays one shared value."""
    if isinstance(value, (bool, int, float, date, type(None))):
        return value
    if isinstance(value, str):
        return str(value)
    memo = {} if memo is None else memo
    known = memo.get(id(value))
    if known is not None:
        return known
    converted: Any
    if isinstance(value, Mapping):  # YAML's mappings, with their lines, become read-only records
        converted = Record("vars", {str(k): plain(v, memo) for k, v in value.items()}, "keys")
    elif isinstance(value, (list, tuple)):
        converted = tuple(plain(item, memo) for item in value)
    else:  # anything else YAML can hold (a number too long to read) is its text
        converted = str(value)
    memo[id(value)] = converted
    return converted


def size_of(value: Any, limit: int = MAX_VALUE) -> int:
    """About how many characters *value* takes when printed, counting a part each time it appears (so a
    list that holds the same long text twice counts it twice). Stops counting a little past *limit*."""
    if type(value) is str:
        return len(value)
    return _Sizer(limit).size(value, 0)


class _Sizer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.memo: dict[int, int] = {}

    def size(self, value: Any, depth: int) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, bool) or value is None:
            return 5
        if isinstance(value, int):
            return value.bit_length() // 3 + 1
        if isinstance(value, (float, date, clock_time, timedelta)):
            return 32
        known = self.memo.get(id(value))
        if known is not None:
            return known
        if depth > MAX_NESTING:
            raise TemplateLimit(f"it builds a value nested more than {MAX_NESTING} deep", LIMIT_FIX)
        self.memo[id(value)] = 0  # a value inside itself counts once
        total = 2
        for part in _parts(value):
            total += self.size(part, depth + 1) + 2
            if total > self.limit:
                break
        self.memo[id(value)] = total
        return total


def _parts(value: Any) -> Iterable[Any]:
    """The values *value* holds, as far as printing it would show them."""
    if isinstance(value, Mapping):
        return itertools.chain.from_iterable(value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    if isinstance(value, Namespace):
        return _parts(object.__getattribute__(value, "_Namespace__attrs"))
    if isinstance(value, Cycler):
        return value.items
    return ()


# -- the sandbox ---------------------------------------------------------------------------------------------


class TemplateLimit(TemplateRuntimeError):
    """A template went past one of the sandbox's bounds."""

    def __init__(self, message: str, fix: str = LIMIT_FIX) -> None:
        super().__init__(message)
        self.fix = fix


class _Budget:
    """What one render may still spend."""

    __slots__ = ("steps", "printed", "depth", "deadline")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.printed = 0
        self.depth = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def spend(self, steps: int = 1) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise TemplateLimit(f"it does too much work: over {MAX_STEPS:,} steps of loops, calls and filters")
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"it takes too long to render: over {MAX_SECONDS:g} second")


_TEXT_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii",
    "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
    "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill",
})
_DATE_ATTRIBUTES = frozenset({
    "year", "month", "day", "hour", "minute", "second", "weekday", "isoweekday", "isoformat", "isocalendar",
    "strftime", "date", "time",
})
_RECORD_METHODS = frozenset({"keys", "values", "items", "get"})
_SEQUENCE_METHODS = frozenset({"count", "index"})
_LOOP_ATTRIBUTES = frozenset({
    "index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0", "previtem",
    "nextitem", "cycle", "changed",
})
_SAFE_ATTRIBUTES: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (str, _TEXT_METHODS),
    ((date, clock_time), _DATE_ATTRIBUTES),
    ((Mapping,), _RECORD_METHODS),
    ((tuple, list), _SEQUENCE_METHODS),
    (LoopContext, _LOOP_ATTRIBUTES),
    (Cycler, frozenset({"next", "current", "reset"})),
    (BlockReference, frozenset({"super"})),
)


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, (str, Sized)) else size_of(value)


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _replace_size(text: str, old: Any, new: Any, count: Any = -1) -> int:
    old, new = str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _format_size(form: str, values: Any) -> int:
    """An upper bound on the length of ``form % values``."""
    if "*" in form:
        raise TemplateLimit("it formats with a '*' width, which templates may not use",
                            "write the width as a number in the format, e.g. '%5s'")
    items = values.values() if isinstance(values, Mapping) else values if isinstance(values, tuple) else (values,)
    widest = max((int(n) for n in re.findall(r"\d+", form)), default=0)
    biggest = max((size_of(item) for item in items), default=0)
    return len(form) + form.count("%") * (biggest + widest)


def _join_size(items: list[Any], separator: Any = "", attribute: Any = None) -> int:
    return sum(size_of(item) for item in items) + len(str(separator)) * len(items)


def _lines(text: str) -> int:
    return text.count("\n") + 1


# Upper bounds on what a filter or a text method makes, from its arguments: checked before it runs.
_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": lambda value, width=80: max(_text_size(value), _number(width)),
    "indent": lambda value, width=4, first=False, blank=False: _text_size(value) + _lines(str(value)) * (
        len(width) if isinstance(width, str) else _number(width)),
    "wordwrap": lambda value, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True: (
        _text_size(value) + (_text_size(value) + 1) * len(wrapstring or "\n")),
    "truncate": lambda value, length=255, killwords=False, end="...", leeway=None: (
        min(_text_size(value), _number(length)) + len(str(end))),
    "replace": lambda value, old, new, count=None: _replace_size(str(value), old, new,
                                                                 -1 if count is None else count),
    "format": lambda value, *args, **kwargs: _format_size(str(value), kwargs or args),
    "join": lambda value, d="", attribute=None: _join_size(list(value), d),
    "sum": lambda value, attribute=None, start=0: sum(size_of(item) for item in value) + size_of(start),
    "batch": lambda value, linecount, fill_with=None: _text_size(value) + _number(linecount),
    "slice": lambda value, slices, fill_with=None: _text_size(value) + _number(slices),
    "urlize": lambda value, trim_url_limit=None, nofollow=False, target=None, rel=None, extra_schemes=None: (
        3 * _text_size(value) + (str(value).count(" ") + 1) * (len(str(target or "")) + len(str(rel or "")) + 64)),
    "filesizeformat": lambda value, binary=False: 32,
}
_TEXT_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "center": lambda text, width, fillchar=" ": max(len(text), _number(width)),
    "ljust": lambda text, width, fillchar=" ": max(len(text), _number(width)),
    "rjust": lambda text, width, fillchar=" ": max(len(text), _number(width)),
    "zfill": lambda text, width: max(len(text), _number(width)),
    "replace": _replace_size,
    "join": lambda text, items: _join_size(list(items), text),
    "strftime": lambda value, form: 40 * len(str(form)),
}


def _materialised(value: Any) -> Any:
    """*value*, or the items of an iterator as a list: at most :data:`MAX_VALUE` of them."""
    if isinstance(value, (Sized, str)) or not isinstance(value, Iterable):
        return value
    items = list(itertools.islice(value, MAX_VALUE + 1))
    if len(items) > MAX_VALUE:
        raise TemplateLimit(f"it goes through more than {MAX_VALUE:,} items at once")
    return items


class _Template(Template):
    """A template whose module (what ``{% import %}`` gives) is made afresh for every import, so that no
    render can change what a later one imports."""

    def _get_default_module(self, ctx: Context | None = None) -> Any:
        return self.make_module()


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with the sandbox's bounds written into the code it makes: every loop counts
    its items, and every list, tuple, mapping and `~` joined text is measured as it is made."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, STEPS_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        """Jinja prints constants as it compiles (``{{ 'at ' ~ none }}`` would be the text 'at None'): one that
        holds ``none`` is left to be printed when the template renders, where printing None is refused."""
        if any(const.value is None for const in (node, *node.find_all(nodes.Const)) if isinstance(const, nodes.Const)):
            raise nodes.Impossible()
        return str(super()._output_child_to_const(node, frame, finalize))

    def _checked(self, visit: Callable[[Any, Frame], None], node: nodes.Expr, frame: Frame) -> None:
        self.write("environment.checked(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._checked(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._checked(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":
            self._checked(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)


STEPS_FILTER = "_campaign_steps"


class CampaignLoader(BaseLoader):
    """Templates from the plan's templates folder, each of which must resolve inside the campaign folder."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder / template
        try:
            resolved = inside(path, self.root, template)
        except FileNotFoundError:
            raise TemplateNotFound(template) from None
        except (OutsideCampaign, UnusablePath) as problem:
            raise TemplateLimit(f"the template {problem.message}", problem.fix) from None
        if not resolved.is_file():
            raise TemplateNotFound(template)
        stat = resolved.stat()
        if stat.st_size > 4 * MAX_TEMPLATE:
            raise TemplateLimit(f"the template {template!r} is {stat.st_size:,} bytes; a template may be at most "
                                f"{MAX_TEMPLATE:,} characters", "split it, or shorten it")
        source = resolved.read_text(encoding="utf-8")
        if len(source) > MAX_TEMPLATE:
            raise TemplateLimit(f"the template {template!r} is {len(source):,} characters; a template may be at "
                                f"most {MAX_TEMPLATE:,}", "split it, or shorten it")
        mtime = stat.st_mtime_ns

        def uptodate() -> bool:
            try:
                return resolved.stat().st_mtime_ns == mtime
            except OSError:
                return False

        return source, str(path), uptodate


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """The locked-down Jinja environment every template is rendered in (see the module's docstring)."""

    code_generator_class = _CodeGenerator
    template_class = _Template
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, loader: BaseLoader | None = None) -> None:
        super().__init__(loader=loader, undefined=PlanUndefined, autoescape=False, trim_blocks=True,
                         lstrip_blocks=True, finalize=self._printed)
        self.budget = _Budget()
        self.filters["day"] = _day_filter
        self.filters["clock"] = _clock_filter
        for name, function in list(self.filters.items()):
            self.filters[name] = self._bounded_filter(name, function)
        self.filters[STEPS_FILTER] = self._counted
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range
        self.concat = self._concat  # type: ignore[method-assign]

    def render(self, template: Template, context: Mapping[str, Any]) -> str:
        """*template* rendered with *context*, within the bounds: a fresh budget for each render."""
        self.budget = _Budget()
        parts: list[str] = []
        length = 0
        stream = cast(Generator[str, None, None], template.generate(context))  # a generator, typed as an iterator
        for part in stream:
            length += len(part)
            if length > MAX_OUTPUT:
                message = f"its text is over {MAX_OUTPUT:,} characters long"
                fix = "shorten it: no platform takes a post this long (Facebook, the longest, takes 63,206)"
                stream.throw(TemplateLimit(message, fix))  # raised where the template was, with its line
                raise TemplateLimit(message, fix)
            parts.append(part)
        return "".join(parts)

    def compiled(self, source: str) -> Template:
        if len(source) > MAX_TEMPLATE:
            raise TemplateLimit(f"the text is {len(source):,} characters; a template may be at most "
                                f"{MAX_TEMPLATE:,}", "shorten it")
        return self.from_string(source)

    # -- what templates may reach

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        if isinstance(obj, (Namespace, TemplateModule)):
            return True
        for kinds, allowed in _SAFE_ATTRIBUTES:
            if isinstance(obj, kinds):
                return attr in allowed
        return False

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        if isinstance(obj, Record):
            raise UndefinedError(f"{{{{ {obj.name}.{attribute} }}}} is not defined; {obj.missing_message}")
        raise SecurityError(f"templates cannot use '.{attribute}' of {_kind(obj)}")

    def wrap_str_format(self, value: Any) -> None:
        """Never: ``str.format`` (which Jinja would hand out, sandboxed, before asking whether an attribute is
        allowed) can pad to any width (``'{:>3000000000}'``); templates use ``| format`` instead."""
        return None

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is Record:
            if attribute in obj:
                return obj[attribute]
            if obj.is_unset(attribute):
                return obj.undefined(attribute)
        self.budget.spend()
        if isinstance(obj, type):  # `dict`, `namespace`, `cycler`: callable, nothing more (`dict['x']` is a type)
            self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is Record and isinstance(argument, str) and obj.is_unset(argument):
            return obj.undefined(argument)
        self.budget.spend()
        if isinstance(obj, type):
            self.unsafe_undefined(obj, str(argument))
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = self.budget
        budget.spend()
        if not self.is_safe_callable(obj):
            raise SecurityError(f"{obj!r} is not safely callable")
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, (str, date, clock_time)):
            estimate = _TEXT_METHOD_SIZES.get(getattr(obj, "__name__", ""))
            if estimate is not None:
                self._within(estimate(owner, *args, **kwargs), f".{obj.__name__}() of {_kind(owner)}")
        if isinstance(obj, (Macro, LoopContext, BlockReference)):
            if budget.depth >= MAX_DEPTH:
                raise TemplateLimit(f"macros or loops call each other more than {MAX_DEPTH} deep")
            budget.depth += 1
            try:
                result = context.call(obj, *args, **kwargs)
            finally:
                budget.depth -= 1
        else:
            result = context.call(obj, *args, **kwargs)
        return self.checked(result)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.budget.spend()
        if operator == "*":
            self._check_product(left, right)
        elif operator == "**":
            self._check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            self._within(_format_size(left, right), "text % values")
        return self.checked(self.binop_table[operator](left, right))

    # -- bounds

    def checked(self, value: Any) -> Any:
        """*value*, if it is within :data:`MAX_VALUE` (raises :class:`TemplateLimit` if not)."""
        size = len(value) if type(value) is str else size_of(value)
        if size > MAX_VALUE:
            raise TemplateLimit(f"it builds a value of over {MAX_VALUE:,} characters")
        return value

    def joined(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b``: the parts as text, joined, if the result is within bounds (and none is None)."""
        if any(part is None for part in parts):
            raise NotSetError("it joins a value that is not set (none) with '~'", NONE_FIX)
        self._within(sum(size_of(part) for part in parts), "'~'")
        return "".join(map(str, parts))

    def _concat(self, parts: Iterable[str]) -> str:
        if not isinstance(parts, list):
            parts = list(parts)
        self._within(sum(map(len, parts)), "a block of text")
        return "".join(parts)

    def _printed(self, value: Any) -> str:
        """What every ``{{ … }}`` prints goes through here (Jinja's ``finalize``): counted against the render's
        budget. Every value a template can hold is within bounds, so turning it into text is too."""
        if value is None:  # nothing in the context is None; a template can still make one (`.get()` of a dict)
            raise NotSetError("it prints a value that is not set (none), which would be the text 'None'", NONE_FIX)
        text = value if type(value) is str else str(value)
        budget = self.budget
        budget.printed += len(text)
        if budget.printed > MAX_PRINTED:
            raise TemplateLimit(f"it prints over {MAX_PRINTED:,} characters in all (counting `set` blocks and "
                                "macros)")
        return text

    def _within(self, size: int, what: str) -> None:
        if size > MAX_VALUE:
            raise TemplateLimit(f"{what} would make over {MAX_VALUE:,} characters")
        self.budget.spend(1 + size // 64)

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimit(f"it multiplies numbers into one of over {MAX_INT_BITS:,} bits")
            return
        times, repeated = (left, right) if isinstance(left, int) else (right, left)
        if isinstance(times, int) and isinstance(repeated, (str, list, tuple)):
            self._within(size_of(repeated) * max(times, 0), f"{_kind(repeated)} * {times:,}")

    def _check_power(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise TemplateLimit(f"'{left} ** {right}' makes a number of over {MAX_INT_BITS:,} bits")

    def _range(self, *args: Any) -> range:
        numbers = range(*args)
        try:
            count = len(numbers)
        except OverflowError:  # more than a machine word can count
            count = MAX_RANGE + 1
        if count > MAX_RANGE:
            raise TemplateLimit(f"range() would make over {MAX_RANGE:,} numbers, the most allowed")
        self.budget.spend(count)
        return numbers

    def _counted(self, items: Any) -> Iterator[Any]:
        """What every `{% for %}` goes through: one step per item."""
        budget = self.budget
        for item in items:
            budget.spend()
            yield item

    def _bounded_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        estimate = _FILTER_SIZES.get(name)
        passes = getattr(function, "jinja_pass_arg", None) is not None

        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.budget.spend()
            offset = 1 if passes else 0
            if len(args) > offset:
                value = _materialised(args[offset])
                args = (*args[:offset], value, *args[offset + 1:])
                if estimate is not None:
                    self._within(estimate(*args[offset:], **kwargs), f"the filter | {name}")
            return self.checked(function(*args, **kwargs))

        return update_wrapper(bounded, function)


class NotSetError(UndefinedError):
    """A template printed a value the plan does not set (an event's location it does not give)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class PlanUndefined(StrictUndefined):
    """Says which name is missing in words an author can act on."""

    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        if isinstance(owner, Record):
            return f"{{{{ {owner.name}.{self._undefined_name} }}}} is not defined; {owner.missing_message}"
        if self._undefined_hint is None and owner is missing:
            return f"{{{{ {self._undefined_name} }}}} is not defined"
        return str(super()._undefined_message)


def _kind(obj: Any) -> str:
    """``a str``, ``a datetime``: what *obj* is, for messages."""
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


class UnsetField(PlanUndefined):
    """A field a record has but the plan does not set (an event's `location:`): printing it (or using it in a
    sum, a loop …) is a :class:`NotSetError` saying so, while testing it is false, not an error:
    ``{% if event.location %}``, ``{% if event.location is defined %}``, ``event.location or '…'``,
    ``event.location == 'Preston'`` and ``event.location | default('…')`` all work."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]  # false, where StrictUndefined raises
        return False

    # Compared, it is equal only to another value that is not set (as Jinja's lenient Undefined), not an error.
    __eq__ = Undefined.__eq__  # type: ignore[assignment]
    __ne__ = Undefined.__ne__  # type: ignore[assignment]
    __hash__ = Undefined.__hash__  # type: ignore[assignment]

    @property
    def _undefined_message(self) -> str:
        return str(self._undefined_hint)
