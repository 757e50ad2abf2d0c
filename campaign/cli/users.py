"""`campaign users`: the people of a store, their roles and scopes, and their desk passwords."""

from __future__ import annotations

import json
import sys

from typing import TYPE_CHECKING

import click

from campaign.cli.store import actor_option, db_option, open_store

if TYPE_CHECKING:
    from campaign.store import Store


def _password(from_stdin: bool, prompt: str) -> str:
    """A new password: read from standard input (scripts), else asked for twice, unseen."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def users() -> None:
    """The people who use this store: roles (author, approver, publisher, analyst, admin), optionally limited
    to some campaigns or accounts. On the command line a person is their login; on the desk, their login name
    and password (or single sign-on). A store with no users acts for whoever opens it, until the first user
    (an admin) is added."""


@users.command()
@click.argument("login")
@click.option("--name", required=True, help="As the record should show them: 'Insp. Jo Reviewer'.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["author", "approver", "publisher", "analyst", "admin"]),
              help="A role (repeat for several).")
@click.option("--campaign", "campaigns", multiple=True, metavar="ID",
              help="Limit them to this campaign (repeat for several). Default: every campaign.")
@click.option("--account", "accounts", multiple=True, metavar="ID",
              help="Limit them to this account's posts (repeat for several). Default: every account.")
@click.option("--email", help="For alerts and single sign-on.")
@click.option("--service", is_flag=True,
              help="A service account (a runner's): command line only, no password, no desk login.")
@click.option("--password", "with_password", is_flag=True, help="Ask for a desk password now.")
@click.option("--password-stdin", is_flag=True, help="Read the desk password from standard input.")
@db_option
@actor_option
def add(login: str, name: str, roles: tuple[str, ...], campaigns: tuple[str, ...], accounts: tuple[str, ...],
        email: str | None, service: bool, with_password: bool, password_stdin: bool, db: str | None,
        actor: str | None) -> None:
    """Add LOGIN (their operating-system login, which is also their desk login). Admins only; the first user
    of a store must be an admin."""
    store = open_store(db)
    person = store.command_line_person(actor)
    password = _password(password_stdin, f"Desk password for {login}") if with_password or password_stdin else None
    row = store.add_user(person, login, name, roles, password=password, email=email,
                         campaigns=campaigns or None, accounts=accounts or None, service=service)
    scope = _scope(row.campaigns, row.accounts)
    click.echo(f"Added {row.login} ({row.name}): {row.roles.replace(',', ', ')}{scope}"
               f"{'; service account' if row.service else ''}"
               f"{'; desk password set' if row.password_hash else ''}")
    _warn_unknown(store, campaigns, accounts)


def _warn_unknown(store: Store, campaigns: tuple[str, ...], accounts: tuple[str, ...]) -> None:
    """Say so when a scope names a campaign or account the store does not hold (yet): a typo would leave the
    person seeing nothing, with nobody told why."""
    known_campaigns = set(store.campaign_ids())
    known_accounts = {row.key for row in store.accounts()}
    for kind, named, known in (("campaign", campaigns, known_campaigns), ("account", accounts, known_accounts)):
        for name in sorted(set(named) - known):
            click.secho(f"note: no {kind} {name!r} is in the store yet (a typo? it has: "
                        f"{', '.join(sorted(known)) or 'none'}); the scope applies once one is scheduled",
                        fg="yellow", err=True)


@users.command(name="set")
@click.argument("login")
@click.option("--name", help="A new name for the record.")
@click.option("--email", help="A new email address ('' to remove it).")
@click.option("--role", "roles", multiple=True,
              type=click.Choice(["author", "approver", "publisher", "analyst", "admin"]),
              help="Their roles from now on (repeat for several): replaces the roles they have.")
@click.option("--campaign", "campaigns", multiple=True, metavar="ID",
              help="Limit them to these campaigns from now on (repeat); replaces their campaign limit.")
@click.option("--all-campaigns", is_flag=True, help="Lift their campaign limit.")
@click.option("--account", "accounts", multiple=True, metavar="ID",
              help="Limit them to these accounts from now on (repeat); replaces their account limit.")
@click.option("--all-accounts", is_flag=True, help="Lift their account limit.")
@click.option("--unlink-sso", is_flag=True,
              help="Forget the single-sign-on identity they are linked to (their next sign-in links it again).")
@db_option
@actor_option
def set_user(login: str, name: str | None, email: str | None, roles: tuple[str, ...], campaigns: tuple[str, ...],
             all_campaigns: bool, accounts: tuple[str, ...], all_accounts: bool, unlink_sso: bool, db: str | None,
             actor: str | None) -> None:
    """Change LOGIN's name, email, roles or limits (admins only). A change of roles or limits ends their desk
    sessions."""
    from campaign.store.people import UNCHANGED, Unchanged

    if campaigns and all_campaigns or accounts and all_accounts:
        raise click.UsageError("give --campaign or --all-campaigns (and --account or --all-accounts), not both")
    store = open_store(db)
    campaign_scope: tuple[str, ...] | None | Unchanged = None if all_campaigns else (campaigns or UNCHANGED)
    account_scope: tuple[str, ...] | None | Unchanged = None if all_accounts else (accounts or UNCHANGED)
    row = store.change_user(store.command_line_person(actor), login, name=name, email=email, roles=roles or None,
                            campaigns=campaign_scope, accounts=account_scope, unlink_single_sign_on=unlink_sso)
    click.echo(f"Changed {row.login} ({row.name}): {row.roles.replace(',', ', ')}"
               f"{_scope(row.campaigns, row.accounts)}")
    _warn_unknown(store, campaigns, accounts)


def _scope(campaigns: str | None, accounts: str | None) -> str:
    parts = []
    if campaigns is not None:
        parts.append("campaigns " + ", ".join(json.loads(campaigns)))
    if accounts is not None:
        parts.append("accounts " + ", ".join(json.loads(accounts)))
    return f"; only {' and '.join(parts)}" if parts else ""


@users.command(name="list")
@db_option
def list_users(db: str | None) -> None:
    """Every user, with roles, scope and whether they can log in to the desk."""
    from campaign.people import Action

    store = open_store(db)
    store.command_line_person().require(Action.VIEW)
    rows = store.users()
    if not rows:
        click.echo("No users yet: this store acts for whoever opens it. Add the first admin with `campaign users "
                   "add LOGIN --name 'Your Name' --role admin`.")
        return
    for row in rows:
        login = "disabled" if row.disabled_at else ("service" if row.service else
                                                    "password" if row.password_hash else "command line only")
        sso = ", single sign-on linked" if row.oidc_subject else ""
        click.echo(f"{row.login:<20} {row.name:<28} {row.roles.replace(',', ', '):<28} "
                   f"{login}{sso}{_scope(row.campaigns, row.accounts)}")


@users.command()
@click.argument("login")
@db_option
@actor_option
def disable(login: str, db: str | None, actor: str | None) -> None:
    """Stop LOGIN from acting (their desk sessions end at once). Nothing they did is removed."""
    store = open_store(db)
    row = store.set_enabled(store.command_line_person(actor), login, enabled=False)
    click.echo(f"Disabled {row.login} ({row.name}).")


@users.command()
@click.argument("login")
@db_option
@actor_option
def enable(login: str, db: str | None, actor: str | None) -> None:
    """Let a disabled LOGIN act again."""
    store = open_store(db)
    row = store.set_enabled(store.command_line_person(actor), login, enabled=True)
    click.echo(f"Enabled {row.login} ({row.name}).")


@users.command()
@click.argument("login", required=False)
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@db_option
def passwd(login: str | None, password_stdin: bool, db: str | None) -> None:
    """Set your desk password (or LOGIN's, for an admin). Their desk sessions end."""
    store = open_store(db)
    person = store.command_line_person()
    login = login or person.login
    row = store.set_password(person, login, _password(password_stdin, f"New desk password for {login}"))
    click.echo(f"Password set for {row.login}; their desk sessions have ended.")
