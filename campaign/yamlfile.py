"""Reading YAML so that every value still knows the line it came from.

The file is parsed by PyYAML's C (libyaml) composer, which keeps the position of every node (but not
PyYAML's YAML 1.1 resolver, which would try its patterns on every scalar: see ``_CLoader``), and turned
into plain values here: mappings become :class:`YamlMap` and lists :class:`YamlList`, which remember the
line of each key, value and item. Plain scalars follow YAML 1.2's core rules, so ``09:00`` stays text
and ``no`` is not ``false`` (PyYAML's own YAML 1.1 rules would turn them into 540 and False).
:class:`Section` wraps one mapping and hands out its values, reporting unknown keys (with a
did-you-mean), missing keys and wrongly typed values as :class:`Problem` s.
"""

from __future__ import annotations

import bisect
import difflib
import gc
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from campaign.problems import MAX_PROBLEMS, Problem, Severity, more_problems, shown

_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_SEQUENCE = "tag:yaml.org,2002:seq"
_MAPPING = "tag:yaml.org,2002:map"
_PLAIN = "plain, untagged"
"""The tag :class:`_Loader` gives a plain scalar written without a tag: one no file can write (a tag holds no
space), so such scalars are told apart from every tagged one."""
_YAML11: Any = yaml.resolver.Resolver()
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$")
# The plain scalars that are not text under the rules of `_core`: these words (and nothing), and what starts
# like a number (numbers, dates, times).
_WORDS: dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None, **_BOOL}
_NUMBER_START = frozenset("0123456789+-.")

# What libyaml refuses to read at all (YAML's printable set), and the line breaks only libyaml counts.
_UNREADABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_ODD_BREAK = re.compile("[\x85\u2028\u2029]|\r(?!\n)")
_ODD_BREAK_CHARS = ("\r", "\x85", "\u2028", "\u2029")

if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser and composer (C), without PyYAML's YAML 1.1 resolver.

        PyYAML asks its resolver for the tag of every scalar, which tries YAML 1.1's patterns on each: half
        the time of reading a plan. Our values follow YAML 1.2 (see :func:`_scalar`), so a plain scalar
        without a tag is only marked as such here; the 1.1 patterns are tried in :func:`_scalar` on the few
        that could be something other than text.
        """

        def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
            if kind is ScalarNode:
                if implicit[0]:
                    return _MERGE if value == "<<" else _PLAIN
                return _STR
            return _SEQUENCE if kind is SequenceNode else _MAPPING

    _Loader: Any = _CLoader
else:  # without libyaml: PyYAML's own (pure Python) parser, slower, with the same results
    _Loader = yaml.SafeLoader

MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest plan read: a national plan of 10,000 posts is about 600 KB."""
MAX_DEPTH = 50
"""How deeply values may nest (a plan needs five or six levels)."""
MAX_NUMBER_LENGTH = 50
"""A plain number longer than this (in characters) is never converted: see :class:`LongNumber`."""
MAX_ALIAS_SIZE = 100_000
"""The most one alias (``*name``) may stand for, counted in characters of the values it repeats."""
MAX_ALIASES_SIZE = 2_000_000
"""The most all aliases of a plan together may stand for: enough for an alias in each of 10,000 posts, and
a billion laughs is refused after a few hundred nodes, in milliseconds."""
ID_CUTOFF = 0.8
"""How alike (difflib's ratio) a written id, platform or template name must be to one that exists for a message
to suggest it. Real typos score 0.86-0.97 (lancs-z → lancs-x 0.86, preston-trainin → preston-training 0.97);
names that merely share a prefix or suffix score 0.58-0.73 (lancs-x → lancs-bluesky 0.60, week-launch →
week-wrap 0.60, preston-training → burnley-training 0.69) and are not suggested: a wrong suggestion sends the
author to the wrong place, while the list of names lets them find the right one."""
KEY_CUTOFF = 0.75
"""The same for an unknown key: keys are short, so one wrong letter costs more (att → at scores 0.80)."""


class YamlMap(dict[Any, Any]):
    """A mapping from the file, with the line of itself and of each key and value."""

    __slots__ = ("key_lines", "line", "value_lines")  # a plan has one for each of its 10,000s of mappings

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}


