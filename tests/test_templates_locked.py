"""Templates see data, nothing else: attacks on the template sandbox, through `campaign validate`.

Every attack is a template of a post in a campaign folder, with a canary file *outside* that folder. For
each one, `campaign validate` (Click's CliRunner on `campaign.cli:main`) must exit 1 with exactly one
problem line, ``FILE:LINE: …`` naming the template and the line of the attack, never a traceback and never
the canary's contents; nothing outside the campaign folder may be read into the output or written; and a
later, innocent post of the same plan must render exactly as it does without the attack.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.plan import load_plan
from campaign.render import Renderer, render_plan
from tests.plan_fixtures import BASE_PLAN, write_campaign

CANARY = "CANARY-4f1c9a-outside-the-campaign"
INNOCENT = (
    "Tuesday 16 March, 10am: Modern slavery training at Preston Town Hall. Call 08000 121 700 "
    "(Modern Slavery & Exploitation Helpline).\n\n#SeeItShareIt #ModernSlavery"
)
PROBLEM_LINE = re.compile(r"^(?P<file>/[^:]+):(?P<line>\d+): ")


@dataclass
class Campaign:
    folder: Path
    plan: Path
    template: Path
    outside: Path
    canary: Path


def campaign_with(tmp_path: Path, attack: str, templates: dict[str, str] | None = None) -> Campaign:
    """A campaign whose post `attack` renders *attack* (its line 3, after two lines of ordinary words), with
    a later innocent post, and a canary file in a folder beside the campaign's."""
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary.txt"
    canary.write_text(CANARY + "\n")
    folder = tmp_path / "campaign"
    body = "Spot the signs of modern slavery.\n{{ place | title }}\n" + attack + "\n"
    plan = write_campaign(folder, """\
        - id: attack
          accounts: [lancs-x]
          template: attack.j2
          event: preston-training
          at: '-1d 18:00'
          vars: {place: nail bars, items: [one, two], nested: {key: value}}
        - id: innocent
          accounts: [lancs-x]
          event: preston-training
          at: '09:00'
          text: >-
            {{ event.start | day }}, {{ event.start | clock }}: {{ event.title }} at {{ event.location }}.
            Call {{ phones.helpline }} ({{ phones.helpline.label }}).
        """, {"attack.j2": body, **(templates or {})})
    return Campaign(folder, plan, folder / "posts" / "attack.j2", outside, canary)


def outside_state(campaign: Campaign) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(campaign.outside.rglob("*"))
            if p.is_file()}


def refused(campaign: Campaign, line: int = 3, file: Path | None = None) -> str:
    """Run `campaign validate`; check it is refused with one FILE:LINE problem and touched nothing outside
    the campaign; check the innocent post still renders as it should. Returns the problem's line."""
    before = outside_state(campaign)
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", str(campaign.plan)])
    elapsed = time.perf_counter() - started
    output = result.output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, output
    problems = [text for text in output.splitlines() if PROBLEM_LINE.match(text)]
    assert len(problems) == 1, output
    match = PROBLEM_LINE.match(problems[0])
    assert match is not None
    assert (match["file"], int(match["line"])) == (str(file or campaign.template), line), problems[0]
    assert " — " in problems[0], problems[0]  # what is wrong — how to fix it
    assert CANARY not in output
    assert outside_state(campaign) == before
    assert elapsed < 5, f"validate took {elapsed:.1f} s"
    innocent = [d for d in render_plan(campaign.plan).drafts if d.post_id == "innocent"]
    assert [(d.text, d.problems) for d in innocent] == [(INNOCENT, ())]
    return problems[0]


def test_an_innocent_plan_renders_and_validates(tmp_path: Path) -> None:
    """The harness itself: with harmless words where the attack goes, the plan validates (exit 0) and both
    posts render as written."""
    campaign = campaign_with(tmp_path, "Call {{ phones.police }}.")
    result = CliRunner().invoke(main, ["validate", str(campaign.plan)])
    assert result.exit_code == 0, result.output
    texts = {d.post_id: d.text for d in render_plan(campaign.plan).drafts}
    assert texts == {"attack": "Spot the signs of modern slavery.\nNail Bars\nCall 101.\n\n#SeeItShareIt #ModernSlavery",
                     "innocent": INNOCENT}


