"""The blank sweep: every value of the bundled plan, set blank in turn, is refused or changes nothing.

A key written with nothing after it is never read as "not there": of the bundled plan's values set blank
one at a time, each must either fail `campaign validate` with a `FILE:LINE` error on the blanked line that
names the key, or render exactly the same posts as the untouched plan — same keys, same words, same
images and alt text. So no post is lost, none publishes the word "None", and none is left empty or
only hashtags.

The plan is changed as text, so every other line stays where it was: each value's span is found from
libyaml's event positions (a mapping's value, or a list's item, whether a scalar, a list, a mapping or an
alias) and replaced by nothing, or by ``''``. An anchor (``&name``) on the value is kept, so the aliases
of it are blanked with it; blanking a value that holds an anchor leaves a later alias naming nothing,
which is refused as YAML at that alias's line.

Every value is swept, none sampled: about 960 blanks in under 10 s on a 2-core machine. `validate` loads
the plan, then renders it; each blank is refused while loading (about 10 ms), so the render (about 45 ms
for the bundled plan, most of it compiling its templates afresh in a new environment) runs only for a
blank that loading lets through.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)

from campaign.cli import main
from campaign.example import example_plan, example_root
from campaign.plan import load_plan
from campaign.problems import Problem
from campaign.render import Draft, render_plan

# On one pytest-xdist worker: the module's copy of the bundled campaign is made once.
pytestmark = pytest.mark.xdist_group("blank-sweep")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Node:
    """A value in the plan's text: where it starts and where its content ends."""

    start: int
    end: int
    anchor: str | None = None
    flow: bool = False
    kind: str = "scalar"  # scalar, alias, mapping or sequence
    children: list[Node] = field(default_factory=list)
    value: str = ""

    def content_end(self, text: str) -> int:
        """The end of what is written for this value: a block collection ends with its last item (so the
        comments and blank lines after it stay), a block scalar without its trailing line breaks."""
        if self.kind in ("mapping", "sequence") and not self.flow:
            return max(child.content_end(text) for child in self.children) if self.children else self.start
        end = self.end
        while end > self.start and text[end - 1] in " \n":
            end -= 1
        return end


@dataclass(frozen=True)
class Target:
    """One value to blank: the span to replace, its key (or the list it is an item of) and its line."""

    start: int
    end: int
    anchor: str | None
    key: str
    line: int
    in_flow_list: bool
    label: str
    alias_line: int | None = None
    """Where the YAML is refused if this value is blanked: the first alias of an anchor inside it, if it has one."""


def _tree(text: str) -> Node:
    stack: list[Node] = []
    root: Node | None = None
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (ScalarEvent, AliasEvent, CollectionStartEvent)):
            node = Node(event.start_mark.index, event.end_mark.index, getattr(event, "anchor", None))
            if isinstance(event, ScalarEvent):
                node.value = event.value
            elif isinstance(event, AliasEvent):
                node.kind, node.anchor, node.value = "alias", None, event.anchor
            else:
                node.kind = "mapping" if isinstance(event, MappingStartEvent) else "sequence"
                node.flow = bool(event.flow_style)
            if stack:
                stack[-1].children.append(node)
            else:
                root = node
            if isinstance(event, CollectionStartEvent):
                stack.append(node)
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            stack.pop().end = event.end_mark.index
    assert root is not None
    return root


def targets(text: str) -> list[Target]:
    """Every mapping value and list item of the plan, in file order."""
    found: list[Target] = []

    def line_of(index: int) -> int:
        return text.count("\n", 0, index) + 1

    root = _tree(text)
    aliases: dict[str, list[int]] = {}

    def gather(node: Node) -> None:
        if node.kind == "alias":
            aliases.setdefault(node.value, []).append(node.start)
        for child in node.children:
            gather(child)

    gather(root)

    def alias_line(value: Node) -> int | None:
        """The line of the first alias, after *value*, of an anchor set inside it (not on it)."""
        inner: list[str] = []

        def anchors(node: Node) -> None:
            for child in node.children:
                if child.anchor:
                    inner.append(child.anchor)
                anchors(child)

        anchors(value)
        later = [start for name in inner for start in aliases.get(name, []) if start > value.end]
        return line_of(min(later)) if later else None

    def walk(node: Node, path: str) -> None:
        if node.kind == "mapping":
            pairs = zip(node.children[::2], node.children[1::2], strict=True)
            for key, value in pairs:
                label = f"{path}.{key.value}" if path else key.value
                found.append(Target(value.start, value.content_end(text), value.anchor, key.value,
                                    line_of(key.start), False, label, alias_line(value)))
                walk(value, label)
        elif node.kind == "sequence":
            key = path.rsplit(".", 1)[-1].split("[")[0]
            for index, item in enumerate(node.children):
                label = f"{path}[{index + 1}]"
                found.append(Target(item.start, item.content_end(text), item.anchor, key, line_of(item.start),
                                    node.flow, label, alias_line(item)))
                walk(item, label)

    walk(root, "")
    return found


