"""People and sign-off rules on the command line: real users in a real SQLite store, every command run through
CliRunner as a given operating-system login (``login_as``), and the store checked after each step.

- a store with no users acts for whoever opens it; the first user must be an admin, and be that person;
- from then on a login that is not a user is refused, and each role may do exactly what ``ROLE_ACTIONS`` says,
  within its campaigns and accounts; ``--as`` is an admin's override, recorded with the admin beside the name;
- "the approver must differ from the author" compares logins;
- sign-off rules: a bulk approval never undoes a rejection (a rejected post is approved again only by its own
  key, and the record says so), a missed post is never approved, a voided approval leaves no approver behind,
  ``status`` lists every post waiting for a person and ``resume`` the posts missed during the pause;
- passwords are stored as Argon2id hashes, logins are rate-limited, and every change to a user is audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from click.testing import CliRunner
from sqlalchemy import select

from campaign.cli import main
from campaign.people import ROLE_ACTIONS, Action, Role
from campaign.store import Selection, Store
from campaign.store.models import Post, UserRow
from campaign.store.people import FAILURES_PER_LOGIN, LoginRefused
from tests.conftest import PRODUCTION_HASHER
from tests.plan_fixtures import write_campaign

POSTS = """\
- id: launch
  accounts: [lancs-x, lancs-facebook]
  text: The week of action starts today.
  at: '2027-03-15 09:00'
- id: signs
  accounts: [lancs-x]
  text: Spot the signs in nail bars.
  at: '2027-03-16 10:00'
- id: helpline
  accounts: [lancs-facebook]
  text: Call the helpline on {{ phones.helpline }}.
  at: '2027-03-16 12:30'