def test_the_templates_folder_is_not_a_path_in_the_context(tmp_path: Path) -> None:
    """The reported escape: `campaign.templates` was a real Path, so a template could read any file. Now the
    campaign is a record of plain values without `templates`: an error, and the canary is never read."""
    campaign = campaign_with(tmp_path, f"{{{{ campaign.templates.joinpath('{tmp_path}/outside/canary.txt').read_text() }}}}")
    assert "{{ campaign.templates }} is not defined; the campaign's fields are: " in refused(campaign)


CONTEXT_VALUES = [
    "campaign", "campaign.name", "campaign.hashtags", "campaign.starts", "phones", "phones.helpline",
    "phones.helpline.number", "links", "links.advice", "events", "events['preston-training']", "event",
    "event.start", "when", "post", "platform", "account", "place", "items", "nested", "range", "dict",
    "namespace()", "cycler(1, 2)", "joiner()", "self",
]
FILE_METHODS = ["read_text()", "write_text('pwned')", "iterdir()", "open('w')", "joinpath('x')"]


@pytest.mark.parametrize("method", FILE_METHODS)
@pytest.mark.parametrize("value", CONTEXT_VALUES)
def test_no_value_in_the_context_reaches_the_file_system(tmp_path: Path, value: str, method: str) -> None:
    """Nothing a template can name has a method that reads, writes or lists files: for every value in the
    context (facts, events, campaign, vars, `when`, Jinja's own helpers), `.read_text()`, `.write_text()`,
    `.iterdir()`, `.open()` and `.joinpath()` are an error at the template's line."""
    campaign = campaign_with(tmp_path, f"{{{{ ({value}).{method} }}}}")
    refused(campaign)
    assert not (campaign.folder / "posts" / "pwned").exists()


@pytest.mark.parametrize("attack", [
    "{{ events.clear() }}",
    "{{ events.pop('preston-training') }}",
    "{{ phones.update({}) }}",
    "{{ event.update(title='Cancelled') }}",
    "{{ campaign.hashtags.append('Hacked') }}",
    "{{ items.append('three') }}",
    "{{ nested.setdefault('key', 'other') }}",
    "{% set l = [1, 2] %}{{ l.append(3) }}",
    "{% set d = dict(a=1) %}{{ d.update(b=2) }}",
    "{% set d = {'a': 1} %}{{ d.clear() }}",
])
def test_templates_cannot_change_what_another_post_sees(tmp_path: Path, attack: str) -> None:
    """The sandbox is the immutable one and the context is read-only records and tuples: clearing the
    events or updating a fact in one post is an error there, and the later post that uses them is unchanged."""
    refused(campaign_with(tmp_path, attack))


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ place.__class__ }}",
    "{{ when.__class__.__mro__ }}",
    "{{ event.start.__class__.__base__ }}",
    "{{ (1).__class__.__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ cycler.__init__.__globals__['os'] }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% set ns = namespace() %}{{ ns.__class__.__init__.__globals__ }}",
    "{% set c = cycler(1, 2) %}{{ c.__class__ }}",
    "{% for x in items %}{{ loop.__class__ }}{% endfor %}",
    "{{ place | attr('__class__') }}",
    "{{ ''.format }}",
    "{{ '{0.__class__}'.format(place) }}",
    "{{ when.tzinfo }}",
    "{{ event.start.replace(year=1999) }}",
    "{{ (1).to_bytes(8, 'big') }}",
    "{{ place.encode() }}",
    "{% macro m() %}{% endmacro %}{{ m.__call__ }}",
])
def test_attribute_walks_towards_python_internals_are_refused(tmp_path: Path, attack: str) -> None:
    """`__class__`, `mro`, `__subclasses__`, `__globals__`, the template's own context and every attribute
    not on the short list for its kind of value are refused with an error at the template's line, and
    nothing is printed."""
    problem = refused(campaign_with(tmp_path, attack))
    assert "Traceback" not in problem


