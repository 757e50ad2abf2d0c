"""Reading YAML so that every value still knows the line it came from.

The file is parsed by PyYAML's C (libyaml) composer, which keeps the position of every node, and turned
into plain values here: mappings become :class:`YamlMap` and lists :class:`YamlList`, which remember the
line of each key, value and item. Plain scalars follow YAML 1.2's core rules, so ``09:00`` stays text
and ``no`` is not ``false`` (PyYAML's own YAML 1.1 rules would turn them into 540 and False).
:class:`Section` wraps one mapping and hands out its values, reporting unknown keys (with a
did-you-mean), missing keys and wrongly typed values as :class:`Problem` s.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from campaign.problems import Problem, Severity

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$")


class YamlMap(dict[Any, Any]):
    """A mapping from the file, with the line of itself and of each key and value."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}


class YamlList(list[Any]):
    """A list from the file, with the line of itself and of each item."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class BlockText(str):
    """Text written as a ``|`` or ``>`` block, whose first line is the line after its key."""


@dataclass
class Reporter:
    """Collects the problems of one file."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, line: int, where: str, message: str, fix: str) -> None:
        self.problems.append(Problem(self.file, line, where, message, fix))

    def warn(self, line: int, where: str, message: str, fix: str) -> None:
        self.add(line, where, message, fix, "warning")

    def add(self, line: int, where: str, message: str, fix: str, severity: Severity) -> None:
        self.problems.append(Problem(self.file, line, where, message, fix, severity))


def load_yaml(path: Path, report: Reporter) -> Any:
    """Parse *path*; a syntax error becomes a problem on its line and ``None`` is returned."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        report.error(1, "plan", f"there is no file {str(path)!r}", "check the path, or run `campaign init DIR`")
        return None
    except UnicodeDecodeError as exc:
        report.error(1, "plan", f"the file is not UTF-8 text ({exc.reason})", "save it as UTF-8")
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "the YAML cannot be read"
        report.error(line, "plan", f"YAML syntax: {what}", _yaml_fix(what))
        return None
    except yaml.YAMLError as exc:
        report.error(1, "plan", f"YAML syntax: {exc}", "check the indentation and quoting")
        return None
    return None if node is None else _value(node, report, {})


def _value(node: Node, report: Reporter, seen: dict[int, Any]) -> Any:
    if id(node) in seen:  # an alias (*name) of an anchored node (&name)
        return seen[id(node)]
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode):
        return _scalar(node, report)
    if isinstance(node, SequenceNode):
        items = YamlList(line)
        seen[id(node)] = items
        for item in node.value:
            items.append(_value(item, report, seen))
            items.item_lines.append(item.start_mark.line + 1)
        return items
    assert isinstance(node, MappingNode)
    mapping = YamlMap(line)
    seen[id(node)] = mapping
    merged: list[YamlMap] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            value = _value(value_node, report, seen)
            merged.extend(value if isinstance(value, list) else [value])
            continue
        key = _value(key_node, report, seen)
        key = key if isinstance(key, str) else str(key)
        key_line = key_node.start_mark.line + 1
        if key in mapping:
            report.error(key_line, "plan", f"the key {key!r} appears twice in the same mapping (first on line "
                         f"{mapping.key_lines[key]})", "each key may appear once; remove or rename one of them")
            continue
        mapping[key] = _value(value_node, report, seen)
        mapping.key_lines[key], mapping.value_lines[key] = key_line, value_node.start_mark.line + 1
    for source in merged:  # `<<: *defaults` fills in keys the mapping does not set itself
        if isinstance(source, YamlMap):
            for key, value in source.items():
                if key not in mapping:
                    mapping[key] = value
                    mapping.key_lines[key], mapping.value_lines[key] = source.key_lines[key], source.value_lines[key]
    return mapping


def _scalar(node: ScalarNode, report: Reporter) -> Any:
    text: str = node.value
    if node.style in ("|", ">"):
        return BlockText(text)
    if node.style in ("'", '"') or node.tag == "tag:yaml.org,2002:str" and node.style is not None:
        return text
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
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
            return datetime.fromisoformat(text.replace("t", "T").replace("Z", "+00:00"))
        except ValueError:
            return text
    return text


def _yaml_fix(what: str) -> str:
    if "tab" in what:
        return "indent with spaces, not tabs"
    return "check the indentation, the colons after keys, and quote text that contains ': ' or starts with '#'"


class Section:
    """One mapping in the plan, with its path (for messages) and its keys' lines."""

    def __init__(
        self,
        data: YamlMap,
        where: str,
        report: Reporter,
        allowed: Mapping[str, type | tuple[type, ...]],
        required: tuple[str, ...] = (),
    ) -> None:
        self.data = data
        self.where = where
        self.report = report
        self.allowed = allowed
        self.line = data.line or 1
        for key in data:
            if key not in allowed:
                self._unknown_key(key)
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
    ) -> Section | None:
        """A Section for *value* if it is a mapping; otherwise report it and return None."""
        if not isinstance(value, YamlMap):
            report.error(line, where, f"expected a mapping of keys, found {describe(value)}", _mapping_fix(allowed))
            return None
        return cls(value, where, report, allowed, required)

    def _unknown_key(self, key: Any) -> None:
        line = self.key_line(key)
        close = difflib.get_close_matches(str(key), list(self.allowed), n=1, cutoff=0.6)
        if close:
            fix = f"did you mean {close[0]!r}?"
        else:
            fix = "the keys allowed here are: " + ", ".join(self.allowed)
        self.report.error(line, self.where, f"unknown key {key!r}", fix)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def key_line(self, key: Any) -> int:
        return self.data.key_lines.get(key, self.line)

    def value_line(self, key: str) -> int:
        return self.data.value_lines.get(key) or self.key_line(key)

    def sub(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        """The value at *key* if it has an allowed type; a wrong type is reported and gives *default*."""
        if key not in self.data or key not in self.allowed:
            return default
        value = self.data[key]
        expected = self.allowed[key]
        if value is None and default is None:
            return None
        # bool is an int in Python; never accept it where a number is expected, nor the reverse.
        wrong_bool = isinstance(value, bool) and bool not in _as_tuple(expected)
        if wrong_bool or not isinstance(value, expected):
            self.report.error(
                self.value_line(key),
                self.sub(key),
                f"expected {type_names(expected)}, found {describe(value)}",
                _type_fix(expected),
            )
            return default
        return value

    def items(self) -> Iterator[tuple[str, Any, int]]:
        for key, value in self.data.items():
            yield str(key), value, self.key_line(key)


def seq_items(value: list[Any]) -> Iterator[tuple[int, Any, int]]:
    """(index, item, line) for each item of a YAML list."""
    lines = value.item_lines if isinstance(value, YamlList) else []
    fallback = value.line if isinstance(value, YamlList) else 1
    for index, item in enumerate(value):
        yield index, item, lines[index] if index < len(lines) else fallback


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
}


def type_names(expected: type | tuple[type, ...]) -> str:
    names = dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in _as_tuple(expected))
    return " or ".join(names)


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{value!r}"


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
    """``did you mean 'x'?`` for a close match, otherwise the list of *label*."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{label}: " + ", ".join(sorted(choices))
