"""Plans in Welsh and English (issue #13; campaign/plan/bilingual.py): what the plan may say, what each account
publishes, the checks that keep the two languages saying the same facts, and the pair as one unit through sign-off,
pausing and publishing — the Welsh post never later than the English one, and never left out when it goes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.exceptions import StoreError
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.plan import load_plan
from campaign.render import RenderedPlan, render_plan
from campaign.sandbox import Sandbox
from campaign.sandbox.runner import SandboxServer
from campaign.store import PostState, Selection, Store
from tests import store_fixtures
from tests.plan_fixtures import line_of, write_campaign
from tests.runner_fixtures import (
    CAMPAIGN,
    PlanAccount,
    demo_plan_accounts,
    environment,
    extra_accounts,
    live_sandbox,
    posts,
    put_on_real_time,
    wait_until,
)

store_url = store_fixtures.store_url  # a fixture: a new, empty database, on SQLite and on PostgreSQL
store = store_fixtures.store  # a fixture: a store on it

BILINGUAL_BASE = """\
campaign:
  name: Wythnos gweithredu / Week of action
  id: test-week
  timezone: Europe/London
  starts: 2027-03-15
  ends: 2027-03-21
  languages: [cy, en]
  hashtags: {cy: [CaethwasiaethFodern], en: [ModernSlavery]}
facts:
  phones:
    helpline: {label: Modern Slavery & Exploitation Helpline, number: '08000 121 700'}
    emergency: {label: Emergency, number: '999'}
accounts:
  heddlu-x:
    platform: x
    handle: '@HeddluEnghraiff'
    credentials: {consumer_key: CY_CK, consumer_secret: CY_CS, access_token: CY_AT, access_token_secret: CY_ATS}
    language: cy
    pair: police-x
  police-x:
    platform: x
    handle: '@ExamplePolice'
    credentials: {consumer_key: EN_CK, consumer_secret: EN_CS, access_token: EN_AT, access_token_secret: EN_ATS}
    language: en
  police-facebook:
    platform: facebook
    handle: Heddlu Enghraifft / Example Police
    credentials: {page_id: FB_PAGE_ID, page_access_token: FB_PAGE_TOKEN}
    languages: [cy, en]
"""

HELPLINE = """\
- id: helpline
  at: '2027-03-15 09:00'
  accounts: [heddlu-x, police-facebook]
  cy:
    text: "Ffoniwch y Llinell Gymorth Caethwasiaeth Fodern ar {{ phones.helpline }}, ddydd a nos."
    images: [{file: images/guide.png, alt: "Cerdyn y llinell gymorth"}]
  en:
    text: "Call the Modern Slavery Helpline on {{ phones.helpline }}, day or night."
    images: [{file: images/guide.png, alt: "The helpline card"}]
"""


def bilingual(root: Path, posts: str, base: str = BILINGUAL_BASE) -> Path:
    return write_campaign(root, posts, base=base)


def drafts_by_key(plan: Path) -> dict[str, object]:
    rendered = render_plan(plan, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert rendered.ok, [str(p) for p in rendered.errors]
    return {d.key: d for d in rendered.drafts}


def validate(plan: Path) -> list[str]:
    """`campaign validate PLAN`'s problem lines (it must not fail with a traceback)."""
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return [line for line in result.output.splitlines() if line.startswith(f"{plan}:") and " — " in line]


# -- what each account publishes -----------------------------------------------------------------------------


def test_a_bilingual_account_publishes_one_post_welsh_first_each_language_with_its_own_hashtags(
        tmp_path: Path) -> None:
    """On an account with `languages: [cy, en]` the post is the Welsh words and Welsh hashtags, then the English
    words and English hashtags; its one image is described in both languages, Welsh first; its language is
    Welsh, and it waits for nothing."""
    drafts = drafts_by_key(bilingual(tmp_path, HELPLINE))
    post = drafts["helpline/police-facebook"]
    assert post.text == ("Ffoniwch y Llinell Gymorth Caethwasiaeth Fodern ar 08000 121 700, ddydd a nos.\n\n"
                         "#CaethwasiaethFodern\n\n"
                         "Call the Modern Slavery Helpline on 08000 121 700, day or night.\n\n#ModernSlavery")
    [image] = post.images
    assert image.alt == "Cerdyn y llinell gymorth\n\nThe helpline card"
    assert (post.language, post.follows) == ("cy,en", None)