def test_lipsum_is_not_there(tmp_path: Path) -> None:
    """Jinja's `lipsum` (whose `__globals__` reach Jinja's module, and which can generate text without end)
    is not a name templates have."""
    assert "{{ lipsum }} is not defined" in refused(campaign_with(tmp_path, "{{ lipsum.__globals__ }}"))


@pytest.mark.parametrize(("attack", "said"), [
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "too much work"),
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% for k in range(99999) %}{% endfor %}{% endfor %}"
     "{% endfor %}", "too much work"),
    ("{% set s = 'x' * 99999 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", "too much work"),
    ("{{ range(10 ** 12) | length }}", "range() would make over 100,000 numbers"),
    ("{{ 'x' * 3000000000 }}", "would make over 100,000 characters"),
    ("{{ ['x' * 9999] * 99999 }}", "would make over 100,000 characters"),
    ("{{ 9 ** 999999999 }}", "bits"),
    ("{% set n = namespace(v=7) %}{% for i in range(40) %}{% set n.v = n.v * n.v %}{% endfor %}{{ n.v }}", "bits"),
    ("{% set n = namespace(s='x') %}{% for i in range(64) %}{% set n.s = n.s ~ n.s %}{% endfor %}{{ n.s }}",
     "would make over 100,000 characters"),
    ("{% set n = namespace(s=['x']) %}{% for i in range(64) %}{% set n.s = [n.s, n.s] %}{% endfor %}{{ n.s }}",
     "builds a value of over 100,000 characters"),
    ("{% set n = namespace(s='x') %}{% for i in range(64) %}{% set n.s = n.s + n.s %}{% endfor %}",
     "builds a value of over 100,000 characters"),
    ("{% set s %}{% for i in range(99999) %}{{ 'y' * 99999 }}{% endfor %}{% endset %}{{ s | length }}",
     "prints over 1,000,000 characters"),
    ("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "call each other more than 50 deep"),
    ("{% macro m(n) %}{{ m(n) }}{{ m(n) }}{% endmacro %}{{ m(1) }}", "call each other more than 50 deep"),
    ("{% for i in range(20000) %}xxxxxxxxxx{% endfor %}", "its text is over 100,000 characters long"),
    ("{{ 'x' | center(3000000000) }}", "would make over 100,000 characters"),
    ("{{ place.center(3000000000) }}", "would make over 100,000 characters"),
    ("{{ place.replace('', 'x' * 99999) }}", "would make over 100,000 characters"),
    ("{{ ('a\\n' * 9999) | indent(99999) }}", "would make over 100,000 characters"),
    ("{{ '%3000000000d' | format(1) }}", "would make over 100,000 characters"),
    ("{{ '%3000000000d' % 1 }}", "would make over 100,000 characters"),
    ("{{ ('x' * 99999) | wordwrap(1, wrapstring='y' * 99999) }}", "would make over 100,000 characters"),
    ("{{ ['x' * 30000, 'y' * 30000] | join('z' * 60000) }}", "would make over 100,000 characters"),
    ("{% include 'attack.j2' %}", "includes, imports or calls itself without end"),
])
def test_rendering_is_bounded_in_work_time_and_size(tmp_path: Path, attack: str, said: str) -> None:
    """Loops, recursion and text that grows are stopped within about a second, before they reach memory
    trouble, with an error naming the template and the line: a budget of steps per render, `range()`
    capped, every value a template builds measured as it is made, and the post's text capped."""
    started = time.perf_counter()
    problem = refused(campaign_with(tmp_path, attack))
    assert said in problem
    assert time.perf_counter() - started < 3