class YamlList(list[Any]):
    """A list from the file, with the line of itself and of each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class BlockText(str):
    """Text written as a ``|`` or ``>`` block, whose first line is the line after its key."""


class LongNumber:
    """A plain scalar that looks like a number but is too long to be one (``MAX_NUMBER_LENGTH``).

    It is never turned into an ``int`` (Python refuses to read more than 4,300 digits, and nothing in a
    plan needs more than a few): it is kept as this marker, which no key accepts, so the author is told
    it is the wrong kind of value and to quote it if it is meant as text.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"LongNumber({len(self.text)} characters)"


@dataclass
class Reporter:
    """Collects the problems of one file: the first ``limit`` of them, and a count of the rest."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    limit: int = MAX_PROBLEMS
    left_off: int = 0
    first_left_off: Problem | None = None
    left_off_error: bool = False

    def error(self, line: int, where: str, message: str, fix: str) -> None:
        self.add(line, where, message, fix, "error")

    def warn(self, line: int, where: str, message: str, fix: str) -> None:
        self.add(line, where, message, fix, "warning")

    def add(self, line: int, where: str, message: str, fix: str, severity: Severity) -> None:
        if len(self.problems) < self.limit:
            self.problems.append(Problem(self.file, line, where, message, fix, severity))
            return
        if self.first_left_off is None:
            self.first_left_off = Problem(self.file, line, where, message, fix, severity)
        self.left_off += 1
        self.left_off_error = self.left_off_error or severity == "error"

    def all(self) -> list[Problem]:
        """Every problem kept, then (if some were left off) one line saying how many more there are."""
        if self.first_left_off is None:
            return list(self.problems)
        return [*self.problems, more_problems(self.first_left_off, self.left_off, self.left_off_error, self.limit)]


class _Refused(Exception):
    """The file cannot be read safely; the problem has been reported."""


def load_yaml(path: Path, report: Reporter) -> Any:
    """Parse *path*; a syntax error becomes a problem on its line and ``None`` is returned."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            report.error(1, "plan", f"the file is {size:,} bytes long; a plan may be at most {MAX_FILE_BYTES:,}",
                         "split the campaign into several plans")
            return None
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        report.error(1, "plan", f"there is no file {shown(str(path), 200)}", "check the path, or run `campaign init DIR`")
        return None
    except IsADirectoryError:
        report.error(1, "plan", f"{shown(str(path), 200)} is a folder, not a plan", "give the path of the plan's .yaml file")
        return None
    except UnicodeDecodeError as exc:
        report.error(1, "plan", f"the file is not UTF-8 text ({exc.reason})", "save it as UTF-8")
        return None
    except OSError as exc:
        report.error(1, "plan", f"the file cannot be read ({exc.strerror or exc})", "check the path and its permissions")
        return None
    unreadable = _UNREADABLE.search(text, 1 if text.startswith("\ufeff") else 0)
    if unreadable is not None:
        # libyaml refuses these with a byte position and no line; say where it is and what it is.
        report.error(text.count("\n", 0, unreadable.start()) + 1, "plan",
                     f"the line holds the control character {shown(unreadable.group())}, which YAML does not allow",
                     "delete it (it may have come with text pasted from another program)")
        return None
    with collector_paused():
        return _read(text, report)