def test_paired_accounts_each_publish_their_language_and_the_english_post_follows_the_welsh(tmp_path: Path) -> None:
    """A post naming the Welsh account of a pair goes to both: the Welsh words on the Welsh account, the English
    on the English one, which follows the Welsh post (the store claims it only once that one is out); the
    follow is part of what an approval is bound to."""
    drafts = drafts_by_key(bilingual(tmp_path, HELPLINE))
    welsh, english = drafts["helpline/heddlu-x"], drafts["helpline/police-x"]
    assert welsh.text.startswith("Ffoniwch") and "#CaethwasiaethFodern" in welsh.text and "Call" not in welsh.text
    assert english.text.startswith("Call") and "#ModernSlavery" in english.text and "Ffoniwch" not in english.text
    assert (welsh.language, welsh.follows) == ("cy", None)
    assert (english.language, english.follows) == ("en", "helpline/heddlu-x")
    from campaign.render import content_hash
    alone = content_hash(english.text, [(i.sha256, i.alt) for i in english.images], None, "en")
    assert english.content_hash != alone


def test_a_post_naming_the_english_account_of_a_pair_goes_to_the_welsh_one_too(tmp_path: Path) -> None:
    """Naming either account of a pair sends the post to both: the Welsh post is never left out."""
    drafts = drafts_by_key(bilingual(tmp_path, HELPLINE.replace("[heddlu-x, police-facebook]", "[police-x]")))
    assert set(drafts) == {"helpline/heddlu-x", "helpline/police-x"}


def test_a_post_without_welsh_must_say_why_and_then_goes_out_in_english_alone(tmp_path: Path) -> None:
    """A post with no Welsh words is an error at the post, saying how to add them or give a reason; with
    `without: {cy: reason}` it goes in English only: to the English account (following nothing), and in English
    on the bilingual account."""
    english_only = """\
    - id: business-morning
      at: '2027-03-17 09:00'
      accounts: [police-x, police-facebook]
      en: {text: "Businesses: join our morning on spotting modern slavery in supply chains."}
    """
    plan = bilingual(tmp_path, english_only)
    [problem] = validate(plan)
    assert problem.startswith(f"{plan}:{line_of(plan, '- id: business-morning')}: ")
    assert "it has no Welsh words" in problem and "without: {cy: <why>}" in problem
    plan = bilingual(tmp_path, english_only + "  without: {cy: the partner's event is held in English only}\n")
    drafts = drafts_by_key(plan)
    assert set(drafts) == {"business-morning/police-x", "business-morning/police-facebook"}
    assert drafts["business-morning/police-x"].follows is None
    assert drafts["business-morning/police-facebook"].text.startswith("Businesses:")
    assert drafts["business-morning/police-facebook"].language == "en"


def test_the_languages_must_give_the_same_numbers(tmp_path: Path) -> None:
    """A number given in English and not in Welsh is an error naming both languages and the number: a Welsh
    reader is owed the same helpline."""
    plan = bilingual(tmp_path, HELPLINE.replace("day or night.", "day or night. In an emergency, call "
                                                "{{ phones.emergency }}."))
    problems = validate(plan)
    assert any("the English words give 999 (Emergency), the Welsh do not" in p for p in problems), problems


def test_a_bilingual_post_is_counted_as_one_post_against_the_limit(tmp_path: Path) -> None:
    """Welsh and English in one post must fit the platform together: on X, 280 characters, with ŵ and ŷ counted
    as one each. Each language alone fits; together they do not."""
    bilingual_x = BILINGUAL_BASE.replace("""  police-facebook:
    platform: facebook
    handle: Heddlu Enghraifft / Example Police
    credentials: {page_id: FB_PAGE_ID, page_access_token: FB_PAGE_TOKEN}""", """  police-facebook:
    platform: x
    handle: '@HeddluAcPolice'
    credentials: {consumer_key: B_CK, consumer_secret: B_CS, access_token: B_AT, access_token_secret: B_ATS}""")
    welsh = "Mae'r ŵyl yn dŷ i bawb. " * 5  # 120 characters
    plan = bilingual(tmp_path, HELPLINE.replace("Ffoniwch y", welsh + "Ffoniwch y"), base=bilingual_x)
    drafts = {d.key: d for d in render_plan(plan, now=datetime(2027, 1, 1, tzinfo=UTC)).drafts}
    assert drafts["helpline/heddlu-x"].length <= 280 and drafts["helpline/police-x"].length <= 280
    assert drafts["helpline/police-facebook"].length > 280
    problems = validate(plan)
    assert [p for p in problems if "@HeddluAcPolice" in p and "280" in p], problems