def test_nested_loops_stop_within_about_a_second(tmp_path: Path) -> None:
    """The reported hang: nested `range(99999)` loops. Validation ends, with the error, well within a second
    and a half of starting (the render itself stops at one million steps or one second, whichever is first)."""
    campaign = campaign_with(tmp_path, "{% for i in range(99999) %}{% for j in range(99999) %}{{ '' }}"
                                       "{% endfor %}{% endfor %}")
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", str(campaign.plan)])
    assert result.exit_code == 1
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize("attack", [
    "{% include '/etc/passwd' %}",
    "{% include '{OUTSIDE}/canary.txt' %}",
    "{% include '../../outside/canary.txt' %}",
    "{% include '../../x' %}",
    "{% include 'link.j2' %}",
    "{% import '../../outside/canary.txt' as m %}",
    "{% from '/etc/passwd' import x %}",
    "{% extends '../../outside/canary.txt' %}",
])
def test_templates_include_only_templates_inside_the_campaign(tmp_path: Path, attack: str) -> None:
    """`{% include %}`, `{% import %}` and `{% extends %}` load templates only from inside the campaign folder:
    an absolute path, a `..` or a symlink (`link.j2` → the canary) that leads out is an error at the line,
    and the file outside is never read."""
    campaign = campaign_with(tmp_path, attack.replace("{OUTSIDE}", str(tmp_path / "outside")))
    (campaign.folder / "posts" / "link.j2").symlink_to(campaign.canary)
    problem = refused(campaign)
    if "x'" not in attack:
        assert "leads outside the campaign folder" in problem or "no template" in problem


def test_an_import_cannot_leave_state_for_a_later_post(tmp_path: Path) -> None:
    """A template module is made afresh for each import: a post that changes a namespace it imported does
    not change what a later post importing the same template sees."""
    campaign = campaign_with(tmp_path, "{% import 'shared.j2' as s %}{% set n = s.box %}{% set n.word = 'dirty' %}"
                                       "{{ n.word }}", templates={
        "shared.j2": "{% set box = namespace(word='clean') %}",
        "later.j2": "{% import 'shared.j2' as s %}Still {{ s.box.word }}.",
    })
    with campaign.plan.open("a", encoding="utf-8") as plan:
        plan.write(textwrap.indent(textwrap.dedent("""\
            - id: later
              accounts: [lancs-x]
              template: later.j2
              at: '2027-03-18 09:00'
            """), "  "))
    texts = {d.post_id: d.text.split("\n")[-3] if d.post_id == "attack" else d.text.split("\n")[0]
             for d in render_plan(campaign.plan).drafts}
    assert texts == {"attack": "dirty", "innocent": INNOCENT.split("\n")[0], "later": "Still clean."}


def test_inline_text_is_sandboxed_too(tmp_path: Path) -> None:
    """A post's own `text:` is a template in the same sandbox: an attack there is an error at the plan's
    line of it."""
    campaign = campaign_with(tmp_path, "Nothing here.")
    source = campaign.plan.read_text(encoding="utf-8").replace(
        "{{ event.start | day }}, {{ event.start | clock }}:", "{{ events.clear() }}")
    campaign.plan.write_text(source, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(campaign.plan)])
    assert result.exit_code == 1
    (problem,) = [text for text in result.output.splitlines() if PROBLEM_LINE.match(text)]
    line = next(number for number, text in enumerate(source.splitlines(), start=1) if "events.clear()" in text)
    assert problem.startswith(f"{campaign.plan}:{line}: post 'innocent' for @LancsPolice (x): "
                              "{{ events.clear }} is not defined; the events are: preston-training — ")