def _read(text: str, report: Reporter) -> Any:
    lines = _Lines(text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = lines.of(mark) if mark is not None else 1
        what = exc.problem or exc.context or "the YAML cannot be read"
        report.error(line, "plan", f"YAML syntax: {what}", _yaml_fix(what))
        return None
    except (yaml.YAMLError, RecursionError) as exc:
        report.error(1, "plan", f"YAML syntax: {exc}", "check the indentation and quoting")
        return None
    if node is None:
        return None
    composer = _Composer(text, lines, report)
    try:
        return composer.value(node, 0)
    except _Refused:
        return None


class CollectorPause:
    """Python's cycle collector, held off by :func:`collector_paused` (if it was on)."""

    def __init__(self) -> None:
        self.paused = False

    def resume(self) -> None:
        """Turn the collector back on now, if this pause turned it off."""
        if self.paused:
            self.paused = False
            gc.enable()


@contextmanager
def collector_paused() -> Iterator[CollectorPause]:
    """Python's cycle collector held off while a plan is read (and rendered: see
    :func:`campaign.render.render_plan`).

    Reading a plan makes hundreds of thousands of objects (libyaml's nodes and their marks, then the values,
    then the plan and its drafts), nearly all of which live until the end, and no reference cycles; the
    collector, which runs after every few hundred new objects and every so often walks every object alive,
    spent a third of the time of reading a national plan finding nothing to collect. Where the collector is
    already off (or paused by an outer call) this does nothing. A template that fails does leave cycles (its
    traceback): the renderer resumes the collector at the first draft that fails (:meth:`CollectorPause.resume`),
    so a plan whose every draft fails does not hold them all until the end.
    """
    pause = CollectorPause()
    if gc.isenabled():
        gc.disable()
        pause.paused = True
    try:
        yield pause
    finally:
        pause.resume()


class _Lines:
    """Line numbers as editors and ``grep -n`` count them: only line feeds end a line.

    libyaml also ends lines at U+2028, U+2029, NEL and a lone carriage return, so where the file holds
    any of those its line numbers are worked out again from the node's position in the text.
    """

    def __init__(self, text: str) -> None:
        self.breaks: list[int] | None = None
        # (the substring tests first: each is a fast scan, where the pattern's alternation is a slow one)
        if any(char in text for char in _ODD_BREAK_CHARS) and _ODD_BREAK.search(text) is not None:
            self.breaks = [m.start() for m in re.finditer("\n", text)]

    def of(self, mark: Any) -> int:
        if self.breaks is None:
            return int(mark.line) + 1
        return bisect.bisect_left(self.breaks, mark.index) + 1


class _Composer:
    """Turns libyaml's nodes into values, bounding how far aliases expand and how deep values nest.

    It runs once for every node of the plan (60,000 in a national plan), so the common cases are written
    out in :meth:`value` rather than spread over small methods.
    """

    def __init__(self, text: str, lines: _Lines, report: Reporter) -> None:
        self.text = text
        self.lines = lines
        self.report = report
        self.seen: dict[int, Any] = {}
        """Each node met so far and its value, to know an alias (a node met again) where there may be one."""
        self.shared = "*" in text
        """Whether the text may hold an alias (`*name`); without one no node is met twice."""
        self.sizes: dict[int, int | None] = {}
        self.aliases = 0
        self.expanded = 0
        self.plain_lines = lines.breaks is None
        """Whether libyaml's line numbers are the editor's (the file has no odd line breaks)."""

    def line(self, node: Node) -> int:
        return int(node.start_mark.line) + 1 if self.plain_lines else self.lines.of(node.start_mark)

    def value(self, node: Node, depth: int) -> Any:
        seen, shared = self.seen, self.shared
        if shared and id(node) in seen:  # an alias (*name) of an anchored node (&name)
            self._alias(node)
            return seen[id(node)]
        if depth > MAX_DEPTH:
            self.report.error(self.line(node), "plan", f"the values are nested more than {MAX_DEPTH} levels deep",
                              "a plan needs only a few levels; check the indentation and brackets")
            raise _Refused
        if type(node) is ScalarNode:
            scalar = _scalar(node)
            if shared:
                seen[id(node)] = scalar
            return scalar
        line = self.line(node)
        child_depth = depth + 1
        # Below, a scalar that is no alias and not too deep is read in place: what `self.value(child,
        # child_depth)` does, without the call (most nodes are such scalars).
        fast = not shared and child_depth <= MAX_DEPTH
        plain_lines = self.plain_lines
        if type(node) is SequenceNode:
            items = YamlList(line)
            if shared:
                seen[id(node)] = items
            item_lines = items.item_lines
            for item in node.value:
                if fast and type(item) is ScalarNode:
                    text = item.value
                    if item.tag != _PLAIN or item.style:
                        items.append(_scalar(item))
                    elif text in _WORDS:
                        items.append(_WORDS[text])
                    else:
                        items.append(text if text[0] not in _NUMBER_START else _scalar(item))
                else:
                    items.append(self.value(item, child_depth))
                item_lines.append(item.start_mark.line + 1 if plain_lines else self.line(item))
            return items
        assert isinstance(node, MappingNode)
        mapping = YamlMap(line)
        if shared:
            seen[id(node)] = mapping
        key_lines, value_lines = mapping.key_lines, mapping.value_lines
        merged: list[YamlMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(key_node, value_node, child_depth, merged)
                continue
            if type(key_node) is not ScalarNode or shared and id(key_node) in seen or child_depth > MAX_DEPTH:
                key_value = self.value(key_node, child_depth)  # an alias, too deep, or not a name: reported
                if not isinstance(key_node, ScalarNode):
                    self.report.error(self.line(key_node), "plan", f"a key is {describe(key_value, secret=True)}, "
                                      "not a name", "write each key as a name followed by a colon, e.g. `text:`")
                    self.value(value_node, child_depth)
                    continue
            elif shared:
                seen[id(key_node)] = _scalar(key_node)
            # The key as written: `null:` is the key 'null' and `2027-03-15:` the key '2027-03-15'.
            key = key_node.value
            if key in mapping:
                self.report.error(self.line(key_node), "plan", f"the key {shown(key)} appears twice in the same "
                                  f"mapping (first on line {key_lines[key]})",
                                  "each key may appear once; remove or rename one of them")
                self.value(value_node, child_depth)
                continue
            if fast and type(value_node) is ScalarNode:
                text = value_node.value
                if value_node.tag != _PLAIN or value_node.style:
                    mapping[key] = _scalar(value_node)
                elif text in _WORDS:
                    mapping[key] = _WORDS[text]
                else:
                    mapping[key] = text if text[0] not in _NUMBER_START else _scalar(value_node)
            else:
                mapping[key] = self.value(value_node, child_depth)
            if plain_lines:
                key_lines[key], value_lines[key] = key_node.start_mark.line + 1, value_node.start_mark.line + 1
            else:
                key_lines[key], value_lines[key] = self.line(key_node), self.line(value_node)
        for source in merged:  # `<<: *defaults` fills in keys the mapping does not set itself
            for key, value in source.items():
                if key not in mapping:
                    mapping[key] = value
                    key_lines[key] = source.key_lines[key]
                    value_lines[key] = source.value_lines[key]
        return mapping

    def _merge(self, key_node: Node, value_node: Node, depth: int, merged: list[YamlMap]) -> None:
        """`<<: *defaults` (or a list of such): the mappings whose keys the mapping takes, added to *merged*."""
        value = self.value(value_node, depth)
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, YamlMap) for source in sources):
            self.report.error(self.line(key_node), "plan", "`<<:` must be followed by a mapping to copy keys "
                              f"from, not {describe(value, secret=True)}",
                              "write `<<: *name`, where `&name` marks a mapping above")
        merged.extend(source for source in sources if isinstance(source, YamlMap))

    def _alias(self, node: Node) -> None:
        """Count what an alias expands to; refuse an alias bomb (billion laughs) before anything expands it."""
        self.aliases += 1
        size = self._size(node)
        if size is None:
            self._refuse("an alias (*name) is used inside the part it names, so the value never ends",
                         "use the alias outside the anchored (&name) part")
        assert size is not None
        self.expanded += size
        if size > MAX_ALIAS_SIZE or self.expanded > MAX_ALIASES_SIZE:
            self._refuse(f"aliases (*name) here expand to more than {MAX_ALIASES_SIZE if size <= MAX_ALIAS_SIZE else MAX_ALIAS_SIZE:,} "
                         "characters of values (an alias bomb?)",
                         "write the values out, or use fewer aliases of smaller anchored (&name) parts")

    def _size(self, node: Node) -> int | None:
        """How many characters *node* stands for with every alias in it expanded; None if it contains itself."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        self.sizes[key] = None  # being measured: meeting it again inside itself means it never ends
        total = 1
        if isinstance(node, ScalarNode):
            total += len(node.value)
        else:
            children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
            for child in children:
                size = self._size(child)
                if size is None:
                    return None
                total += size
                if total > MAX_ALIASES_SIZE:
                    break  # large enough to refuse; no need to add up the rest
        self.sizes[key] = total
        return total

    def _refuse(self, message: str, fix: str) -> None:
        self.report.error(self._alias_line(), "plan", message, fix)
        raise _Refused

    def _alias_line(self) -> int:
        """The line of the alias being counted: the n-th alias event, in the order the nodes were read."""
        seen = 0
        try:
            for event in yaml.parse(self.text, Loader=_Loader):
                if isinstance(event, AliasEvent):
                    seen += 1
                    if seen == self.aliases:
                        return self.lines.of(event.start_mark)
        except yaml.YAMLError:
            pass
        return 1


def _scalar(node: ScalarNode) -> Any:
    text: str = node.value
    tag, style = node.tag, node.style
    if tag == _PLAIN and not style:  # the usual scalar, read by libyaml (see `_Loader`)
        if text in _WORDS:
            return _WORDS[text]
        if text[0] not in _NUMBER_START:
            return text
        value = _core(text)
        # Text under YAML 1.1's rules stays text (`08`, `1e5`), as libyaml's reading has always left it.
        if type(value) is not str and _YAML11.resolve(ScalarNode, text, (True, False)) == _STR:
            return text
        return value
    if style in ("|", ">"):
        return BlockText(text)
    if style in ("'", '"') or tag == _STR and style is not None:
        return text
    return _core(text)


def _core(text: str) -> Any:
    """A plain scalar under YAML 1.2's core rules: null, true/false, a number, a date, a time, or text."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if len(text) > MAX_NUMBER_LENGTH and (_INT.match(text) or _FLOAT.match(text)):
        return LongNumber(text)
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return text
    if _TIMESTAMP.match(text):
        try:
            return datetime.fromisoformat(text.replace("t", "T"))
        except ValueError:
            return text
    return text