@pytest.mark.parametrize(("change", "at", "says"), [
    pytest.param(("    language: en\n", ""), "  police-x:", "the account does not say which it posts in",
                 id="account-without-language"),
    pytest.param(("    language: cy\n    pair: police-x\n", "    language: cy\n"), "  police-x:",
                 "posts in English only, with no Welsh partner", id="english-account-without-welsh-partner"),
    pytest.param(("    pair: police-x\n", "    pair: police-facebook\n"), "pair: police-facebook",
                 "a facebook account, but is on x", id="pair-across-platforms"),
    pytest.param(("languages: [cy, en]\n  hashtags", "languages: [cy, Welsh]\n  hashtags"), "languages: [cy, Welsh]",
                 "is not a language tag", id="not-a-tag"),
    pytest.param(("hashtags: {cy: [CaethwasiaethFodern], en: [ModernSlavery]}", "hashtags: {cy: [CaethwasiaethFodern]}"),
                 "hashtags: {cy:", "there are no English hashtags", id="hashtags-missing-a-language"),
    pytest.param(("    languages: [cy, en]\n", "    languages: [cy, fr]\n"), "languages: [cy, fr]",
                 "French (fr) is not one of the campaign's languages", id="undeclared-language"),
])
def test_a_wrong_language_setting_is_one_error_at_its_line_with_its_fix(tmp_path: Path, change: tuple[str, str],
                                                                        at: str, says: str) -> None:
    """Each mistake in the languages of a plan or an account is reported at the line where it is, with what to
    write instead, and nothing is scheduled from a plan with errors."""
    base = BILINGUAL_BASE.replace(*change)
    assert base != BILINGUAL_BASE
    plan = bilingual(tmp_path, HELPLINE, base=base)
    problems = validate(plan)
    matching = [p for p in problems if says in p]
    assert matching, problems
    assert matching[0].startswith(f"{plan}:{line_of(plan, at)}: "), matching[0]
    assert " — " in matching[0]  # and how to fix it


@pytest.mark.parametrize(("post", "says"), [
    pytest.param(HELPLINE.replace("  cy:\n", "  text: Hello\n  cy:\n"), "words go under each language",
                 id="text-at-top"),
    pytest.param(HELPLINE.replace("  accounts:", "  language: cy\n  accounts:"), "remove `language:`",
                 id="language-on-post"),
    pytest.param(HELPLINE + "  without: {cy: ''}\n", "the post is written in Welsh, and says it is not",
                 id="without-a-language-it-has"),
    pytest.param(HELPLINE.replace("  en:\n", "  fr:\n"), "unknown key 'fr'", id="undeclared-language-key"),
])
def test_a_wrong_bilingual_post_is_an_error_naming_the_post(tmp_path: Path, post: str, says: str) -> None:
    """Words in the wrong place, a language on the post, a reason for a language the post has, or a language the
    campaign does not declare: each an error that names the post."""
    problems = validate(bilingual(tmp_path, post))
    assert any(says in p and "helpline" in p for p in problems), problems


def test_language_keys_are_refused_in_a_plan_in_one_language(tmp_path: Path) -> None:
    """`language:`/`pair:` on an account of a plan that declares no languages is an error saying how to declare
    them, not silently ignored."""
    from tests.plan_fixtures import BASE_PLAN
    base = BASE_PLAN.replace("    credentials: {access_token: MASTODON_TOKEN}\n",
                             "    credentials: {access_token: MASTODON_TOKEN}\n    language: cy\n")
    plan = write_campaign(tmp_path, "- {id: a, accounts: [lancs-x], at: '2027-03-15 09:00', text: Hello}\n", base=base)
    problems = validate(plan)
    assert any("'language' is for plans in several languages" in p and "languages: [cy, en]" in p
               for p in problems), problems


# -- the store: a pair is one sign-off ------------------------------------------------------------------------


def scheduled(store: Store, tmp_path: Path, posts: str = HELPLINE) -> RenderedPlan:
    rendered = render_plan(bilingual(tmp_path, posts), now=datetime(2027, 1, 1, tzinfo=UTC))
    assert rendered.ok, [str(p) for p in rendered.errors]
    store.schedule(rendered, "author@example.police.uk", now=datetime(2027, 3, 1, tzinfo=UTC))
    return rendered


def states_of(store: Store) -> dict[str, str]:
    return {p.key: p.state for p in store.select_posts(Selection(campaign="test-week", everything=True))}


def test_approving_either_post_of_a_pair_approves_both(store: Store, tmp_path: Path) -> None:
    """Approving the English post approves its Welsh partner with it, on the record for each (a pair is one
    sign-off); the bilingual post is its own."""
    scheduled(store, tmp_path)
    approved = store.approve(Selection(campaign="test-week", posts=("helpline/police-x",)), "approver@example")
    assert {p.key for p in approved} == {"helpline/police-x", "helpline/heddlu-x"}
    assert states_of(store) == {"helpline/police-x": "approved", "helpline/heddlu-x": "approved",
                                "helpline/police-facebook": "draft"}


