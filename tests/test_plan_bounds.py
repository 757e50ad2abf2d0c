"""Bounds on what a plan may say, and plans that once ended in a traceback or a hang.

Each case is run through `campaign validate` (click's CliRunner on ``campaign.cli:main``): it exits 1,
prints no traceback, prints one line per problem, each ``FILE:LINE: …`` at the line of the mistake, and
finishes in bounded time. What is proved, case by case: unhashable account and platform lists, huge
offsets, durations and dates (OverflowError in ``times.py``), a number of 4,301 digits (Python's limit on
reading one), names over 255 characters, a non-X account listed twice (which used to validate and then
break `schedule` on a UNIQUE constraint), the billion-laughs alias bomb (refused in under a second), an
error list capped with a count of the rest, control characters, NUL, U+2028 and ANSI escapes shown
escaped and on the right line, and a token pasted as a whole `credentials:` value never echoed back.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from campaign.cli import main
from tests.plan_fixtures import BASE_PLAN, base_with, line_of, write_campaign

ONE_POST = """\
- id: launch
  accounts: [lancs-x]
  text: Launch
  at: '2027-03-15 09:00'
"""


def post(**keys: str) -> str:
    """One post, with *keys* (YAML text) replacing or adding to the defaults."""
    fields = {"id": "launch", "accounts": "[lancs-x]", "text": "Launch", "at": "'2027-03-15 09:00'", **keys}
    lines = [f"{key}: {value}" if value else f"{key}:" for key, value in fields.items() if value is not None]
    return "- " + "\n  ".join(lines) + "\n"


def validate(plan: Path, limit: float = 5.0) -> tuple[Result, list[str]]:
    """Run `campaign validate PLAN`; the result and its problem lines, after checking every line's shape."""
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", str(plan)])
    elapsed = time.perf_counter() - started
    assert elapsed < limit, f"validate took {elapsed:.2f} s"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    *problems, verdict = result.output.splitlines()
    assert verdict.startswith(f"{plan}: ")
    for line in problems:
        assert re.match(rf"^{re.escape(str(plan))}:\d+: \S", line), line
    return result, problems


def only_problem(plan: Path, limit: float = 5.0) -> str:
    """The one problem `validate` reports (as an error, exit 1), without the file name."""
    result, problems = validate(plan, limit)
    assert result.exit_code == 1, result.output
    assert len(problems) == 1, result.output
    return problems[0].removeprefix(f"{plan}:")


