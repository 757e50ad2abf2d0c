"""Reading YAML so that every value still knows the line it came from.

ruamel.yaml's round-trip loader keeps the position of every key and list item; :class:`Section`
wraps one mapping of the file and hands out its values together with their line numbers, reporting
unknown keys (with a did-you-mean), missing keys and wrongly typed values as :class:`Problem` s. The
plan loader reads the whole file through it, so it never has to think about line numbers itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from campaign.problems import Problem, Severity


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
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "the YAML cannot be read"
        report.error(line, "plan", f"YAML syntax: {what}", _yaml_fix(what))
        return None
    except YAMLError as exc:
        report.error(1, "plan", f"YAML syntax: {exc}", "check the indentation and quoting")
        return None


def _yaml_fix(what: str) -> str:
    if "duplicate key" in what:
        return "each key may appear once in a mapping; remove or rename the repeated one"
    if "tab" in what:
        return "indent with spaces, not tabs"
    return "check the indentation, the colons after keys, and quote text that contains ': ' or starts with '#'"


class Section:
    """One mapping in the plan, with its path (for messages) and its keys' lines."""

    def __init__(
        self,
        data: CommentedMap,
        where: str,
        report: Reporter,
        allowed: Mapping[str, type | tuple[type, ...]],
        required: tuple[str, ...] = (),
    ) -> None:
        self.data = data
        self.where = where
        self.report = report
        self.allowed = allowed
        self.line = (data.lc.line or 0) + 1
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
        if not isinstance(value, CommentedMap):
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
        try:
            return int(self.data.lc.key(key)[0]) + 1
        except (KeyError, TypeError):
            return self.line

    def value_line(self, key: str) -> int:
        try:
            return int(self.data.lc.value(key)[0]) + 1
        except (KeyError, TypeError):
            return self.key_line(key)

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


def seq_items(value: CommentedSeq) -> Iterator[tuple[int, Any, int]]:
    """(index, item, line) for each item of a YAML list."""
    for index, item in enumerate(value):
        try:
            line = int(value.lc.item(index)[0]) + 1
        except (KeyError, TypeError, IndexError):
            line = int(value.lc.line) + 1
        yield index, item, line


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    CommentedSeq: "a list",
    dict: "a mapping",
    CommentedMap: "a mapping",
}


def type_names(expected: type | tuple[type, ...]) -> str:
    names = dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in _as_tuple(expected))
    return " or ".join(names)


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (CommentedMap, dict)):
        return "a mapping"
    if isinstance(value, (CommentedSeq, list)):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{value!r}"


def _type_fix(expected: type | tuple[type, ...]) -> str:
    types = _as_tuple(expected)
    if str in types:
        return "write it as text; put it in quotes if it looks like a number, date or true/false"
    if CommentedSeq in types or list in types:
        return "write a list, one `- item` per line or `[a, b]`"
    if CommentedMap in types or dict in types:
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