"""

PASSWORD = "correct horse battery staple"


class Desk:
    """The command line as one login or another, on one store."""

    def __init__(self, db: Path, login_as: Callable[[str], None]) -> None:
        self.db = db
        self.login_as = login_as

    def run(self, login: str, *args: str, code: int = 0, stdin: str | None = None) -> str:
        self.login_as(login)
        result = CliRunner().invoke(main, [*args], env={"CAMPAIGN_DB": str(self.db)}, input=stdin)
        assert "Traceback" not in result.output, result.output
        assert result.exit_code == code, f"{login}: campaign {' '.join(args)} → {result.exit_code}: {result.output}"
        return result.output

    def store(self) -> Store:
        return Store.open(str(self.db))

    def states(self) -> dict[str, str]:
        with self.store().read_session() as session:
            return {p.key: p.state for p in session.scalars(select(Post))}

    def audit(self) -> list[dict[str, object]]:
        """The campaign's trail and the store's record of people, oldest first."""
        entries: list[dict[str, object]] = json.loads(self.run("admin", "audit", "--format", "json"))
        entries += json.loads(self.run("admin", "audit", "--people", "--format", "json"))
        return sorted(entries, key=lambda entry: str(entry["at"]))


@pytest.fixture
def desk(tmp_path: Path, login_as: Callable[[str], None]) -> Iterator[Desk]:
    """A store with the test week scheduled by the author ``ann``, and one user per role."""
    desk = Desk(tmp_path / "store.db", login_as)
    plan = write_campaign(tmp_path, POSTS)
    desk.run("admin", "users", "add", "admin", "--name", "Comms Admin", "--role", "admin")
    for login, role in (("ann", "author"), ("bob", "approver"), ("pat", "publisher"), ("ana", "analyst")):
        desk.run("admin", "users", "add", login, "--name", login.title(), "--role", role)
    desk.run("ann", "schedule", str(plan))
    yield desk


def test_a_store_without_users_acts_for_whoever_opens_it_until_the_first_admin(tmp_path: Path,
                                                                                 login_as: Callable[[str], None]) -> None:
    """No users: commands act as the login. The first user must be an admin and be that login (no lock-out);
    then a login that is not a user is refused with the command that would add them."""
    desk = Desk(tmp_path / "store.db", login_as)
    desk.run("jo", "schedule", str(write_campaign(tmp_path, POSTS)))
    assert "the first must be an admin" in desk.run("jo", "users", "add", "jo", "--name", "Jo", "--role",
                                                     "approver", code=1)
    assert "the first must be you" in desk.run("jo", "users", "add", "sam", "--name", "Sam", "--role", "admin",
                                                code=1)
    assert desk.run("jo", "users", "add", "jo", "--name", "Jo Admin", "--role", "admin").startswith("Added jo")
    refused = desk.run("sam", "status", code=1)
    assert "you (login 'sam') are not a user of this store" in refused
    assert "campaign users add sam --name" in refused
    assert [(e["actor"], e["action"]) for e in json.loads(desk.run("jo", "audit", "--format", "json"))] == [
        ("jo", "added")] * 4 + [("jo", "schedule")]
    assert [(e["actor"], e["action"]) for e in json.loads(desk.run("jo", "audit", "--people", "--format", "json"))] \
        == [("jo", "user_added")]


COMMANDS: dict[Action, tuple[str, ...]] = {
    Action.VIEW: ("status",),
    Action.APPROVE: ("approve", "launch/lancs-x"),
    Action.REJECT: ("reject", "signs/lancs-x", "--reason", "wrong tone"),
    Action.PAUSE: ("pause", "--reason", "critical incident"),
    Action.EXPORT: ("export", "--format", "json"),
    Action.COLLECT: ("engagement", "collect"),
    Action.MANAGE_USERS: ("users", "add", "newcomer", "--name", "New Comer", "--role", "analyst"),
    Action.RESUME: ("resume",),
    Action.RETRY: ("retry", "launch/lancs-x", "--at", f"{datetime.now(UTC) + timedelta(days=30):%Y-%m-%d %H:%M}"),
    Action.RECONCILE: ("reconcile",),
}


CHANGES_THE_STORE = {Action.APPROVE, Action.REJECT, Action.PAUSE, Action.MANAGE_USERS, Action.RESUME, Action.RETRY}
"""Of COMMANDS, those that change the store (and so the record) when allowed; the others only read it here."""


def set_up_for(desk: Desk, action: Action) -> None:
    """What must be true before *action* can be allowed: a pause to resume, a missed post to retry."""
    if action == Action.RESUME:
        desk.run("admin", "pause", "--reason", "critical incident")
    if action == Action.RETRY:
        desk.run("admin", "approve", "--all")
        desk.store().mark_missed(datetime(2027, 3, 15, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize("role", [Role.AUTHOR, Role.APPROVER, Role.PUBLISHER, Role.ANALYST, Role.ADMIN])
@pytest.mark.parametrize("action", list(COMMANDS))
def test_each_role_may_do_what_its_role_allows_and_nothing_else(desk: Desk, role: Role, action: Action) -> None:
    """Role × command: allowed commands run (exit 0), and those that change the store put it on the record;
    refused ones exit 1 with a sentence naming the role needed, and change nothing."""
    login = {Role.AUTHOR: "ann", Role.APPROVER: "bob", Role.PUBLISHER: "pat", Role.ANALYST: "ana",
             Role.ADMIN: "admin"}[role]
    set_up_for(desk, action)
    before = (desk.states(), len(desk.audit()))
    allowed = action in ROLE_ACTIONS[role]
    output = desk.run(login, *COMMANDS[action], code=0 if allowed else 1)
    after = (desk.states(), len(desk.audit()))
    if allowed and action in CHANGES_THE_STORE:
        assert after[1] > before[1], f"{login} {action}: allowed, but nothing was recorded"
        return
    if not allowed:
        assert f"{login} ({role}) may not {action}: that needs the role" in output
    assert after == before


def test_schedule_needs_an_author_and_run_a_publisher(desk: Desk, tmp_path: Path) -> None:
    """The two commands the matrix leaves out: an approver may not schedule, an approver may not start the
    runner (refused before it starts)."""
    plan = tmp_path / "schedules" / "plan.yaml"
    assert "bob (approver) may not schedule" in desk.run("bob", "schedule", str(plan), code=1)
    assert "bob (approver) may not run" in desk.run("bob", "run", code=1)


def test_scopes_limit_a_person_to_their_accounts_and_campaigns(desk: Desk) -> None:
    """An approver limited to lancs-x approves that account's posts, but not --all (which reaches another
    account's), and a person limited to another campaign cannot even see this one."""
    desk.run("admin", "users", "add", "xena", "--name", "Xena", "--role", "approver", "--account", "lancs-x")
    desk.run("admin", "users", "add", "otto", "--name", "Otto", "--role", "approver", "--campaign", "other")
    refused = desk.run("xena", "approve", "--all", code=1)
    assert "xena may not approve posts of lancs-facebook: their work is limited to the accounts lancs-x" in refused
    assert desk.run("xena", "approve", "--account", "lancs-x").splitlines()[-1] == "2 posts approved by xena"
    assert "otto may not view campaign 'test-week'" in desk.run("otto", "status", code=1)
    trail = json.loads(desk.run("xena", "audit", "--format", "json"))
    assert {e["post"] for e in trail} - {None} == {"launch/lancs-x", "signs/lancs-x"}
    assert "xena may not view posts of lancs-facebook" in desk.run("xena", "bundle", "launch/lancs-facebook", "-o",
                                                                    str(desk.db.parent / "foi"), code=1)
    assert "otto may not approve campaign 'test-week'" in desk.run("otto", "approve", "--all", code=1)