def test_rejecting_either_post_of_a_pair_rejects_both_and_a_bulk_approval_cannot_undo_it(
        store: Store, tmp_path: Path) -> None:
    """Rejecting the Welsh post rejects the English one with it, saying so; approving the English one by its own
    key is then refused, naming the rejected partner, and changes nothing: a rejection is lifted only by
    approving each post by its own key."""
    scheduled(store, tmp_path)
    store.reject("helpline/heddlu-x", "approver@example", "the Welsh needs the translator's check")
    stored = {p.key: p for p in store.select_posts(Selection(campaign="test-week", everything=True))}
    assert stored["helpline/police-x"].state == PostState.REJECTED
    assert "rejected with its pair, helpline/heddlu-x" in (stored["helpline/police-x"].last_error or "")
    with pytest.raises(StoreError, match="paired with helpline/heddlu-x, which was rejected"):
        store.approve(Selection(campaign="test-week", posts=("helpline/police-x",)), "approver@example")
    assert states_of(store)["helpline/heddlu-x"] == "rejected"
    store.approve(Selection(campaign="test-week", posts=("helpline/police-x", "helpline/heddlu-x")),
                  "approver@example")
    assert states_of(store)["helpline/heddlu-x"] == "approved"


def test_the_english_post_is_claimed_only_once_its_welsh_partner_is_published(store: Store, tmp_path: Path) -> None:
    """At their shared time, the English post cannot be claimed while the Welsh one is not published (by any
    runner: the condition is in the claim statement); once it is, it can. If the Welsh post never goes, the
    English one is missed at the end of its grace window, saying why."""
    scheduled(store, tmp_path)
    store.approve(Selection(campaign="test-week", everything=True), "approver@example")
    by_key = {p.key: p for p in store.select_posts(Selection(campaign="test-week", everything=True))}
    due = by_key["helpline/police-x"].due_at.replace(tzinfo=UTC)
    assert store.claim_post(by_key["helpline/police-x"].id, "runner-a", due) is None
    welsh = store.claim_post(by_key["helpline/heddlu-x"].id, "runner-a", due)
    assert welsh is not None
    assert store.claim_post(by_key["helpline/police-x"].id, "runner-b", due) is None  # Welsh on its way: not yet
    store.record_published(welsh.id, "runner-a", "1", "https://x.com/i/1", due)
    assert store.claim_post(by_key["helpline/police-x"].id, "runner-b", due) is not None


def test_an_english_post_whose_welsh_partner_never_went_is_missed_saying_why(store: Store, tmp_path: Path) -> None:
    """The Welsh post failed: its English partner stays unsent and, when its grace window ends, is missed with
    the reason — it waited for its Welsh pair, which was not published."""
    scheduled(store, tmp_path)
    store.approve(Selection(campaign="test-week", everything=True), "approver@example")
    by_key = {p.key: p for p in store.select_posts(Selection(campaign="test-week", everything=True))}
    due = by_key["helpline/police-x"].due_at.replace(tzinfo=UTC)
    welsh = store.claim_post(by_key["helpline/heddlu-x"].id, "runner-a", due)
    assert welsh is not None
    store.record_failed(welsh.id, "runner-a", "X refused it", due)
    missed = store.mark_missed(due + timedelta(hours=1))
    assert "helpline/police-x" in missed
    english = store.post("helpline/police-x", "test-week")
    assert english.state == PostState.MISSED
    assert "while it waited for helpline/heddlu-x, its pair in the plan's first language, which was not " \
           "published" in (english.last_error or "")
    retried = store.retry(Selection(campaign="test-week", posts=("helpline/police-x",)), "approver@example",
                          at=due + timedelta(hours=2), now=due + timedelta(hours=1))
    assert {p.key for p in retried} == {"helpline/police-x", "helpline/heddlu-x"}  # retried together


def test_pausing_either_account_of_a_pair_pauses_both(store: Store, tmp_path: Path) -> None:
    """A pause of the English account holds the Welsh one too (a pair goes together), each hold on the record;
    resuming the English account releases both."""
    scheduled(store, tmp_path)
    store.pause("the English account's token leaked", "duty@example", "test-week", account="police-x")
    assert {h.account for h in store.active_holds("test-week")} == {"police-x", "heddlu-x"}
    holds, _ = store.resume("duty@example", "test-week", account="police-x")
    assert {h.account for h in holds} == {"police-x", "heddlu-x"}
    assert store.active_holds("test-week") == []


# -- publishing, end to end ------------------------------------------------------------------------------------


@dataclass
class PairScene:
    sandbox: Sandbox
    store: Store
    welsh: PlanAccount
    english: PlanAccount
    due: dict[str, datetime]


