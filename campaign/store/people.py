"""The store's people: users, their roles and scopes, passwords, desk logins and their rate limit.

Every change to a user is audited. Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed when
those defaults grow). Desk logins are rate-limited in the store itself, so every worker sharing it counts the
same attempts: after :data:`FAILURES_PER_LOGIN` failures for one login, or :data:`FAILURES_PER_SOURCE` from one
address, within :data:`LOGIN_WINDOW`, further attempts are refused until the window has moved on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, func, or_, select
from sqlmodel import Session

from campaign import people
from campaign.exceptions import StoreError
from campaign.people import Action, Actor, NotAllowed, Person, Role, parse_roles
from campaign.problems import one_line
from campaign.store.models import LoginAttempt, UserRow, table_columns
from campaign.store.sql import audit, utcnow

U = table_columns(UserRow)
L = table_columns(LoginAttempt)

HASHER = PasswordHasher()
SHORTEST_PASSWORD = 12
LONGEST_PASSWORD = 1024
LOGIN_WINDOW = timedelta(minutes=15)
FAILURES_PER_LOGIN = 5
FAILURES_PER_SOURCE = 20


@functools.cache
def unknown_user_hash(hasher: PasswordHasher) -> str:
    """Checked against when the login is unknown, so that a wrong login takes as long as a wrong password. Made
    when first needed: hashing takes a quarter of a second, which every command loading the store paid."""
    return hasher.hash("a password no user has")


class Unchanged:
    """A value left as it is (where None has a meaning of its own: a scope of every campaign)."""


UNCHANGED = Unchanged()


class LoginRefused(StoreError):
    """A desk login that did not succeed; the message is safe to show (it never says which part was wrong)."""


def check_password(password: str, login: str) -> str:
    """*password*, if it may be used; refused with what a good one looks like."""
    if len(password) < SHORTEST_PASSWORD:
        raise StoreError(f"the password is too short: use at least {SHORTEST_PASSWORD} characters (a few words "
                         "make a good one)")
    if len(password) > LONGEST_PASSWORD:
        raise StoreError(f"the password is longer than {LONGEST_PASSWORD} characters")
    if password.strip().casefold() == login.casefold() or len(set(password)) < 4:
        raise StoreError("the password is too easy to guess: use a few unrelated words")
    return password


def check_login(login: str) -> str:
    """A login name as kept: lower case, one word of letters, digits, ``.``, ``_`` or ``-``."""
    cleaned = login.strip().lower()
    if not cleaned or len(cleaned) > 100 or not all(c.isalnum() or c in "._-@" for c in cleaned):
        raise StoreError(f"{login!r} cannot be a login: use their operating-system login, such as 'jo.reviewer' "
                         "(letters, digits, '.', '_', '-', '@'; at most 100)")
    return cleaned


def person_of(row: UserRow, on_behalf_of: str | None = None) -> Person:
    return Person(
        login=row.login, name=row.name, roles=parse_roles(r for r in row.roles.split(",") if r),
        campaigns=None if row.campaigns is None else frozenset(json.loads(row.campaigns)),
        accounts=None if row.accounts is None else frozenset(json.loads(row.accounts)),
        service=row.service, on_behalf_of=on_behalf_of,
    )


class People:
    """The people half of :class:`campaign.store.Store`."""

    engine: Engine

    def session(self) -> Session:
        raise NotImplementedError

    def read_session(self) -> Session:
        raise NotImplementedError

    # -- who is acting -----------------------------------------------------------------------------

    def has_users(self) -> bool:
        with self.read_session() as session:
            return session.scalars(select(U.id).limit(1)).first() is not None

    def person(self, login: str) -> Person:
        """The active user *login*, as a :class:`Person`; refused if unknown or disabled."""
        row = self.user(login)
        if row.disabled_at is not None:
            raise NotAllowed(f"{row.login} is disabled in this store; an admin can enable them again")
        return person_of(row)

    def command_line_person(self, acting_as: str | None = None, login: str | None = None) -> Person:
        """Who is acting on the command line: the operating-system *login* (default: this process's) mapped to
        a user. A store with no users yet belongs to whoever can open it: its login acts with every role.
        *acting_as* (``--as NAME``) is an admin's override, recorded under NAME with the admin named beside it."""
        login = login or people.login_name()
        if self.has_users():
            try:
                person = self.person(login)
            except NotAllowed:
                raise
            except StoreError:
                raise NotAllowed(f"you (login {login!r}) are not a user of this store; ask an admin to add you: "
                                 f"`campaign users add {login} --name 'Your Name' --role ROLE`") from None
        else:
            person = Person(login=login, name=login, roles=frozenset({Role.ADMIN}))
        if acting_as is None:
            return person
        if not acting_as.strip():
            raise StoreError("--as is blank: give the name to record, or leave it out to act as yourself")
        person.require(Action.ACT_AS)
        return Person(login=person.login, name=acting_as, roles=person.roles, campaigns=person.campaigns,
                      accounts=person.accounts, on_behalf_of=acting_as.strip())

    def acting(self, actor: Actor, action: Action, campaign: str | None = None,
               accounts: Iterable[str] | None = ()) -> str:
        """The name to record for *actor* doing *action*, after checking a :class:`Person`'s role and scope (a
        plain name is a part of the toolkit, such as a runner, and is trusted)."""
        if isinstance(actor, str):
            return actor
        actor.require(action, campaign, accounts)
        return actor.recorded_name

    def _names_of_person(self, actor: Actor) -> set[str]:
        """Every name the person recorded for *actor* goes by, case-folded: the login or the name an admin entered
        with ``--as``, and the login and name of the user either matches — so that "the approver must differ from
        the author" cannot be passed by writing someone's name another way (``--as 'Sam Author'`` for sam's post)."""
        names = {actor.recorded_name} if isinstance(actor, Person) else {actor}
        with self.read_session() as session:
            for row in session.scalars(select(UserRow).where(
                    or_(func.lower(U.login).in_([n.lower() for n in names]),
                        func.lower(U.name).in_([n.lower() for n in names])))):
                names |= {row.login, row.name}
        return {name.casefold() for name in names if name}

    @staticmethod
    def entered_by(actor: Actor) -> dict[str, str]:
        """Audit details naming the admin who entered an action on someone's behalf (``--as``)."""
        if isinstance(actor, Person) and actor.on_behalf_of is not None:
            return {"entered_by": actor.login}
        return {}

    # -- managing users ----------------------------------------------------------------------------

    def user(self, login: str) -> UserRow:
        with self.read_session() as session:
            row = session.scalars(select(UserRow).where(U.login == login.strip().lower())).one_or_none()
        if row is None:
            raise StoreError(f"there is no user {login!r} in this store; `campaign users list` shows them")
        return row

    def users(self) -> list[UserRow]:
        with self.read_session() as session:
            return list(session.scalars(select(UserRow).order_by(U.login)))

    def add_user(self, actor: Actor, login: str, name: str, roles: Iterable[Role | str], *,
                 password: str | None = None, email: str | None = None, campaigns: Iterable[str] | None = None,
                 accounts: Iterable[str] | None = None, service: bool = False,
                 now: datetime | None = None) -> UserRow:
        """Add a user. The first user of a store must be an admin (they manage the others)."""
        now = now or utcnow()
        login = check_login(login)
        role_set = parse_roles(str(r) for r in roles)
        if not role_set:
            raise StoreError("give at least one role (--role): " + ", ".join(str(r) for r in Role))
        if not name.strip():
            raise StoreError("the name is blank: give it as the record should show it, e.g. 'Insp. Jo Reviewer'")
        if service and password is not None:
            raise StoreError("a service account has no password: it acts from the command line only")
        if service and role_set & {Role.ADMIN, Role.APPROVER}:
            raise StoreError("a service account cannot approve or administer: give it publisher or analyst")
        first = not self.has_users()
        if first and Role.ADMIN not in role_set:
            raise StoreError(f"this store has no users yet: the first must be an admin, who adds the others — "
                             f"`campaign users add {people.login_name()} --name 'Your Name' --role admin`")
        if first and isinstance(actor, Person) and actor.login != login:
            raise StoreError(f"this store has no users yet: the first must be you, so that you can add the others "
                             f"— `campaign users add {actor.login} --name 'Your Name' --role admin`")
        recorded = self.acting(actor, Action.MANAGE_USERS)
        hashed = HASHER.hash(check_password(password, login)) if password is not None else None
        row = UserRow(login=login, name=name.strip(), email=(email or "").strip() or None,
                      roles=",".join(sorted(role_set)), service=service, password_hash=hashed,
                      campaigns=None if campaigns is None else json.dumps(sorted(set(campaigns))),
                      accounts=None if accounts is None else json.dumps(sorted(set(accounts))),
                      created_at=now, created_by=recorded)
        with self.session() as session, session.begin():
            if session.scalars(select(U.id).where(U.login == login)).first() is not None:
                raise StoreError(f"there is already a user {login!r}; `campaign users list` shows them")
            session.add(row)
            audit(session, now, recorded, "user_added", None, None,
                  {"login": login, "name": row.name, "roles": row.roles, "campaigns": row.campaigns,
                   "accounts": row.accounts, "service": service, **self.entered_by(actor)})
        return row

    def change_user(self, actor: Actor, login: str, *, name: str | None = None, email: str | None = None,
                    roles: Iterable[Role | str] | None = None, campaigns: Iterable[str] | None | Unchanged = UNCHANGED,
                    accounts: Iterable[str] | None | Unchanged = UNCHANGED, unlink_single_sign_on: bool = False,
                    now: datetime | None = None) -> UserRow:
        """Change *login*'s name, email, roles or scope (None for a scope: every campaign or account), or forget
        their single-sign-on identity (when the provider's changed: a new app registration gives new subjects). A
        change of roles, scope or identity ends their desk sessions; the last active admin keeps the admin role."""
        now = now or utcnow()
        recorded = self.acting(actor, Action.MANAGE_USERS)
        with self.session() as session, session.begin():
            row = self._row_for_update(session, login)
            before = {"name": row.name, "email": row.email, "roles": row.roles, "campaigns": row.campaigns,
                      "accounts": row.accounts, "single_sign_on": row.oidc_subject}
            if name is not None:
                if not name.strip():
                    raise StoreError("the name is blank: give it as the record should show it")
                row.name = name.strip()
            if email is not None:
                row.email = email.strip() or None
            if roles is not None:
                role_set = parse_roles(str(r) for r in roles)
                if not role_set:
                    raise StoreError("give at least one role (--role): " + ", ".join(str(r) for r in Role))
                if row.service and role_set & {Role.ADMIN, Role.APPROVER}:
                    raise StoreError("a service account cannot approve or administer: give it publisher or analyst")
                if (Role.ADMIN in person_of(row).roles and Role.ADMIN not in role_set and row.disabled_at is None
                        and self._active_admins(session) <= 1):
                    raise StoreError(f"{row.login} is the last active admin: make someone else an admin first")
                row.roles = ",".join(sorted(role_set))
            if not isinstance(campaigns, Unchanged):
                row.campaigns = None if campaigns is None else json.dumps(sorted(set(campaigns)))
            if not isinstance(accounts, Unchanged):
                row.accounts = None if accounts is None else json.dumps(sorted(set(accounts)))
            if unlink_single_sign_on:
                row.oidc_subject = None
            after = {"name": row.name, "email": row.email, "roles": row.roles, "campaigns": row.campaigns,
                     "accounts": row.accounts, "single_sign_on": row.oidc_subject}
            changed = {key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]}
            if not changed:
                raise StoreError(f"nothing to change: {row.login} already has that")
            if {"roles", "campaigns", "accounts", "single_sign_on"} & set(changed):
                row.session_version += 1
            session.add(row)
            audit(session, now, recorded, "user_changed", None, None,
                  {"login": row.login, **changed, **self.entered_by(actor)})
        return row

    def set_enabled(self, actor: Actor, login: str, enabled: bool, now: datetime | None = None) -> UserRow:
        now = now or utcnow()
        recorded = self.acting(actor, Action.MANAGE_USERS)
        with self.session() as session, session.begin():
            row = self._row_for_update(session, login)
            if not enabled and Role.ADMIN in person_of(row).roles and self._active_admins(session) <= 1:
                raise StoreError(f"{row.login} is the last active admin: add another admin before disabling them")
            row.disabled_at = None if enabled else now
            row.session_version += 1
            session.add(row)
            audit(session, now, recorded, "user_enabled" if enabled else "user_disabled", None, None,
                  {"login": row.login, **self.entered_by(actor)})
        return row

    def set_password(self, actor: Actor, login: str, password: str, now: datetime | None = None) -> UserRow:
        """Set *login*'s desk password: their own, or anyone's for an admin. Ends their desk sessions."""
        now = now or utcnow()
        own = isinstance(actor, Person) and actor.login == check_login(login) and actor.on_behalf_of is None
        recorded = actor.login if own and isinstance(actor, Person) else self.acting(actor, Action.MANAGE_USERS)
        with self.session() as session, session.begin():
            row = self._row_for_update(session, login)
            if row.service:
                raise StoreError(f"{row.login} is a service account: it has no password")
            row.password_hash = HASHER.hash(check_password(password, row.login))
            row.session_version += 1
            session.add(row)
            # A new password lifts a lock from failed logins, as a successful login would.
            session.add(LoginAttempt(at=now, login=row.login, source="(password set)", succeeded=True))
            audit(session, now, recorded, "password_set", None, None, {"login": row.login, **self.entered_by(actor)})
        return row

    def link_single_sign_on(self, login: str, subject: str, now: datetime | None = None) -> UserRow:
        """Remember that *login* signed in by single sign-on as *subject* (issuer + subject)."""
        now = now or utcnow()
        with self.session() as session, session.begin():
            row = self._row_for_update(session, login)
            if row.oidc_subject not in (None, subject):
                raise LoginRefused("this account is linked to another single sign-on identity; ask an admin")
            row.oidc_subject = subject
            session.add(row)
        return row

    def _row_for_update(self, session: Session, login: str) -> UserRow:
        row = session.scalars(select(UserRow).where(U.login == login.strip().lower())).one_or_none()
        if row is None:
            raise StoreError(f"there is no user {login!r} in this store; `campaign users list` shows them")
        return row

    @staticmethod
    def _active_admins(session: Session) -> int:
        rows = session.scalars(select(UserRow).where(U.disabled_at.is_(None)))
        return sum(1 for row in rows if Role.ADMIN in person_of(row).roles)

    # -- desk logins -------------------------------------------------------------------------------

    def verify_login(self, login: str, password: str, source: str, now: datetime | None = None) -> UserRow:
        """The user *login*, if *password* is theirs and neither the login nor *source* (the client's address)
        is throttled. Every attempt is recorded and audited; a refusal never says which part was wrong."""
        now = now or utcnow()
        # Whatever was typed is kept as one printable line: an attempted login is not trusted text.
        login = one_line(login.strip().lower())[:200]
        source = one_line(source)[:100]
        since = now - LOGIN_WINDOW
        with self.read_session() as session:
            # A login's failures count from its last success (a login, or a password an admin set), so an admin
            # can lift a lock at once with `campaign users passwd`.
            cleared = session.scalar(select(func.max(L.at)).where(L.login == login, L.succeeded.is_(True)))
            failures_login = session.scalar(select(func.count()).where(
                L.login == login, L.at > (max(since, cleared) if cleared else since), L.succeeded.is_(False))) or 0
            failures_source = session.scalar(select(func.count()).where(
                L.source == source, L.at > since, L.succeeded.is_(False))) or 0
            row = session.scalars(select(UserRow).where(U.login == login)).one_or_none()
        if failures_login >= FAILURES_PER_LOGIN or failures_source >= FAILURES_PER_SOURCE:
            # Audited, not counted: an attempt while locked must not keep the lock going for ever.
            with self.session() as session, session.begin():
                audit(session, now, login or "(blank)", "login_throttled", None, None, {"source": source})
            minutes = int(LOGIN_WINDOW.total_seconds() // 60)
            raise LoginRefused(f"too many failed logins: wait {minutes} minutes and try again, or ask an admin")
        stored = row.password_hash if row is not None and row.password_hash else unknown_user_hash(HASHER)
        try:
            matched: bool = HASHER.verify(stored, password[:LONGEST_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            matched = False
        usable = row is not None and row.password_hash is not None and not row.service and row.disabled_at is None
        if not (matched and usable):
            self._record_login(now, login, source, False, "login_failed")
            raise LoginRefused("the login or the password is wrong")
        assert row is not None and row.password_hash is not None
        if HASHER.check_needs_rehash(row.password_hash):
            with self.session() as session, session.begin():
                fresh = self._row_for_update(session, login)
                fresh.password_hash = HASHER.hash(password)
                session.add(fresh)
        self._record_login(now, login, source, True, "login")
        return row

    def _record_login(self, now: datetime, login: str, source: str, succeeded: bool, action: str) -> None:
        with self.session() as session, session.begin():
            session.add(LoginAttempt(at=now, login=login, source=source, succeeded=succeeded))
            audit(session, now, login or "(blank)", action, None, None, {"source": source})

    def record_desk_action(self, person: Person, action: str, details: dict[str, object],
                           now: datetime | None = None) -> None:
        """Audit something a person did on the desk that changes nothing in the store (a logout)."""
        with self.session() as session, session.begin():
            audit(session, now or utcnow(), person.login, action, None, None, details)