def blanked(text: str, target: Target, empty_text: bool) -> str:
    """*text* with *target*'s value replaced by nothing (or ``''``), keeping its anchor and every line."""
    if empty_text:
        blank = "''"
    else:
        blank = "~" if target.in_flow_list else ""  # `[a, , b]` is not YAML; `~` is the same null
    anchor = f"&{target.anchor} " if target.anchor else ""
    replacement = (anchor + blank).rstrip()
    if not replacement and text[target.start - 1:target.start] not in (" ", "\n", "[", "{", ","):
        replacement = " "  # keep `key:` apart from what follows
    return text[:target.start] + replacement + text[target.end:]


def published(drafts: tuple[Draft, ...]) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """What goes out: each post's key, words, and images with their alt text."""
    return sorted((d.key, d.text, tuple((str(i.path), i.alt) for i in d.images)) for d in drafts)


def names(problems: Iterable[Problem], plan: Path, line: int, key: str) -> bool:
    """Whether one of *problems* is an error at *plan*'s *line* whose place or message names *key*."""
    return any(p.is_error and p.file == str(plan) and p.line == line and (key in p.where or key in p.message)
               for p in problems)


@pytest.fixture(scope="module")
def campaign_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled campaign (plan, images and templates) copied as `campaign init` copies it."""
    root = tmp_path_factory.mktemp("sweep")
    for part in ("schedules", "posts"):
        shutil.copytree(example_root() / part, root / part)
    return root / "schedules" / example_plan().name


def test_the_sweep_covers_every_value_of_the_bundled_plan() -> None:
    """The walk finds every value (hundreds: each key's value and each list item, nested), and each blanked
    version is still YAML whose other lines have not moved."""
    text = example_plan().read_text(encoding="utf-8")
    found = targets(text)
    assert len(found) > 350
    labels = {t.label for t in found}
    assert {"campaign.starts", "posts[4].vars.quote", "posts[1].variants.facebook.template",
            "accounts.lancs-x.credentials.access_token", "events.preston-training.location"} <= labels
    for target in found:
        for empty_text in (False, True):
            changed = blanked(text, target, empty_text)
            assert changed.count("\n") == text.count("\n") - text.count("\n", target.start, target.end)
            if target.alias_line is None:
                yaml.compose(changed, Loader=_Loader)  # still YAML


def test_every_blank_is_refused_on_its_line_or_changes_nothing(campaign_copy: Path) -> None:
    """Each of the bundled plan's values set blank (nothing, then `''`), one at a time: `validate` fails with
    an error on the blanked line whose place or message names the key, or the plan renders exactly the
    same posts. Runs every value (no sampling); the whole sweep is timed and must stay fast for CI."""
    original_text = campaign_copy.read_text(encoding="utf-8")
    original = render_plan(campaign_copy)
    assert original.ok and not original.warnings
    expected = published(original.drafts)
    failures: list[str] = []
    started = time.perf_counter()
    renders = loads = 0
    try:
        for target in targets(original_text):
            for empty_text in (False, True):
                changed = blanked(original_text, target, empty_text)
                campaign_copy.write_text(changed, encoding="utf-8")
                written = "''" if empty_text else "nothing"
                line, key = target.line, target.key  # the lines before the blanked value do not move
                if target.alias_line is not None:
                    # A later `*name` now names nothing: the YAML itself is refused, at that alias's line.
                    line, key = target.alias_line - original_text.count("\n", target.start, target.end), "alias"

                # `validate` is loading, then rendering: an error from loading is enough, and far quicker.
                _, problems = load_plan(campaign_copy)
                loads += 1
                if names(problems, campaign_copy, line, key):
                    continue
                rendered = render_plan(campaign_copy)
                renders += 1
                if rendered.ok:
                    if published(rendered.drafts) != expected:
                        failures.append(f"{target.label} = {written}: validates, but the posts changed")
                elif not names(rendered.errors, campaign_copy, line, key):
                    shown = "; ".join(str(p) for p in rendered.errors[:3])
                    failures.append(f"{target.label} = {written} (line {line}): no error on its line naming "
                                    f"{key!r}: {shown}")
    finally:
        campaign_copy.write_text(original_text, encoding="utf-8")
    elapsed = time.perf_counter() - started
    print(f"blank sweep: {loads} blanks, {renders} of them rendered, in {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
    assert loads > 700
    assert elapsed < 60, f"the sweep took {elapsed:.0f} s for {loads} blanks ({renders} rendered)"


@pytest.mark.parametrize(
    ("label", "empty_text"),
    [("posts[1].accounts", False), ("posts[4].vars.quote", True), ("events.preston-training.location", False)],
)
def test_a_blank_through_the_command_line(campaign_copy: Path, label: str, empty_text: bool) -> None:
    """`campaign validate` on a blanked plan exits 1 and prints the error as one FILE:LINE line, no traceback."""
    original_text = campaign_copy.read_text(encoding="utf-8")
    target = next(t for t in targets(original_text) if t.label == label)
    try:
        campaign_copy.write_text(blanked(original_text, target, empty_text), encoding="utf-8")
        result = CliRunner().invoke(main, ["validate", str(campaign_copy)])
    finally:
        campaign_copy.write_text(original_text, encoding="utf-8")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{campaign_copy}:{target.line}: " in result.output
    assert f"'{target.key}' is blank" in result.output or "is blank" in result.output