@contextmanager
def pair_scene(tmp_path: Path, entries: int, grace: float, faults: tuple[str, ...] = ()) -> Iterator[PairScene]:
    """*entries* posts, each to a pair of X accounts (Welsh and English) and a bilingual Facebook page on the
    sandbox, approved and falling due a second apart from a second from now."""
    sandbox = live_sandbox(latency_ms=20)
    for rule in faults:
        sandbox.add_fault(rule)
    with SandboxServer(sandbox):
        demo = {a.platform: a for a in demo_plan_accounts(sandbox)}
        welsh = demo["x"]
        english = next(a for a in extra_accounts(sandbox, 1) if a.platform == "x")
        facebook = demo["facebook"]
        lines = [f"campaign:\n  name: Pair proof\n  id: {CAMPAIGN}\n  timezone: Europe/London\n  starts: 2027-03-15\n"
                 "  ends: 2027-03-21\n  languages: [cy, en]\n  hashtags: {cy: [], en: []}",
                 "accounts:"]
        for account, language in ((welsh, f"language: cy\n    pair: {english.key}"), (english, "language: en"),
                                  (facebook, "languages: [cy, en]")):
            credentials = ", ".join(f"{k}: {v}" for k, v in account.variables().items())
            lines.append(f"  {account.key}:\n    platform: {account.platform}\n    handle: '{account.sandbox.handle}'\n"
                         f"    api_base: {sandbox.base_url}\n    credentials: {{{credentials}}}\n    {language}")
        posts = "".join(textwrap.dedent(f"""\
            - id: e{n}
              at: '2027-03-15 09:{n:02d}'
              accounts: [{welsh.key}, {facebook.key}]
              cy: {{text: "Prawf pâr {n}: gweld yr arwyddion."}}
              en: {{text: "Pair proof {n}: spot the signs."}}
            """) for n in range(entries))
        plan = write_campaign(tmp_path, posts, base="\n".join(lines) + "\n")
        rendered = render_plan(plan)
        assert rendered.ok, [str(p) for p in rendered.errors]
        store = Store.open(f"sqlite:///{tmp_path / 'campaign.db'}")
        try:
            store.schedule(rendered, "author@example")
            store.approve(Selection(campaign=CAMPAIGN, everything=True), "approver@example")
            due = put_on_real_time(store, datetime.now(UTC) + timedelta(seconds=1), timedelta(seconds=1),
                                   timedelta(seconds=grace))
            settings = RunnerSettings(campaign=CAMPAIGN, refresh=0.3, horizon=timedelta(minutes=5), backoff=0.1,
                                      backoff_cap=0.3, timeout=5.0, read_lag=0.0)
            runner = Runner(store, settings, environ=environment([welsh, english, facebook]), name="pair-runner")
            runner.start()
            try:
                yield PairScene(sandbox, store, welsh, english, due)
            finally:
                runner.stop(wait=True)
        finally:
            store.close()


def test_a_pair_due_at_one_instant_goes_welsh_first_then_english_promptly_each_once(tmp_path: Path) -> None:
    """Welsh and English posts of a pair fall due at the same instant: each is published exactly once, and the
    English one is armed only after the sandbox has received the Welsh one (by the sandbox's own record), and
    within a second of the Welsh one being armed."""
    with pair_scene(tmp_path, entries=3, grace=30) as s:
        assert wait_until(lambda: all(p.state == PostState.PUBLISHED for p in posts(s.store).values()), 30), \
            {k: (p.state, p.last_error) for k, p in posts(s.store).items()}
        stored = posts(s.store)
    received = {(p.account, p.text): p for p in s.sandbox.posts("x")}
    assert len(received) == len(s.sandbox.posts("x")) == 6  # each X post once
    for n in range(3):
        welsh, english = stored[f"e{n}/{s.welsh.key}"], stored[f"e{n}/{s.english.key}"]
        assert english.follows == welsh.key
        welsh_received = received[(s.welsh.sandbox.handle, welsh.text)].created_at
        assert english.first_sent_at is not None and welsh.first_sent_at is not None
        assert english.first_sent_at.replace(tzinfo=UTC) >= welsh_received
        assert english.first_sent_at - welsh.first_sent_at < timedelta(seconds=1)
    assert len({p.remote_id for p in stored.values()}) == len(stored)


def test_when_the_welsh_post_cannot_go_the_english_one_never_does(tmp_path: Path) -> None:
    """X answers every post with 503: the Welsh post is tried and given up at the end of its grace window; its
    English partner is never sent (not one request) and is missed, saying it waited for its Welsh pair. The
    bilingual Facebook post goes out."""
    with pair_scene(tmp_path, entries=1, grace=2.5, faults=("x:POST /2/tweets:error503",)) as s:
        settled = (PostState.PUBLISHED, PostState.FAILED, PostState.MISSED)
        assert wait_until(lambda: all(p.state in settled for p in posts(s.store).values()), 30), \
            {k: (p.state, p.last_error) for k, p in posts(s.store).items()}
        stored = posts(s.store)
    english = stored[f"e0/{s.english.key}"]
    assert english.state == PostState.MISSED and english.first_sent_at is None and english.attempts == 0
    assert "waited for e0/" in (english.last_error or "")
    assert stored[f"e0/{s.welsh.key}"].state in (PostState.MISSED, PostState.FAILED)
    assert stored["e0/demo-facebook"].state == PostState.PUBLISHED