def test_as_is_an_admins_override_on_the_record(desk: Desk) -> None:
    """`--as NAME`: refused to an approver; an admin's approval is recorded under NAME with the admin beside it."""
    assert "bob (approver) may not act as someone else" in desk.run("bob", "approve", "--all", "--as", "Insp. X",
                                                                     code=1)
    desk.run("admin", "approve", "launch/lancs-x", "--as", "Insp. Jo Reviewer")
    post = desk.store().post("launch/lancs-x")
    assert post.approved_by == "Insp. Jo Reviewer"
    approval = [e for e in desk.audit() if e["action"] == "approved"][-1]
    assert approval["actor"] == "Insp. Jo Reviewer"
    assert approval["details"]["entered_by"] == "admin"  # type: ignore[index]


def test_the_approver_must_differ_from_the_author_by_login(tmp_path: Path, login_as: Callable[[str], None]) -> None:
    """With approver_must_differ, the user who scheduled the words cannot approve them; another can. The plan's
    `author:` (free text, such as the department) is not an identity: the login that scheduled the words is."""
    from tests.plan_fixtures import BASE_PLAN

    desk = Desk(tmp_path / "store.db", login_as)
    base = BASE_PLAN.replace("  hashtags:", "  author: Corporate Communications\n  approval: {approver_must_differ: true}"
                                            "\n  hashtags:")
    plan = write_campaign(tmp_path, POSTS, base=base)
    desk.run("admin", "users", "add", "admin", "--name", "Admin", "--role", "admin")
    desk.run("admin", "users", "add", "ann", "--name", "Ann", "--role", "author", "--role", "approver")
    desk.run("admin", "users", "add", "bob", "--name", "Bob", "--role", "approver")
    desk.run("ann", "schedule", str(plan))
    assert {p.author for p in desk.store().select_posts(Selection(campaign="test-week", everything=True))} == {"ann"}
    assert "ann wrote launch/lancs-facebook and others" in desk.run("ann", "approve", "--all", code=1)
    assert desk.run("bob", "approve", "--all").splitlines()[-1] == "4 posts approved by bob"


