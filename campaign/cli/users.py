"""`campaign users`: the people of a store, their roles and scopes, and their desk passwords."""

from __future__ import annotations

import json
import sys

import click

from campaign.cli.store import actor_option, db_option, open_store


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
