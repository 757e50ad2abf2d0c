"""`campaign accounts check`: does each account of a plan work, and who is it?"""

from __future__ import annotations

from pathlib import Path

import click

from campaign.example import example_plan


@click.group()
def accounts() -> None:
    """The plan's social media accounts."""


@accounts.command()
@click.argument("plan", required=False, type=click.Path(dir_okay=False, path_type=Path))
def check(plan: Path | None) -> None:
    """Check every account of PLAN against its platform: identity, token, permissions.

    Credentials are read from the environment variables the plan names. Exits 1 if any account
    cannot post. An account whose platform does not say what its credentials may do is listed as not
    verified, with what to check by hand (this alone does not make the exit 1). Secrets are never printed.
    """
    from campaign.accounts import check_account, plan_pictures
    from campaign.plan import load_plan
    from campaign.platforms import PLATFORMS

    loaded, problems = load_plan(plan or example_plan())
    if loaded is None:
        for problem in problems:
            click.secho(str(problem), fg="red", err=True)
        raise SystemExit(1)
    pictures = plan_pictures(loaded)
    statuses = [check_account(account, pictures=pictures.get(account.id, ())) for account in loaded.accounts.values()]
    rows = [("ACCOUNT", "PLATFORM", "HANDLE", "IDENTITY", "TOKEN", "PERMISSIONS")]
    for status in statuses:
        identity = status.identity
        who = f"{identity.display_name} ({identity.remote_user_id})" if identity and identity.remote_user_id else "—"
        token = "ok" if status.ok or (status.media_host_failed and identity and identity.token_ok) else "PROBLEM"
        if identity and identity.permissions:
            permissions = ", ".join(identity.permissions)
        else:
            permissions = "not reported" if status.unverified else "—"
        rows.append((status.account.id, PLATFORMS[status.account.platform].label, status.account.handle, who,
                     token, permissions))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    failing = [s for s in statuses if not s.ok]
    unverified = [s for s in statuses if s.ok and not s.ready]
    for status in statuses:
        for note in status.identity.notes if status.identity else ():
            click.echo(f"{status.account.id}: {note}")
        if status.media_host is not None and status.ok:
            click.echo(f"{status.account.id}: media host ok: {status.media_host}")
    for status in failing:
        click.secho(f"{status.account.id}: {status.problem}", fg="red")
    for status in unverified:
        click.secho(f"{status.account.id}: not verified — the credentials work, but "
                    f"{status.unverified}.", fg="yellow")
    ready = len(statuses) - len(failing) - len(unverified)
    summary = f"{ready} of {len(statuses)} accounts ready to post"
    if unverified:
        verb = "works" if len(unverified) == 1 else "work"
        summary += f"; {len(unverified)} more {verb} but could not be checked for permission to post (see above)"
    click.echo(summary)
    if failing:
        raise SystemExit(1)