@pytest.mark.parametrize(
    ("posts", "base", "fragment", "message"),
    [
        pytest.param(post(accounts="[[lancs-x]]"), BASE_PLAN, "accounts: [[",
                     "posts[1] (launch).accounts: expected an account id, found a list", id="accounts-list-in-list"),
        pytest.param(post(accounts="[{a: 1}]"), BASE_PLAN, "accounts: [{",
                     "posts[1] (launch).accounts: expected an account id, found a mapping", id="accounts-map-in-list"),
        pytest.param(post(accounts=None, platforms="[[x]]"), BASE_PLAN, "platforms:",
                     "posts[1] (launch).platforms: expected a platform, found a list", id="platforms-list-in-list"),
        pytest.param(post(accounts="[lancs-facebook, lancs-facebook]"), BASE_PLAN, "accounts: [lancs-facebook",
                     "posts[1] (launch).accounts: the account 'lancs-facebook' is listed twice",
                     id="account-listed-twice"),
        pytest.param(post(accounts="[]"), BASE_PLAN, "accounts: []",
                     "posts[1] (launch).accounts: the list of accounts is empty", id="empty-accounts"),
        pytest.param(post(accounts=None, platforms="[]"), BASE_PLAN, "platforms: []",
                     "posts[1] (launch).platforms: the list of platforms is empty", id="empty-platforms"),
        pytest.param(post(event="preston-training", at="'+99999999999h'"), BASE_PLAN, "+99999999999h",
                     "posts[1] (launch).at: '+99999999999h' is more than 366 days from the event", id="huge-hours"),
        pytest.param(post(event="preston-training", at="'+9999999d'"), BASE_PLAN, "+9999999d",
                     "posts[1] (launch).at: '+9999999d' is more than 366 days from the event", id="huge-days"),
        pytest.param(ONE_POST, base_with("grace: 999999999999d\n"), "grace:",
                     "campaign.grace: '999999999999d' is more than 366 days", id="huge-grace"),
        pytest.param(ONE_POST, base_with("grace: 2d\n"), "grace:",
                     "campaign.grace: the grace window '2d' is out of range", id="grace-over-a-day"),
        pytest.param(ONE_POST, base_with("grace: 0m\n"), "grace:",
                     "campaign.grace: the grace window '0m' is out of range", id="no-grace"),
        pytest.param(ONE_POST, base_with("collect_after: [1h, 99999999999h]\n"), "collect_after:",
                     "campaign.collect_after[2]: '99999999999h' is more than 366 days", id="huge-collect-after"),
        pytest.param(ONE_POST, base_with("collect_after: [1h, 100d]\n"), "collect_after:",
                     "campaign.collect_after[2]: the time '100d' is out of range", id="collect-after-over-90-days"),
        pytest.param(post(at="'9999-12-31 23:00'"), BASE_PLAN.replace("Europe/London", "America/New_York"),
                     "9999-12-31", "posts[1] (launch).at: '9999-12-31 23:00' is out of range: a plan's dates lie "
                     "between 2000-01-01 and 2099-12-31", id="year-9999-in-new-york"),
        pytest.param(post(at="9999-12-31T23:00:00-05:00"), BASE_PLAN, "9999-12-31",
                     "posts[1] (launch).at: 9999-12-31 23:00 is out of range", id="year-9999-timestamp"),
        pytest.param(post(at=None, daily="'09:00'", until="9999-12-31"), BASE_PLAN, "until:",
                     "posts[1] (launch).until: 9999-12-31 is out of range", id="daily-until-9999"),
        pytest.param(post(at=None, daily="'09:00'"), BASE_PLAN.replace("ends: 2027-03-21", "ends: 9999-12-31"),
                     "ends:", "campaign.ends: 9999-12-31 is out of range", id="campaign-ends-9999"),
        pytest.param(post(at=None, daily="'09:00'", **{"from": "0001-01-01"}), BASE_PLAN, "from:",
                     "posts[1] (launch).from: 0001-01-01 is out of range", id="daily-from-year-1"),
        pytest.param(post(at=None, daily="'09:00'", **{"from": "2027-03-01"}), BASE_PLAN, "from:",
                     "posts[1] (launch).from: the slot starts on 2027-03-01, before the campaign starts on 2027-03-15",
                     id="daily-from-before-the-campaign"),
        pytest.param(ONE_POST, BASE_PLAN.replace("ends: 2027-03-21", "ends: 2028-03-21"), "ends:",
                     "campaign.ends: the campaign lasts 373 days (2027-03-15 to 2028-03-21); a plan may cover at "
                     "most 366", id="campaign-over-a-year"),
        pytest.param(post(at="9" * 4301), BASE_PLAN, "9999999999",
                     "posts[1] (launch).at: expected text or a date, found a number of 4,301 characters, too long "
                     "to be one", id="4301-digit-number"),
        pytest.param(post(text="'Call {{ n }}'", vars="{n: " + "9" * 4301 + "}"), BASE_PLAN, "vars:",
                     "posts[1] (launch).vars.n: the template variable 'n' is a number of 4,301 characters, too "
                     "long to be one", id="4301-digit-var"),
        pytest.param(post(id="a" * 256), BASE_PLAN, "aaaaaaaa",
                     "posts[1] (" + "a" * 60 + "…): the id " + repr("a" * 60) + "… (256 characters) is too long; "
                     "an id may be at most 100 characters", id="id-over-255"),
        pytest.param(post(text=None, template="a" * 256 + ".j2"), BASE_PLAN, "template:",
                     "posts[1] (launch).template: the name " + repr("a" * 60) + "… (259 characters) is 259 bytes "
                     "long; a file or folder name may be at most 255", id="template-name-over-255"),
        pytest.param(post(images="[{file: " + "a" * 256 + ".png, alt: A card}]"), BASE_PLAN, "images:",
                     "posts[1] (launch).images[1]: the name " + repr("a" * 60) + "… (260 characters) is 260 bytes "
                     "long; a file or folder name may be at most 255", id="image-name-over-255"),
        pytest.param(ONE_POST, base_with("templates: " + "b" * 256 + "\n"), "templates:",
                     "campaign.templates: the name " + repr("b" * 60) + "… (256 characters) is 256 bytes long; a "
                     "file or folder name may be at most 255", id="templates-folder-over-255"),
        pytest.param(post(id='"launch\\x1b[31m"'), BASE_PLAN, "id: \"launch",
                     "posts[1] (launch\\x1b[31m): 'launch\\x1b[31m' is not a usable id", id="ansi-escape-in-id"),
        pytest.param(post(id='"launch\\u2028two"'), BASE_PLAN, "id: \"launch",
                     "posts[1] (launch\\u2028two): 'launch\\u2028two' is not a usable id", id="line-separator-in-id"),
        pytest.param(post(text="'Hello\x00there'"), BASE_PLAN, "Hello",
                     "plan: the line holds the control character '\\x00', which YAML does not allow", id="nul"),
        pytest.param(post(text="'Hello\x1b[31mthere'"), BASE_PLAN, "Hello",
                     "plan: the line holds the control character '\\x1b', which YAML does not allow", id="raw-ansi"),
    ],
)
def test_a_bound_or_a_former_traceback_is_one_problem_on_its_line(tmp_path: Path, posts: str, base: str,
                                                                   fragment: str, message: str) -> None:
    """Each input is refused by `validate` with exit 1 and exactly one line, `FILE:LINE: where: message — fix`,
    at the line of the mistake, with nothing unescaped that could split or colour the terminal line."""
    plan = write_campaign(tmp_path, posts, base=base)
    problem = only_problem(plan)
    assert problem.startswith(f"{line_of(plan, fragment)}: {message}"), problem
    assert not re.search("[\x00-\x1f\x7f\u2028\u2029]", problem)