def _yaml_fix(what: str) -> str:
    if "undefined alias" in what:
        return "an alias (*name) repeats a value marked `&name` above it; mark that value, or write it out here"
    if "tab" in what:
        return "indent with spaces, not tabs"
    return "check the indentation, the colons after keys, and quote text that contains ': ' or starts with '#'"


def is_blank(value: Any) -> bool:
    """A key written with nothing after it, ``~``/``null``, or text that is empty or only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


_CREDENTIAL_KEY = re.compile(r"^[a-z_]{1,40}$")


class Section:
    """One mapping in the plan, with its path (for messages) and its keys' lines.

    A key of the mapping that is written blank (nothing after it, ``~``, ``''`` or only spaces) is an
    error naming the key: blank is never read as "absent", nor as a default. The key is then treated as
    not given (``in`` is false and :meth:`get` returns the default), so the one mistake is reported once.
    Keys in *own_blank* are left for the caller, which has its own words for them. The values of keys in
    *secret_keys* (and, with ``secret=True``, of every key) are never quoted in a message.
    """

    def __init__(
        self,
        data: YamlMap,
        where: str,
        report: Reporter,
        allowed: Mapping[str, type | tuple[type, ...]],
        required: tuple[str, ...] = (),
        *,
        hints: Mapping[str, str] | None = None,
        own_blank: Collection[str] = (),
        secret_keys: Collection[str] = (),
        secret: bool = False,
        blanks: bool = True,
    ) -> None:
        self.data = data
        self.where = where
        self.report = report
        self.allowed = allowed
        self.hints = hints or {}
        self.secret = secret
        self.secret_keys = secret_keys
        self.line = data.line or 1
        self.blank: set[str] = set()
        for key, value in data.items():
            if key not in allowed:
                self._unknown_key(key)
            elif blanks and (value is None or isinstance(value, str) and not value.strip()) and key not in own_blank:
                self.blank.add(key)  # blank (`is_blank`), written out: this runs for every key of every post
                self._blank_key(key, key in required)
        for key in required:
            if key not in data:
                report.error(self.line, where, f"{key!r} is missing", f"add `{key}:` here")

    @classmethod
    def of(
        cls,
        value: Any,
        where: str,
        line: int,
        report: Reporter,
        allowed: Mapping[str, type | tuple[type, ...]],
        required: tuple[str, ...] = (),
        *,
        hints: Mapping[str, str] | None = None,
        own_blank: Collection[str] = (),
        secret: bool = False,
    ) -> Section | None:
        """A Section for *value* if it is a mapping; otherwise report it and return None."""
        if not isinstance(value, YamlMap):
            if is_blank(value):
                report.error(line, where, "it is blank", _mapping_fix(allowed))
            else:
                report.error(line, where, f"expected a mapping of keys, found {describe(value, secret=secret)}",
                             _mapping_fix(allowed))
            return None
        return cls(value, where, report, allowed, required, hints=hints, own_blank=own_blank, secret=secret)

    def _unknown_key(self, key: Any) -> None:
        line = self.key_line(key)
        if self.secret and not _CREDENTIAL_KEY.match(str(key)):
            self.report.error(line, self.where, "unknown key (not shown: it may be a secret)",
                              "the keys allowed here are: " + ", ".join(self.allowed))
            return
        same_letters = [name for name in self.allowed if name.casefold() == str(key).casefold()]
        close = same_letters or (difflib.get_close_matches(str(key), list(self.allowed), n=1, cutoff=KEY_CUTOFF)
                                 if len(str(key)) <= 100 else [])
        if close:
            fix = f"did you mean {close[0]!r}?"
        else:
            fix = "the keys allowed here are: " + ", ".join(self.allowed)
        self.report.error(line, self.where, f"unknown key {shown(key)}", fix)

    def _blank_key(self, key: str, required: bool) -> None:
        what = self.hints.get(key) or type_names(self.allowed[key])
        if required:
            fix = f"after `{key}:` write {what}; it is required"
        else:
            fix = f"after `{key}:` write {what}; or remove the key (blank is not the same as leaving it out)"
        self.report.error(self.key_line(key), self.sub(key), f"{key!r} is blank", fix)

    def __contains__(self, key: str) -> bool:
        return key in self.data and key not in self.blank

    def written(self, key: str) -> bool:
        """Whether *key* is in the mapping at all, even blank (a blank one is reported already)."""
        return key in self.data

    def key_line(self, key: Any) -> int:
        return self.data.key_lines.get(key, self.line)

    def value_line(self, key: str) -> int:
        return self.data.value_lines.get(key) or self.key_line(key)

    def sub(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        """The value at *key* if it has an allowed type; a wrong type is reported and gives *default*."""
        if key not in self.data or key not in self.allowed or key in self.blank:
            return default
        value = self.data[key]
        expected = self.allowed[key]
        # bool is an int in Python; never accept it where a number is expected, nor the reverse.
        wrong_bool = isinstance(value, bool) and bool not in _as_tuple(expected)
        if wrong_bool or not isinstance(value, expected):
            secret = self.secret or key in self.secret_keys
            self.report.error(
                self.value_line(key),
                self.sub(key),
                f"expected {type_names(expected)}, found {describe(value, secret=secret)}",
                _type_fix(expected),
            )
            return default
        return value

    def items(self) -> Iterator[tuple[str, Any, int]]:
        for key, value in self.data.items():
            yield str(key), value, self.key_line(key)


def seq_items(value: list[Any]) -> Iterator[tuple[int, Any, int]]:
    """(index, item, line) for each item of a YAML list."""
    if isinstance(value, YamlList) and len(value.item_lines) == len(value):
        return zip(range(len(value)), value, value.item_lines)
    lines = value.item_lines if isinstance(value, YamlList) else []
    fallback = value.line if isinstance(value, YamlList) else 1
    return ((index, item, lines[index] if index < len(lines) else fallback) for index, item in enumerate(value))


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    YamlList: "a list",
    dict: "a mapping",
    YamlMap: "a mapping",
    date: "a date",
}


def type_names(expected: type | tuple[type, ...]) -> str:
    names = dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in _as_tuple(expected))
    return " or ".join(names)


def describe(value: Any, secret: bool = False) -> str:
    """*value* in words for a message; with *secret*, only its kind (it may be a secret)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true or false" if secret else f"{str(value).lower()} (true/false)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, LongNumber):
        return f"a number of {len(value.text):,} characters, too long to be one"
    if isinstance(value, str):
        return "text" if secret else f"the text {shown(value)}"
    if secret:
        return "a date" if isinstance(value, date) else "a number"
    if isinstance(value, date):
        return value.isoformat()
    return shown(value)[1:-1] if isinstance(value, (int, float)) else shown(value)


def _type_fix(expected: type | tuple[type, ...]) -> str:
    types = _as_tuple(expected)
    if str in types:
        return "write it as text; put it in quotes if it looks like a number, date or true/false"
    if YamlList in types or list in types:
        return "write a list, one `- item` per line or `[a, b]`"
    if YamlMap in types or dict in types:
        return "write a mapping of `key: value` lines, indented under this key"
    return f"write {type_names(expected)}"


def _mapping_fix(allowed: Mapping[str, Any]) -> str:
    return "write `key: value` lines indented under it; the keys allowed are: " + ", ".join(allowed)


def did_you_mean(value: str, choices: list[str], label: str) -> str:
    """``did you mean 'x'?`` for a close match (:data:`ID_CUTOFF`), otherwise the list of *label*."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=ID_CUTOFF) if len(value) <= 100 else []
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{label}: " + ", ".join(sorted(choices))