def test_a_link_may_give_its_welsh_page_and_each_language_prints_its_own(tmp_path: Path) -> None:
    """`facts.links.advice.cy` is the Welsh version of a link: `{{ links.advice }}` prints it in the Welsh words and
    the English page in the English words, and the two are the same fact to the check; a link in one language
    only is still an error."""
    base = BILINGUAL_BASE.replace("facts:\n", "facts:\n  links:\n    advice:\n      url: https://www.gov.uk/modern-"
                                  "slavery\n      cy: https://www.llyw.cymru/caethwasiaeth-fodern\n", 1)
    post = HELPLINE.replace("ddydd a nos.", "ddydd a nos. {{ links.advice }}").replace(
        "day or night.", "day or night. {{ links.advice }}")
    drafts = drafts_by_key(bilingual(tmp_path, post, base=base))
    assert "https://www.llyw.cymru/caethwasiaeth-fodern" in drafts["helpline/heddlu-x"].text
    assert "https://www.gov.uk/modern-slavery" in drafts["helpline/police-x"].text
    both = drafts["helpline/police-facebook"].text
    assert both.index("llyw.cymru") < both.index("Call") < both.index("gov.uk")
    problems = validate(bilingual(tmp_path, post.replace(" {{ links.advice }}", "", 1), base=base))
    assert any("the English words give https://www.gov.uk/modern-slavery, the Welsh do not" in p
               for p in problems), problems


def test_days_and_times_are_written_in_the_language_of_the_words(tmp_path: Path) -> None:
    """`| day` and `| clock` write Welsh in the Welsh words (CLDR's words and forms, through Babel) and the house
    style in the English ones."""
    post = HELPLINE.replace("ddydd a nos.", "ddydd a nos, o {{ post_time | day }} am {{ post_time | clock }}.")
    post = post.replace("day or night.", "day or night, from {{ post_time | day }} at {{ post_time | clock }}.")
    post = post.replace("  cy:\n", "  vars: {post_time: 2027-03-16 18:30:00}\n  cy:\n")
    drafts = drafts_by_key(bilingual(tmp_path, post))
    assert "o Dydd Mawrth 16 Mawrth am 18:30." in drafts["helpline/heddlu-x"].text
    assert "from Tuesday 16 March at 6.30pm." in drafts["helpline/police-x"].text


def test_a_bilingual_week_reaches_the_platforms_the_export_and_the_report_with_its_languages(tmp_path: Path) -> None:
    """Rehearsed through the runner and collected: Bluesky's record of the bilingual post names both languages
    (`langs: [cy, en]`, so a reader filtering for English sees it too), Mastodon's the first; the export's
    language column says each post's language (`cy`, `en`, `cy,en`); the report compares Welsh, English and the
    bilingual posts by language."""
    from campaign.engagement import Collector
    from campaign.export import ExportFilter, rows
    from campaign.publishing.rehearsal import rehearsal

    base = BILINGUAL_BASE + """\
  police-bluesky:
    platform: bluesky
    handle: heddluenghraifft.bsky.social
    credentials: {app_password: BLUESKY_APP_PASSWORD}
    languages: [cy, en]
  police-mastodon:
    platform: mastodon
    handle: '@heddlu@police.social'
    credentials: {access_token: MASTODON_TOKEN}
    languages: [cy, en]
"""
    plan = bilingual(tmp_path, HELPLINE.replace("[heddlu-x, police-facebook]",
                                                "[heddlu-x, police-facebook, police-bluesky, police-mastodon]"),
                     base=base)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        assert run.run(timeout=60).totals == {"published": 5}
        [bluesky] = run.sandbox.posts("bluesky")
        [mastodon] = run.sandbox.posts("mastodon")
        Collector(run.store, run.environ, clock=lambda: datetime.now(UTC) + timedelta(days=1)).collect_all()
        exported = {row["post"]: row["language"] for row in rows(run.store, ExportFilter(latest=True))}
    assert bluesky.extra["langs"] == ["cy", "en"]
    assert mastodon.extra["language"] == "cy"
    assert exported == {"helpline/heddlu-x": "cy", "helpline/police-x": "en", "helpline/police-facebook": "cy,en",
                        "helpline/police-bluesky": "cy,en", "helpline/police-mastodon": "cy,en"}
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "rehearsal.db"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    by_language = page.read_text(encoding="utf-8").split('id="by-language"', 1)[1].split("</section>", 1)[0]
    for name in ("Welsh (cy)", "English (en)", "Welsh and English (cy,en)"):
        assert f"<td>{name}</td>" in by_language, name
    assert "by language:" in result.output, result.output