def test_a_line_separator_inside_a_value_does_not_move_later_line_numbers(tmp_path: Path) -> None:
    """libyaml counts U+2028 as a line break; problems are still reported at the line an editor shows."""
    plan = write_campaign(tmp_path, post(text='"One\u2028two"') + post(id="second", accounts="[lancs-q]"))
    lines = plan.read_text(encoding="utf-8").split("\n")  # as editors and `grep -n` count: not splitlines()
    line = next(number for number, text in enumerate(lines, start=1) if "lancs-q" in text)
    assert only_problem(plan).startswith(f"{line}: posts[2] (second).accounts: there is no account 'lancs-q'")


@pytest.mark.parametrize("where", ["at", "vars", "anchor"])
def test_an_alias_bomb_is_refused_in_under_a_second(tmp_path: Path, where: str) -> None:
    """The billion laughs (ten lists of nine aliases of the one before) is refused while the plan is read, at the
    first alias that stands for too much (`*l4`, used on the line of `&l5`), in well under a second, whether it
    is used in `at:`, in `vars:`, or only defined."""
    levels = "".join(f"      - &l{i} [{', '.join([f'*l{i - 1}'] * 9 if i else ['lol'] * 9)}]\n" for i in range(10))
    anchors = "- id: holder\n  accounts: [lancs-x]\n  text: Anchors\n  at: '2027-03-15 10:00'\n  vars:\n" \
              "    bomb:\n" + levels
    used = {"at": post(at="*l9"), "vars": post(text="'Hi {{ x }}'", vars="{x: *l9}"), "anchor": post()}[where]
    plan = write_campaign(tmp_path, anchors + used)
    problem = only_problem(plan, limit=1.0)
    assert problem.startswith(f"{line_of(plan, '&l5')}: plan: aliases (*name) here expand to more than 100,000 "
                              "characters of values (an alias bomb?)"), problem


def test_an_alias_inside_what_it_names_is_refused(tmp_path: Path) -> None:
    """An anchored list holding an alias of itself never ends; it is refused, not turned into text."""
    plan = write_campaign(tmp_path, post(text="'Hi {{ x }}'", vars="{x: &loop [a, *loop]}"))
    assert only_problem(plan, limit=1.0).startswith(f"{line_of(plan, '&loop')}: plan: an alias (*name) is used "
                                                    "inside the part it names")


def test_the_error_list_is_capped_with_a_count_of_the_rest(tmp_path: Path) -> None:
    """300 mistakes print the first 200 and one line counting the other 100, at the line of the first one left
    off (the 201st post's `accounts:`)."""
    posts = "".join(post(id=f"p{i}", accounts="[lancs-q]") for i in range(300))
    plan = write_campaign(tmp_path, posts)
    result, problems = validate(plan)
    assert result.exit_code == 1
    assert len(problems) == 201
    assert problems[-1] == (f"{plan}:{line_of(plan, 'id: p200') + 1}: plan: … and 100 more errors, from this line on "
                            "(only the first 200 are listed) — correct the ones listed, then validate again to see "
                            "the rest")
    assert result.output.splitlines()[-1].startswith(f"{plan}: not ready: ")