def test_a_bulk_approval_never_undoes_a_rejection(desk: Desk, tmp_path: Path) -> None:
    """The reported case: reject a post, then approve its whole day from a preview: the rejected post stays
    rejected (and the command says so); approving it by its own key reverses the rejection, on the record."""
    preview = tmp_path / "monday.json"
    preview.write_text(desk.run("ann", "preview", str(tmp_path / "schedules" / "plan.yaml"), "--format", "json"))
    desk.run("bob", "reject", "launch/lancs-facebook", "--reason", "wrong helpline number")
    output = desk.run("bob", "approve", "--day", "2027-03-15", "--preview", str(preview))
    assert "1 post approved by bob" in output
    assert "left rejected: launch/lancs-facebook" in output
    assert desk.states()["launch/lancs-facebook"] == "rejected"
    refused = desk.run("bob", "approve", "launch", code=1)  # the plan entry: both accounts' posts, in bulk
    assert "nothing to approve: launch/lancs-facebook is rejected (rejected by bob: wrong helpline number) — if the " \
           "rejection no longer stands, approve it by its own key" in refused
    assert desk.states()["launch/lancs-facebook"] == "rejected"
    desk.run("bob", "approve", "launch/lancs-facebook")
    assert desk.states()["launch/lancs-facebook"] == "approved"
    approval = [e for e in desk.audit() if e["action"] == "approved" and e["post"] == "launch/lancs-facebook"][-1]
    assert approval["details"]["reverses_rejection"] == "rejected by bob: wrong helpline number"  # type: ignore[index]


def test_a_missed_post_is_never_approved_and_a_voided_approval_leaves_no_approver(desk: Desk, tmp_path: Path) -> None:
    """Missed posts: `approve --all` refuses them with the way forward (a new time), never "now". A change
    of words voids the approval and clears approved_by and the hash; status then lists the post, with the
    rejected and missed ones."""
    desk.run("bob", "approve", "--all")
    store = desk.store()
    store.mark_missed(datetime(2027, 3, 15, 12, 0, tzinfo=UTC))
    assert desk.states()["launch/lancs-x"] == "missed"
    output = desk.run("bob", "approve", "launch/lancs-x", code=1)
    assert "nothing to approve: launch/lancs-x is missed — its time has passed; give it a new time" in output
    plan = tmp_path / "schedules" / "plan.yaml"
    plan.write_text(plan.read_text().replace("Spot the signs in nail bars.", "Spot the signs in car washes."))
    desk.run("ann", "schedule", str(plan))
    changed = store.post("signs/lancs-x")
    assert changed.state == "draft"
    assert (changed.approved_by, changed.approved_at, changed.approved_hash) == (None, None, None)
    desk.run("bob", "reject", "helpline/lancs-facebook", "--reason", "wrong number")
    status = desk.run("bob", "status")
    assert "Needs a person (4):" in status
    for key, words in (("signs/lancs-x", "changed after it was approved"), ("helpline/lancs-facebook", "wrong number"),
                       ("launch/lancs-x", "its time has passed")):
        assert key in status and words in status


def test_resume_names_the_posts_missed_during_the_pause(desk: Desk) -> None:
    """Posts a runner marked missed while the pause held them are still counted by `resume` (which finds
    nothing left to mark itself); posts missed before the pause are not."""
    desk.run("bob", "approve", "--all")
    store = desk.store()
    pat = store.person("pat")
    store.mark_missed(datetime(2027, 3, 15, 9, 30, tzinfo=UTC), actor="runner")  # Monday's posts, before the pause
    store.pause("critical incident", pat, now=datetime(2027, 3, 15, 10, 0, tzinfo=UTC))
    store.mark_missed(datetime(2027, 3, 16, 13, 0, tzinfo=UTC), actor="runner")  # Tuesday's, during it
    _, missed = store.resume(pat, now=datetime(2027, 3, 16, 13, 5, tzinfo=UTC))
    assert missed == ["helpline/lancs-facebook", "signs/lancs-x"]
    resumed = [e for e in desk.audit() if e["action"] == "resumed"]
    assert [e["actor"] for e in resumed] == ["pat"]


def test_the_store_hashes_passwords_with_argon2id_at_its_recommended_settings() -> None:
    """The store's hasher (which the in-process tests swap for a light one, tests/conftest.py) is Argon2id with
    argon2-cffi's defaults, RFC 9106's low-memory choice: 64 MiB, three passes, four lanes."""
    recommended = PasswordHasher()
    assert PRODUCTION_HASHER.type == Type.ID
    assert (PRODUCTION_HASHER.memory_cost, PRODUCTION_HASHER.time_cost, PRODUCTION_HASHER.parallelism) == (
        recommended.memory_cost, recommended.time_cost, recommended.parallelism) == (65536, 3, 4)