def test_what_templates_may_do_still_works(tmp_path: Path) -> None:
    """The lock-down takes nothing a post needs: facts and their labels, events, the campaign, vars, `when`,
    loops with `loop`, conditions, macros, `namespace`, `cycler`, includes and imports of templates in the
    folder, and Jinja's filters."""
    campaign = campaign_with(tmp_path, textwrap.dedent("""\
        {% import 'macros.j2' as m %}{% set n = namespace(total=0) %}{% set c = cycler('odd', 'even') %}
        {% for item in items %}{{ loop.index }}. {{ item | upper }} ({{ c.next() }}){% set n.total = n.total + 1 %}
        {% endfor %}{{ n.total }} items; {{ m.shout(event.title) }} on {{ when | day }} at {{ when | clock }}
        {{ campaign.name }} {{ campaign.hashtags | length }} {{ nested.key }} {{ events | length }}
        {{ links.advice }} {{ phones.emergency.label | lower }} {{ place.split() | map('capitalize') | join('-') }}
        {% include 'footer.j2' %} {{ '%s/%s' | format(1, 2) }} {{ when.weekday() }} {{ 'x' * 3 }} {{ 2 ** 10 }}"""),
        templates={"macros.j2": "{% macro shout(s) %}{{ s | upper }}!{% endmacro %}",
                   "footer.j2": "Thanks, {{ account }} on {{ platform }}."})
    result = CliRunner().invoke(main, ["validate", str(campaign.plan)])
    assert result.exit_code == 0, result.output
    (draft,) = [d for d in render_plan(campaign.plan).drafts if d.post_id == "attack"]
    assert draft.text.split("\n")[2:] == [
        "1. ONE (odd)2. TWO (even)2 items; MODERN SLAVERY TRAINING! on Monday 15 March at 6pm",
        "Test week 2 value 1",
        "https://www.lancashire.police.uk/help-advice/safer-communities/modern-slavery/ emergency Nail-Bars",
        "Thanks, @LancsPolice on x. 1/2 0 xxx 1024",
        "",
        "#SeeItShareIt #ModernSlavery",
    ]


def test_the_bundled_example_still_renders_every_post_without_a_problem() -> None:
    """`campaign validate` with no plan checks the bundled week: 108 posts, no errors, no warnings."""
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(": ok: 0 errors, 0 warnings in 36 plan entries (108 posts to publish)")


# -- None is never printed: a field the plan does not set is undefined --------------------------------------

NO_LOCATION = BASE_PLAN + "  quiz-night:\n    title: Community quiz night\n    start: '2027-03-17 19:00'\n"
"""The fixture plan with a second event that has no `location:`, `end:` or `details:`."""


def quiz_post(tmp_path: Path, template: str) -> Path:
    """A plan whose post `quiz` (to lancs-x, tied to the event without a location) renders *template*."""
    return write_campaign(tmp_path, """\
        - id: quiz
          accounts: [lancs-x]
          template: quiz.j2
          event: quiz-night
          at: '-1d 18:00'
        """, {"quiz.j2": template}, base=NO_LOCATION)


def test_printing_a_field_the_event_does_not_set_is_an_error_naming_the_event_and_field(tmp_path: Path) -> None:
    """`{{ event.location }}` for an event without `location:` was the text "None" in the post. It is an error
    at the template's line, through `campaign validate`, saying the event has no location and how to fix it."""
    plan = quiz_post(tmp_path, "Quiz night tomorrow!\nCome along to {{ event.location }}.\n")
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 1, result.output
    assert "None" not in result.output
    (problem,) = [text for text in result.output.splitlines() if PROBLEM_LINE.match(text)]
    assert problem == (
        f"{tmp_path / 'posts' / 'quiz.j2'}:2: post 'quiz' for @LancsPolice (x): {{{{ event.location }}}}: the event "
        "'quiz-night' has no location (`location:` is not set in the plan) — add `location:` to the event "
        "'quiz-night' in the plan, or print it only where it is set: {% if event.location %}…{% endif %}")


@pytest.mark.parametrize(("template", "said"), [
    ("{{ event.end | clock }} finish", "{{ event.end }}: the event 'quiz-night' has no end"),
    ("About: {{ event.details }}", "{{ event.details }}: the event 'quiz-night' has no details"),
    ("At {{ events['quiz-night'].location }}", "the event 'quiz-night' has no location"),
    ("At {{ event['location'] }}", "the event 'quiz-night' has no location"),
    ("At {{ event.get('location') }}", "the event 'quiz-night' has no location"),
    ("At {{ 'the ' ~ event.location }}", "the event 'quiz-night' has no location"),
    ("At {{ event.location | upper }}", "the event 'quiz-night' has no location"),
    ("Aim: {{ campaign.objective }}", "{{ campaign.objective }}: the campaign has no objective"),
    ("By {{ campaign.author }}", "{{ campaign.author }}: the campaign has no author"),
    ("Quiz {{ none }}", "it prints a value that is not set (none), which would be the text 'None'"),
    ("Quiz {{ dict(a=1).get('b') }}", "it prints a value that is not set (none)"),
    ("Quiz {{ 'x' ~ none }}", "it joins a value that is not set (none)"),
])
def test_no_way_of_printing_an_unset_field_prints_none(tmp_path: Path, template: str, said: str) -> None:
    """However a template reaches a field the plan does not set — by dot, by key, with `.get()`, joined with
    `~`, through a filter, or through `events[…]` — and whatever else would print as None, the post is an
    error saying what is not set, never a post with the word "None"."""
    rendered = render_plan(quiz_post(tmp_path, template))
    assert not any("None" in d.text for d in rendered.drafts)
    messages = [p.message for p in rendered.errors]
    assert len(messages) == 1 and said in messages[0], messages


