"""People: who may do what to which campaign, whatever the interface (command line or web desk).

A person is a user kept in the store (:class:`campaign.store.models.UserRow`) with one or more roles, and
optionally limited to some campaigns or some accounts. The store checks the person on every change it is
asked to make on their behalf (:meth:`Person.require`), so the command line and the web desk cannot differ.

On the command line a person is their operating-system login (read from the system, not from environment
variables a person can set), mapped to a user of the store. A store that has no users yet belongs to whoever
can open it: every command acts as its login with every role, until the first user is added.
"""

from __future__ import annotations

import enum
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass

from campaign.exceptions import StoreError


class Role(enum.StrEnum):
    AUTHOR = "author"
    APPROVER = "approver"
    PUBLISHER = "publisher"
    ANALYST = "analyst"
    ADMIN = "admin"


class Action(enum.StrEnum):
    VIEW = "view"
    """See posts, status and the audit trail."""
    SCHEDULE = "schedule"
    APPROVE = "approve"
    REJECT = "reject"
    RUN = "run"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    RECONCILE = "reconcile"
    COLLECT = "collect"
    EXPORT = "export"
    MANAGE_USERS = "manage users"
    ACT_AS = "act as someone else"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.AUTHOR: frozenset({Action.VIEW, Action.SCHEDULE}),
    Role.APPROVER: frozenset({Action.VIEW, Action.APPROVE, Action.REJECT}),
    Role.PUBLISHER: frozenset({Action.VIEW, Action.RUN, Action.PAUSE, Action.RESUME, Action.RETRY,
                               Action.RECONCILE, Action.COLLECT}),
    Role.ANALYST: frozenset({Action.VIEW, Action.COLLECT, Action.EXPORT}),
    Role.ADMIN: frozenset(Action),
}
"""What each role allows. An admin may do everything, including acting as someone else (audited)."""

ROLE_HELP = {
    Role.AUTHOR: "schedules plans",
    Role.APPROVER: "approves and rejects posts",
    Role.PUBLISHER: "runs the publisher, pauses, resumes, retries and reconciles",
    Role.ANALYST: "collects and exports engagement",
    Role.ADMIN: "everything, and manages users",
}


class NotAllowed(StoreError):
    """A person asked for something their role or scope does not allow."""


def login_name() -> str:
    """The operating-system account running this process (from the system's user database, not from
    ``$USER`` or ``$LOGNAME``, which anyone can set)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid-{os.geteuid()}"


@dataclass(frozen=True)
class Person:
    """Someone acting on the store, as the store knows them."""

    login: str
    name: str
    roles: frozenset[Role]
    campaigns: frozenset[str] | None = None
    """The campaigns they may act on; None: every campaign."""
    accounts: frozenset[str] | None = None
    """The accounts (plan ids) whose posts they may act on; None: every account."""
    service: bool = False
    """A service account (a runner's): it acts from the command line only, never logs in to the desk."""
    on_behalf_of: str | None = None
    """Set by an admin's ``--as NAME`` override: the record names NAME, and says the admin entered it."""

    @property
    def recorded_name(self) -> str:
        """Who the record says acted: the login, or the name an admin entered on someone's behalf."""
        return self.on_behalf_of or self.login

    @property
    def actions(self) -> frozenset[Action]:
        return frozenset().union(*(ROLE_ACTIONS[role] for role in self.roles))

    def may(self, action: Action, campaign: str | None = None, accounts: Iterable[str] = ()) -> bool:
        try:
            self.require(action, campaign, accounts)
        except NotAllowed:
            return False
        return True

    def require(self, action: Action, campaign: str | None = None, accounts: Iterable[str] | None = ()) -> None:
        """Refuse, with a sentence saying why and who can, unless this person may do *action* on *campaign*'s
        *accounts*. ``accounts=None`` means the whole campaign (every account, including ones to come)."""
        if action not in self.actions:
            able = sorted(str(role) for role, allowed in ROLE_ACTIONS.items() if action in allowed)
            roles = ", ".join(sorted(self.roles)) or "no role"
            raise NotAllowed(f"{self.login} ({roles}) may not {action}: that needs the role "
                             f"{' or '.join(able)} — ask an admin (`campaign users add`)")
        if campaign is not None and self.campaigns is not None and campaign not in self.campaigns:
            raise NotAllowed(f"{self.login} may not {action} campaign {campaign!r}: their work is limited to "
                             f"{', '.join(sorted(self.campaigns))}")
        if self.accounts is None:
            return
        if accounts is None:
            raise NotAllowed(f"{self.login} may not {action} the whole campaign: their work is limited to the "
                             f"accounts {', '.join(sorted(self.accounts))}"
                             + (" (give --account)" if action in (Action.PAUSE, Action.RESUME) else ""))
        outside = sorted(set(accounts) - self.accounts)
        if outside:
            own = sorted(self.accounts)
            hint = f" (choose only those posts, e.g. --account {own[0]})" if own else ""
            raise NotAllowed(f"{self.login} may not {action} posts of {', '.join(outside[:3])}: their work is "
                             f"limited to the accounts {', '.join(own) or 'none'}{hint}")


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Role names as written by a person (``approver``), checked; refused with the list of roles."""
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            known = ", ".join(str(role) for role in Role)
            raise NotAllowed(f"there is no role {name!r}; the roles are: {known}") from None
    return frozenset(roles)


Actor = str | Person
"""Who a store change is made for: a :class:`Person` (checked against their role and scope), or the name of
a part of the toolkit itself (a runner), which is trusted."""