def test_passwords_are_argon2_hashes_and_logins_are_rate_limited(desk: Desk) -> None:
    """`users passwd` stores an Argon2id hash, never the password; a right password logs in; after 5 failures
    even the right password is refused for the window; every attempt is audited."""
    desk.run("bob", "users", "passwd", "--password-stdin", stdin=PASSWORD + "\n")
    store = desk.store()
    row = store.user("bob")
    assert row.password_hash is not None and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert store.verify_login("bob", PASSWORD, "10.0.0.1").login == "bob"
    for _ in range(FAILURES_PER_LOGIN):
        with pytest.raises(LoginRefused, match="the login or the password is wrong"):
            store.verify_login("bob", "not the password", "10.0.0.1")
    with pytest.raises(LoginRefused, match="too many failed logins"):
        store.verify_login("bob", PASSWORD, "10.0.0.2")
    actions = [e["action"] for e in desk.audit() if e["actor"] == "bob"]
    assert actions.count("login_failed") == FAILURES_PER_LOGIN
    assert actions[-1] == "login_throttled" and "login" in actions and "password_set" in actions
    assert "too short" in desk.run("bob", "users", "passwd", "--password-stdin", stdin="short\n", code=1)


def test_disabling_a_user_stops_them_and_is_audited(desk: Desk) -> None:
    """A disabled user is refused at once; the last admin cannot be disabled; both changes are on the record."""
    desk.run("admin", "users", "disable", "bob")
    assert "bob is disabled in this store" in desk.run("bob", "approve", "--all", code=1)
    assert "the last active admin" in desk.run("admin", "users", "disable", "admin", code=1)
    desk.run("admin", "users", "enable", "bob")
    listing = desk.run("admin", "users", "list")
    assert "bob" in listing and "approver" in listing
    changes = [(e["action"], e["details"]["login"]) for e in desk.audit()  # type: ignore[index]
               if str(e["action"]).startswith("user_")]
    assert ("user_disabled", "bob") in changes and ("user_enabled", "bob") in changes
    with desk.store().read_session() as session:
        assert session.scalars(select(UserRow).where(UserRow.login == "bob")).one().session_version == 2


def test_as_cannot_pass_the_approver_must_differ_rule_by_writing_the_author_another_way(
        tmp_path: Path, login_as: Callable[[str], None]) -> None:
    """An admin's `--as` naming the author — by login in any case, or by their name in the store — is the
    author approving: refused. Naming someone else (the inspector who approved in person) is the override."""
    from tests.plan_fixtures import BASE_PLAN

    desk = Desk(tmp_path / "store.db", login_as)
    base = BASE_PLAN.replace("  hashtags:", "  approval: {approver_must_differ: true}\n  hashtags:")
    plan = write_campaign(tmp_path, POSTS, base=base)
    desk.run("root", "users", "add", "root", "--name", "Root Admin", "--role", "admin", "--role", "author")
    desk.run("root", "users", "add", "sam.author", "--name", "Sam Author", "--role", "author")
    desk.run("sam.author", "schedule", str(plan))
    for written in ("sam.author", "SAM.AUTHOR", "Sam Author", "sam author"):
        assert "wrote launch/lancs-facebook" in desk.run("root", "approve", "--all", "--as", written, code=1), written
    plan.write_text(plan.read_text().replace("Spot the signs in nail bars.", "Spot the signs in car washes."))
    desk.run("root", "schedule", str(plan))
    assert "wrote signs/lancs-x" in desk.run("root", "approve", "signs/lancs-x", "--as", "Root Admin", code=1)
    assert desk.run("root", "approve", "--all", "--as", "Insp. Jo Reviewer").splitlines()[-1] == \
        "4 posts approved by Insp. Jo Reviewer"