def test_an_optional_field_can_be_tested_in_a_template_without_error(tmp_path: Path) -> None:
    """StrictUndefined makes `{% if name %}` an error for a name that does not exist; a field the plan may
    leave out is testable instead: `{% if event.location %}`, `is defined`, `| default`, `or` and `==` work,
    for an event without a location and one with it, and the post validates."""
    template = ("{% if event.location %}At {{ event.location }}.{% else %}Venue to follow.{% endif %}"
                "{% if event.location is defined %} Defined.{% endif %}"
                "{% if event.location is not defined %} Not defined.{% endif %}"
                " {{ event.location | default('TBC') }} / {{ event.location or 'somewhere' }}"
                "{% if event.location == 'Preston Town Hall' %} In Preston.{% endif %}"
                " {{ event.get('location', 'n/a') }} {{ event.title }}")
    plan = write_campaign(tmp_path, """\
        - id: quiz
          accounts: [lancs-x]
          template: quiz.j2
          event: quiz-night
          at: '-1d 18:00'
        - id: training
          accounts: [lancs-x]
          template: quiz.j2
          event: preston-training
          at: '-1d 18:00'
        """, {"quiz.j2": template}, base=NO_LOCATION)
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 0, result.output
    texts = {d.post_id: d.text.split("\n")[0] for d in render_plan(plan).drafts}
    assert texts == {
        "quiz": "Venue to follow. Not defined. TBC / somewhere n/a Community quiz night",
        "training": "At Preston Town Hall. Defined. Preston Town Hall / Preston Town Hall In Preston. "
                    "Preston Town Hall Modern slavery training",
    }


def test_a_misspelt_field_is_still_an_error_even_in_an_if(tmp_path: Path) -> None:
    """Only fields that exist but are not set are false in a test: a misspelt one (`locaton`) is still an
    error, which lists the event's fields and those it does not set."""
    rendered = render_plan(quiz_post(tmp_path, "{% if event.locaton %}At {{ event.locaton }}{% endif %} Quiz"))
    assert [p.message for p in rendered.errors] == [
        "{{ event.locaton }} is not defined; the event's fields are: id, start, title (not set here: details, end, "
        "location)"]


def _values(value: object) -> Iterator[object]:
    """*value* and every value inside it (records, tuples), depth first."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, tuple):
        for item in value:
            yield from _values(item)


def test_nothing_in_the_template_context_is_none(tmp_path: Path) -> None:
    """Every value a template can reach — the campaign (without objective, audience or author), facts, every
    event (one without end, location and details), the post, its vars, `when`, the account — holds no None:
    a field the plan does not set is left out of its record, so it is undefined, not "None"."""
    plan_path = write_campaign(tmp_path, """\
        - id: quiz
          accounts: [lancs-x]
          text: Quiz {{ place }}
          vars: {place: hall, items: [a, b], nested: {key: value}}
          event: quiz-night
          at: '-1d 18:00'
        """, base=NO_LOCATION)
    plan, problems = load_plan(plan_path)
    assert plan is not None and not problems
    renderer = Renderer(plan)
    post = plan.posts[0]
    context = renderer._context(post, post.occurrences[0], plan.accounts["lancs-x"], post.content)
    reachable = (*renderer.env.globals.values(), *context.values())
    assert any(isinstance(v, Mapping) and "title" in v and "location" not in v for v in _values(reachable))
    assert not [v for v in _values(reachable) if v is None]