def test_campaign_pause_of_one_account_of_a_pair_says_its_partner_is_paused_too(
        tmp_path: Path, login_as: Callable[[str], None]) -> None:
    """`campaign pause --account police-x` holds both accounts of the pair and says so; `campaign status`
    shows both paused; `campaign resume --account heddlu-x` releases both."""
    login_as("alice")
    env = {"CAMPAIGN_DB": str(tmp_path / "store.db")}

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        return result.output

    cli("schedule", str(bilingual(tmp_path, HELPLINE)))
    said = cli("pause", "--account", "police-x", "--reason", "the English account's token leaked")
    assert said.startswith("Paused account police-x and its pair, heddlu-x (a pair is paused together) of "
                           "test-week until `campaign resume`. Nothing more will be published from police-x, "
                           "heddlu-x until then."), said
    paused = [line for line in cli("status").splitlines() if line.startswith("PAUSED: ")]
    assert len(paused) == 2 and any("police-x" in line for line in paused) and any("heddlu-x" in line
                                                                                  for line in paused), paused
    assert "released 2 pauses" in cli("resume", "--account", "heddlu-x")


def test_changing_the_welsh_after_sign_off_voids_the_english_approval_too(store: Store, tmp_path: Path) -> None:
    """A pair is one sign-off: when the Welsh words change after both were approved, the Welsh post goes back to
    draft for its change and the English one with it (on the record as its pair's change), so neither goes out
    until both are approved again."""
    scheduled(store, tmp_path)
    store.approve(Selection(campaign="test-week", everything=True), "approver@example")
    report = store.schedule(render_plan(bilingual(tmp_path, HELPLINE.replace("ddydd a nos.", "bob dydd.")),
                                        now=datetime(2027, 1, 1, tzinfo=UTC)), "author@example",
                            now=datetime(2027, 3, 2, tzinfo=UTC))
    assert set(report.changed) == {"helpline/heddlu-x", "helpline/police-facebook"}
    assert report.with_pair == ["helpline/police-x"]
    assert states_of(store) == {"helpline/heddlu-x": "draft", "helpline/police-x": "draft",
                                "helpline/police-facebook": "draft"}
    [voided] = [e for e in store.audit("test-week", post="helpline/police-x") if e.action == "content_changed"]
    assert '"pair_changed": "helpline/heddlu-x"' in voided.details


def test_a_rejected_pair_is_approved_again_from_the_desk_pair_page_or_by_both_keys(store: Store,
                                                                                   tmp_path: Path) -> None:
    """After a pair is rejected, approving one key alone is refused with the command that works (both keys), and
    `campaign status` gives that command too; approving by both keys reverses both rejections."""
    scheduled(store, tmp_path)
    store.reject("helpline/heddlu-x", "approver@example", "wording")
    with pytest.raises(StoreError, match="`campaign approve helpline/heddlu-x helpline/police-x`"):
        store.approve(Selection(campaign="test-week", posts=("helpline/heddlu-x",)), "approver@example")
    status = store.status("test-week")
    assert status.pairs == {"helpline/heddlu-x": ["helpline/police-x"], "helpline/police-x": ["helpline/heddlu-x"]}
    store.approve(Selection(campaign="test-week", posts=("helpline/heddlu-x", "helpline/police-x")),
                  "approver@example")
    assert states_of(store)["helpline/police-x"] == "approved"


def test_both_accounts_of_a_pair_cannot_be_one_account(tmp_path: Path) -> None:
    """Two plan accounts with the same handle, paired, would post the Welsh and the English to one account: an
    error at the `pair:` line."""
    base = BILINGUAL_BASE.replace("'@ExamplePolice'", "'@HeddluEnghraiff'")
    plan = bilingual(tmp_path, HELPLINE, base=base)
    problems = validate(plan)
    assert any(p.startswith(f"{plan}:{line_of(plan, 'pair: police-x')}: ") and "the same account" in p
               for p in problems), problems


def test_a_regional_language_may_be_written_by_its_language_alone(tmp_path: Path) -> None:
    """With `languages: [cy, en-GB]`, a post's `en:` and an account's `language: en` are English (en-GB), as
    BCP 47's lookup reads them: not an error on every post."""
    base = BILINGUAL_BASE.replace("languages: [cy, en]", "languages: [cy, en-GB]")
    drafts = drafts_by_key(bilingual(tmp_path, HELPLINE, base=base))
    assert drafts["helpline/police-x"].language == "en-GB"
    assert drafts["helpline/police-facebook"].language == "cy,en-GB"