def test_a_rejection_stands_through_a_change_of_words_and_back(desk: Desk, tmp_path: Path) -> None:
    """The trial's case: reject a post, change its words, schedule, change them back, schedule: it is still
    rejected, and a bulk approval of its day leaves it so; only its own key approves it again."""
    desk.run("bob", "reject", "launch/lancs-x", "--reason", "wrong tone")
    plan = tmp_path / "schedules" / "plan.yaml"
    original = plan.read_text()
    plan.write_text(original.replace("The week of action starts today.", "The week of action starts now."))
    desk.run("ann", "schedule", str(plan))
    plan.write_text(original)
    desk.run("ann", "schedule", str(plan))
    assert desk.states()["launch/lancs-x"] == "rejected"
    assert "left rejected: launch/lancs-x" in desk.run("bob", "approve", "--day", "2027-03-15")
    assert desk.states()["launch/lancs-x"] == "rejected"
    desk.run("bob", "approve", "launch/lancs-x")
    assert desk.states()["launch/lancs-x"] == "approved"


def test_what_people_type_never_forges_or_colours_a_line_of_the_record(desk: Desk) -> None:
    """A reason holding an ANSI escape or NUL is refused; one holding newlines and line separators, and an
    attempted login holding a forged audit line and an escape, are each shown on one line, escaped, by `audit`,
    `audit --people`, `status` and `reject`."""
    for hidden in ("\x1b[8m", "\x00"):
        assert "the reason holds a control character" in desk.run("bob", "reject", "signs/lancs-x", "--reason",
                                                                   f"wrong{hidden}", code=1)
    forged = "wrong\n2027-01-01T00:00:00Z  root  approved  launch/lancs-x\u2028"
    said = desk.run("bob", "reject", "signs/lancs-x", "--reason", forged)
    assert said.count("\n") == 1 and "\\x0a2027" in said and "\\u2028" in said
    with pytest.raises(LoginRefused):
        desk.store().verify_login("zz\n2026-11-25T20:16:00Z  root  user_added  login=mallory\x1b[8m", "x", "1.2.3.4")
    for args in (("audit",), ("audit", "--people"), ("status",)):
        output = desk.run("admin", *args)
        assert "\x1b" not in output and "\x00" not in output, args
        assert not any(line.startswith("2027-01-01T00:00:00Z") or line.startswith("2026-11-25T20:16:00Z  root")
                       for line in output.splitlines()), args
    assert "zz\\x0a2026-11-25t20:16:00z  root  user_added" in desk.run("admin", "audit", "--people")


def test_a_login_lock_ends_with_its_window_or_a_new_password_and_attempts_while_locked_do_not_extend_it(
        desk: Desk) -> None:
    """Five failures lock a login for 15 minutes; tries while locked are audited but do not keep it locked
    (one every 14 minutes kept the duty inspector out for ever); an admin setting a new password lifts it."""
    store = desk.store()
    admin = store.person("admin")
    store.set_password(admin, "bob", PASSWORD)
    start = datetime(2027, 3, 15, 8, 0, tzinfo=UTC)
    for second in range(FAILURES_PER_LOGIN):
        with pytest.raises(LoginRefused, match="wrong"):
            store.verify_login("bob", "guess", "10.0.0.9", now=start + timedelta(seconds=second))
    with pytest.raises(LoginRefused, match="too many failed logins"):
        store.verify_login("bob", PASSWORD, "10.0.0.9", now=start + timedelta(minutes=14))
    assert store.verify_login("bob", PASSWORD, "10.0.0.9", now=start + timedelta(minutes=16)).login == "bob"
    for second in range(FAILURES_PER_LOGIN):
        with pytest.raises(LoginRefused, match="wrong"):
            store.verify_login("bob", "guess", "10.0.0.9", now=start + timedelta(minutes=20, seconds=second))
    store.set_password(admin, "bob", PASSWORD + " again", now=start + timedelta(minutes=21))
    assert store.verify_login("bob", PASSWORD + " again", "10.0.0.9", now=start + timedelta(minutes=22)).login == "bob"


