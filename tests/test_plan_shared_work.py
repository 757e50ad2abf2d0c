"""What checking a plan now works out once and shares (decision 0012) gives what working it out each time gave.

A post's words are rendered once for all its accounts only where nothing the template sees differs between them;
plain scalars read by libyaml's composer without PyYAML's YAML 1.1 resolver keep the types they had; and the cycle
collector, held off while a plan is read and rendered, is back as it was afterwards.
"""

from __future__ import annotations

import gc
from dataclasses import fields
from pathlib import Path

import pytest

from campaign.render import Draft, render_plan
from campaign.yamlfile import BlockText, LongNumber, Reporter, load_yaml
from tests.plan_fixtures import write_campaign

ACCOUNTS = ("lancs-x", "lancs-facebook", "lancs-mastodon", "lancs-bluesky")


def texts_by_account(plan: Path, post_id: str) -> dict[str, str]:
    """The words of each draft of *post_id*, by account (a Bluesky handle in them is a check problem, not ours)."""
    rendered = render_plan(plan)
    return {d.account: d.text.split("\n\n#")[0] for d in rendered.drafts if d.post_id == post_id}


@pytest.mark.parametrize("template, expected", [
    ("Hello from {{ account }} ({{ n }})", {
        "lancs-x": "Hello from @LancsPolice (1)", "lancs-facebook": "Hello from Lancashire Police (1)",
        "lancs-mastodon": "Hello from @lancspolice@police.social (1)",
        "lancs-bluesky": "Hello from lancspolice.bsky.social (1)"}),
    ("{% if platform == 'x' %}Short {{ n }}{% else %}Longer words {{ n }}{% endif %}", {
        "lancs-x": "Short 1", "lancs-facebook": "Longer words 1", "lancs-mastodon": "Longer words 1",
        "lancs-bluesky": "Longer words 1"}),
    ("{% macro who(a) %}[{{ a }}]{% endmacro %}{{ who(account) }} says {{ n }}", {
        "lancs-x": "[@LancsPolice] says 1", "lancs-facebook": "[Lancashire Police] says 1",
        "lancs-mastodon": "[@lancspolice@police.social] says 1", "lancs-bluesky": "[lancspolice.bsky.social] says 1"}),
])
def test_a_template_that_reads_the_account_or_platform_is_rendered_for_each_account(
        tmp_path: Path, template: str, expected: dict[str, str]) -> None:
    """A template naming `account` or `platform` (directly or through a macro's argument) gets each account's
    own value: its words are not shared between the accounts of the post."""
    plan = write_campaign(tmp_path, """\
        - id: hello
          accounts: all
          template: hello.j2
          vars: {n: 1}
          at: '2027-03-16 09:00'
        """, templates={"hello.j2": template + "\n"})
    assert texts_by_account(plan, "hello") == expected


def test_an_included_template_that_reads_the_account_is_rendered_for_each_account(tmp_path: Path) -> None:
    """A template that includes another is rendered for each account: what it includes may read `account`."""
    plan = write_campaign(tmp_path, """\
        - id: inc
          accounts: all
          template: outer.j2
          at: '2027-03-16 09:00'
        """, templates={"outer.j2": "Follow {% include 'inner.j2' %}\n", "inner.j2": "{{ account }} now"})
    assert texts_by_account(plan, "inc")["lancs-facebook"] == "Follow Lancashire Police now"
    assert texts_by_account(plan, "inc")["lancs-x"] == "Follow @LancsPolice now"


def test_words_shared_by_every_account_differ_per_variant_and_per_day(tmp_path: Path) -> None:
    """A template that reads neither is rendered once per post, variant and day: a platform's variant keeps its
    own words, and a daily post its own day."""
    plan = write_campaign(tmp_path, """\
        - id: daily
          accounts: all
          text: 'Day {{ when | day }}'
          daily: '09:00'
          from: 2027-03-15
          until: 2027-03-16
          variants:
            x: {text: 'X on {{ when | day }}'}
        """)
    rendered = render_plan(plan)
    assert not rendered.errors, [str(p) for p in rendered.errors]
    words = {(d.account, d.key.split("@")[1].split("/")[0]): d.text.split("\n\n#")[0] for d in rendered.drafts}
    assert words[("lancs-facebook", "2027-03-15")] == "Day Monday 15 March"
    assert words[("lancs-bluesky", "2027-03-16")] == "Day Tuesday 16 March"
    assert words[("lancs-x", "2027-03-15")] == "X on Monday 15 March"
    assert words[("lancs-x", "2027-03-16")] == "X on Tuesday 16 March"


def test_plain_scalars_keep_the_types_libyaml_gave_them(tmp_path: Path) -> None:
    """Without PyYAML's YAML 1.1 resolver on every scalar, values still read as before: YAML 1.2's core rules,
    except that what YAML 1.1 reads as text stays text (`08`, `1e5`), and a tag or quotes make text."""
    source = tmp_path / "values.yaml"
    source.write_text(
        "a: [08, 07, 1e5, 1.5, .5, +1, 0o17, 1_000, 2027-03-15, 2027-3-5, '2027-03-15', 09:00, ~, null, '', no,\n"
        "    true, False, !!str 5, ! 5, '<<', x" + "1" * 60 + ", " + "9" * 60 + "]\n"
        "b: |\n  block\n"
        "c:\n", encoding="utf-8")
    values = load_yaml(source, Reporter(str(source)))
    items = values["a"]
    assert items[:8] == ["08", 7, "1e5", 1.5, 0.5, 1, "0o17", "1_000"]
    assert str(items[8]) == "2027-03-15" and not isinstance(items[8], str)
    assert items[9:12] == ["2027-3-5", "2027-03-15", "09:00"]
    assert items[12:17] == [None, None, "", "no", True]
    assert items[17] is False and items[18:21] == ["5", 5, "<<"]
    assert items[21] == "x" + "1" * 60 and isinstance(items[22], LongNumber)
    assert isinstance(values["b"], BlockText) and values["c"] is None
    assert values.value_lines["b"] == 3 and values.key_lines["c"] == 5 and values["a"].item_lines[0] == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cycle_collector_is_as_it_was_after_a_plan_is_checked(tmp_path: Path, enabled: bool) -> None:
    """The collector, held off while a plan is read and rendered (and back on at a failed draft), is on
    afterwards if it was on before, and stays off if the caller had turned it off."""
    plan = write_campaign(tmp_path, """\
        - id: broken
          accounts: all
          text: 'Hello {{ nobody }}'
          at: '2027-03-16 09:00'
        - id: fine
          accounts: all
          text: 'Hello'
          at: '2027-03-16 10:00'
        """)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        rendered = render_plan(plan)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
    assert len([p for p in rendered.errors if "nobody" in p.message]) == len(ACCOUNTS)


def test_every_draft_is_what_the_dataclass_makes(tmp_path: Path) -> None:
    """The renderer fills a draft's fields at once rather than through the frozen dataclass's __init__: each
    draft has exactly the dataclass's fields, and equals (and hashes as) the Draft made from them."""
    plan = write_campaign(tmp_path, """\
        - id: hello
          accounts: all
          text: 'Hello {{ account }}'
          at: '2027-03-16 09:00'
          images: [{file: images/guide.png, alt: The guide}]
        """)
    drafts = render_plan(plan).drafts
    assert len(drafts) == len(ACCOUNTS)
    names = [field.name for field in fields(Draft)]
    for draft in drafts:
        assert set(vars(draft)) == set(names)
        made = Draft(**{name: getattr(draft, name) for name in names})
        assert made == draft and hash(made) == hash(draft) and repr(made) == repr(draft)