def test_welsh_after_english_in_the_campaign_is_a_warning(tmp_path: Path) -> None:
    """`languages: [en, cy]` is allowed (a force may have its reasons) but warned about, at its line: the Standards
    ask that Welsh is not treated less favourably."""
    base = BILINGUAL_BASE.replace("languages: [cy, en]", "languages: [en, cy]")  # the campaign's and the account's
    plan = bilingual(tmp_path, HELPLINE, base=base)
    problems = validate(plan)
    assert any(p.startswith(f"{plan}:{line_of(plan, 'languages: [en, cy]')}: campaign.languages: warning: Welsh "
                            "comes after English") for p in problems), problems


def test_the_reason_a_post_has_no_welsh_is_approved_shown_and_kept(store: Store, tmp_path: Path) -> None:
    """`without: {cy: reason}` is part of what is approved (a changed reason voids the approval), the preview shows
    it, and the store keeps it for the record (the FOI bundle's manifest names it)."""
    from campaign.store.records import write_bundle

    english_only = """\
    - id: business-morning
      at: '2027-03-17 09:00'
      accounts: [police-x]
      en: {text: "Businesses: join our morning on spotting modern slavery in supply chains."}
      without: {cy: "the partner's event is held in English only"}
    """
    plan = bilingual(tmp_path, english_only)
    shown = CliRunner().invoke(main, ["preview", str(plan)]).output
    assert "⊘ not in Welsh: the partner's event is held in English only" in shown
    rendered = render_plan(plan, now=datetime(2027, 1, 1, tzinfo=UTC))
    store.schedule(rendered, "author@example", now=datetime(2027, 3, 1, tzinfo=UTC))
    store.approve(Selection(campaign="test-week", everything=True), "approver@example")
    manifest = write_bundle(store, "business-morning/police-x", tmp_path / "bundle", "test-week")
    assert '"cy": "the partner\'s event is held in English only"' in manifest.read_text(encoding="utf-8")
    changed = render_plan(bilingual(tmp_path, english_only.replace("English only", "English")),
                          now=datetime(2027, 1, 1, tzinfo=UTC))
    report = store.schedule(changed, "author@example", now=datetime(2027, 3, 2, tzinfo=UTC))
    assert report.changed == ["business-morning/police-x"]
    assert states_of(store) == {"business-morning/police-x": "draft"}


def test_an_analyst_can_play_their_own_plan_with_demo_and_export_it_by_language(tmp_path: Path) -> None:
    """`campaign demo PLAN -o FOLDER` plays the analyst's own plan (not only the bundled week): the CSV it writes
    has each post's language, and the store it keeps is read by `campaign export --db` like a real one."""
    plan = bilingual(tmp_path / "campaign", HELPLINE)
    folder = tmp_path / "played"
    result = CliRunner().invoke(main, ["demo", str(plan), "-o", str(folder)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "1. Validated plan.yaml: 3 posts, 0 errors" in result.output
    import csv
    with (folder / "engagement.csv").open(encoding="utf-8", newline="") as handle:
        assert {row["language"] for row in csv.DictReader(handle)} == {"cy", "en", "cy,en"}
    exported = CliRunner().invoke(main, ["export", "--db", str(folder / "rehearsal.db"), "--latest", "--format",
                                         "jsonl"])
    assert exported.exit_code == 0, exported.output
    assert len([line for line in exported.output.splitlines() if line.startswith("{")]) == 3


def test_a_post_is_in_the_campaigns_order_of_languages_whatever_order_it_is_written_in(tmp_path: Path) -> None:
    """`en:` written before `cy:` changes nothing: the bilingual post is still Welsh first, and the post's
    language (its first) is Welsh."""
    reordered = HELPLINE.replace("  cy:\n", "  CY_SECTION\n").replace("  en:\n", "  cy:\n").replace(
        "  CY_SECTION\n", "  en:\n")
    swapped = reordered.replace('"Ffoniwch', '"EN').replace('"Call', '"Ffoniwch').replace('"EN', '"Call')
    swapped = swapped.replace('"Cerdyn y llinell gymorth"', '"X"').replace('"The helpline card"',
                                                                           '"Cerdyn y llinell gymorth"')
    swapped = swapped.replace('"X"', '"The helpline card"')
    assert swapped.index("  en:") < swapped.index("  cy:")
    plan = bilingual(tmp_path, swapped)
    loaded, _ = load_plan(plan, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert loaded is not None
    [post] = loaded.posts
    assert (list(post.words), post.language) == (["cy", "en"], "cy")
    drafts = drafts_by_key(plan)
    assert drafts["helpline/police-facebook"].text.startswith("Ffoniwch")
    assert drafts["helpline/police-facebook"].language == "cy,en"