def test_an_admin_changes_roles_and_limits_on_the_record_and_a_typo_in_a_limit_is_said(desk: Desk) -> None:
    """`users set` replaces roles and limits (lifting them with --all-accounts), ends the person's desk sessions,
    and is audited with what changed; the last admin keeps the role; a limit naming no campaign or account in
    the store is said at once."""
    assert "ana (analyst) may not approve" in desk.run("ana", "approve", "launch/lancs-x", code=1)
    changed = desk.run("admin", "users", "set", "ana", "--role", "analyst", "--role", "approver", "--account",
                       "lancs-x")
    assert changed.startswith("Changed ana (Ana): analyst, approver; only accounts lancs-x")
    assert desk.run("ana", "approve", "launch/lancs-x").splitlines()[-1] == "1 post approved by ana"
    assert "may not approve posts of lancs-facebook" in desk.run("ana", "approve", "--all", code=1)
    desk.run("admin", "users", "set", "ana", "--all-accounts")
    assert desk.store().person("ana").accounts is None
    assert "last active admin" in desk.run("admin", "users", "set", "admin", "--role", "analyst", code=1)
    assert "note: no account 'lancs-y' is in the store yet" in desk.run("admin", "users", "set", "ana", "--account",
                                                                        "lancs-y")
    change = [e for e in desk.audit() if e["action"] == "user_changed"][0]
    assert change["details"]["roles"] == {"from": "analyst", "to": "analyst,approver"}  # type: ignore[index]
    with desk.store().read_session() as session:
        assert session.scalars(select(UserRow).where(UserRow.login == "ana")).one().session_version == 3


def test_status_during_a_pause_lists_the_posts_whose_window_has_passed(desk: Desk) -> None:
    """While paused, an approved post whose time and grace have passed is not "next due" but waiting for a
    person, and status says so before anyone resumes."""
    store = desk.store()
    desk.run("bob", "approve", "--all")
    store.pause("critical incident", store.person("pat"), now=datetime(2027, 3, 15, 8, 0, tzinfo=UTC))
    status = store.status("test-week", now=datetime(2027, 3, 15, 10, 0, tzinfo=UTC))
    assert sorted(p.key for p in status.needs_a_person) == ["launch/lancs-facebook", "launch/lancs-x"]
    assert all(p.key.startswith(("signs", "helpline")) for p in status.next_due)
    from campaign.store.next_steps import way_forward

    assert "it will not go out by itself" in way_forward(status.needs_a_person[0])


def test_a_draft_whose_window_passed_without_sign_off_is_said_to_have_not_gone_out(desk: Desk) -> None:
    """A draft nobody approved in time does not go out, and status says so (with what to do), instead of
    leaving it a silent draft for ever."""
    store = desk.store()
    status = store.status("test-week", now=datetime(2027, 3, 15, 10, 0, tzinfo=UTC))
    late = sorted(p.key for p in status.needs_a_person)
    assert late == ["launch/lancs-facebook", "launch/lancs-x"]
    from campaign.store.next_steps import way_forward

    moment = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
    assert "passed without sign-off: it did not go out" in way_forward(status.needs_a_person[0], moment)


def test_an_admin_can_unlink_a_single_sign_on_identity(desk: Desk) -> None:
    """A user linked to a provider's identity can be unlinked (a new app registration gives new subjects, and a
    wrong link could not be undone): the link goes, their desk sessions end, and the change is on the record."""
    store = desk.store()
    store.link_single_sign_on("bob", "https://login.example/tenant/v2.0 subject-1")
    assert "single sign-on linked" in desk.run("admin", "users", "list")
    desk.run("admin", "users", "set", "bob", "--unlink-sso")
    assert store.user("bob").oidc_subject is None
    change = [e for e in desk.audit() if e["action"] == "user_changed"][-1]
    assert change["details"]["single_sign_on"] == {  # type: ignore[index]
        "from": "https://login.example/tenant/v2.0 subject-1", "to": None}
    assert "nothing to change" in desk.run("admin", "users", "set", "bob", "--unlink-sso", code=1)