def test_thousands_of_days_before_the_campaign_are_one_line(tmp_path: Path) -> None:
    """`from:` far before the campaign used to print one error per day (580,000 lines for 0001-01-01): now it
    is one line, at `from:`."""
    plan = write_campaign(tmp_path, post(at=None, daily="'09:00'", **{"from": "2000-01-01"}))
    assert only_problem(plan).startswith(f"{line_of(plan, 'from:')}: posts[1] (launch).from: the slot starts on "
                                         "2000-01-01, before the campaign starts on 2027-03-15")


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("credentials: xoxb-1234567890-SECRETSECRETSECRET", "text"),
        ("credentials: 123456789012345", "a number"),
        ("credentials: [xoxb-1234567890-SECRETSECRETSECRET]", "a list"),
    ],
)
def test_a_token_pasted_as_the_whole_credentials_value_is_never_echoed(tmp_path: Path, written: str,
                                                                       kind: str) -> None:
    """A secret written where the mapping of credential names should be is refused at its line, saying only
    what kind of value it is."""
    base = BASE_PLAN.replace("credentials: {access_token: MASTODON_TOKEN}", written)
    plan = write_campaign(tmp_path, ONE_POST, base=base)
    problem = only_problem(plan)
    assert problem.startswith(f"{line_of(plan, 'credentials: ' + written.split(': ')[1][:5])}: "
                              f"accounts.lancs-mastodon.credentials: expected the names of environment variables, "
                              f"one per credential, found {kind} (not shown: it may be a secret)")
    assert "SECRET" not in problem and "1234567890" not in problem


@pytest.mark.parametrize(
    ("value", "kind"),
    [("12345678901234", "this is a number"), ("[SECRET1, SECRET2]", "this is a list"),
     ("{key: SECRETSECRET}", "this is a mapping"), ("true", "this is true or false"),
     ("AKIAIOSFODNN7EXAMPLE", "this looks like a secret"), ("'xoxb-SECRET-token'", "this is not the name")],
)
def test_a_credential_that_is_not_a_variable_name_is_refused_without_echoing_it(tmp_path: Path, value: str,
                                                                                 kind: str) -> None:
    """A number, list, mapping, true/false, an upper-case key ID or any other text where an environment
    variable's name should be is an error at its line that never quotes the value."""
    plan = write_campaign(tmp_path, ONE_POST, base=BASE_PLAN.replace("MASTODON_TOKEN", value))
    problem = only_problem(plan)
    assert problem.startswith(f"{line_of(plan, 'access_token: ' + value[:3])}: "
                              f"accounts.lancs-mastodon.credentials.access_token: {kind}")
    for secret in ("SECRET", "12345678901234", "AKIA"):
        assert secret not in problem.split(": ", 2)[2]


def test_a_blank_credential_is_an_error_naming_it(tmp_path: Path) -> None:
    """A credential with nothing after it is never skipped: it is an error naming the credential."""
    plan = write_campaign(tmp_path, ONE_POST, base=BASE_PLAN.replace("{access_token: MASTODON_TOKEN}",
                                                                     "{access_token: }"))
    assert only_problem(plan).startswith(f"{line_of(plan, 'access_token: }')}: "
                                         "accounts.lancs-mastodon.credentials.access_token: 'access_token' is blank")


def test_a_campaign_longer_than_a_month_is_a_warning(tmp_path: Path) -> None:
    """Over 31 days is a warning on `ends:` (is a date wrong?); the plan still validates."""
    plan = write_campaign(tmp_path, ONE_POST, base=BASE_PLAN.replace("ends: 2027-03-21", "ends: 2027-05-21"))
    result, problems = validate(plan)
    assert result.exit_code == 0, result.output
    assert problems == [f"{plan}:{line_of(plan, 'ends:')}: campaign.ends: warning: the campaign lasts 68 days "
                        "(2027-03-15 to 2027-05-21), more than a month — check the dates; most campaigns last a week "
                        "or two"]


def test_a_duplicate_account_no_longer_reaches_schedule(tmp_path: Path) -> None:
    """A Facebook account listed twice is refused by `schedule` too (it checks the plan first), so the store
    never meets two copies of one post (which used to fail on a UNIQUE constraint)."""
    plan = write_campaign(tmp_path, post(accounts="[lancs-facebook, lancs-facebook]"))
    result = CliRunner().invoke(main, ["schedule", str(plan)], env={"CAMPAIGN_DB": str(tmp_path / "store.db")})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "UNIQUE" not in result.output


def test_a_language_of_100000_characters_is_refused_at_once(tmp_path: Path) -> None:
    """A `language:` far longer than any tag is refused before langcodes reads it (which took over a second),
    quoting only its start."""
    plan = write_campaign(tmp_path, post(language="x" * 100_000))
    problem = only_problem(plan, limit=1.0)
    assert problem.startswith(f"{line_of(plan, 'language:')}: posts[1] (launch).language: 'xxxx")
    assert "… (100,000 characters) is too long to be a language tag" in problem
    assert len(problem) < 400


def test_a_merge_key_that_names_no_mapping_is_an_error(tmp_path: Path) -> None:
    """`<<:` followed by anything but a mapping is refused at its line, never skipped silently."""
    plan = write_campaign(tmp_path, post(**{"<<": "5"}))
    assert only_problem(plan).startswith(f"{line_of(plan, '<<:')}: plan: `<<:` must be followed by a mapping to "
                                         "copy keys from, not a number")
