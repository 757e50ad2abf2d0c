"""``campaign serve``: the sign-off desk in a browser (:mod:`campaign.web`)."""

from __future__ import annotations

import os
import socket

import click

from campaign.cli.store import db_option, open_store

ADD_AN_ADMIN = ("this store has no users, so nobody could sign in to the desk: add an admin first: "
                "`campaign users add LOGIN --name 'Your Name' --role admin --password`")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Keep 127.0.0.1 and put a TLS reverse proxy (nginx, Caddy) in front for "
                   "others to reach it.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes. Several need a shared session secret ($CAMPAIGN_DESK_SECRET, else the secret "
                   "file) and are best on PostgreSQL.")
@click.option("--proxy-headers/--no-proxy-headers", default=True, show_default=True,
              help="Trust X-Forwarded-Proto and X-Forwarded-For from --forwarded-allow-ips (the reverse proxy).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, metavar="IPS",
              help="Comma-separated addresses of the reverse proxies whose X-Forwarded-* headers are trusted "
                   "('*' trusts any: only where nothing else can reach the desk).")
@db_option
def serve(host: str, port: int, workers: int, proxy_headers: bool, forwarded_allow_ips: str,
          db: str | None) -> None:
    """Run the sign-off desk: review, approve, reject, pause and resume in a browser, as yourself.

    People sign in as users of the store (`campaign users add`), with their roles and scopes; every
    page and action is checked against them and every change audited under their login. Behind a
    TLS reverse proxy, cookies are marked Secure (set CAMPAIGN_DESK_SECURE_COOKIES=1 to always mark
    them). The README's "Sign-off in the browser" says how to run it for a team.
    """
    import uvicorn

    from campaign.store.database import database_url
    from campaign.web.settings import session_secret

    url = database_url(db)
    store = open_store(url)
    try:
        if not store.has_users():
            raise click.ClickException(ADD_AN_ADMIN)
    finally:
        store.close()
    session_secret(url)  # made once now, before any worker reads it; refused here in one line if it cannot be
    from campaign.web.app import single_sign_on

    sso = single_sign_on() is not None  # a half-configured single sign-on is refused now, in one line
    _check_free(host, port)
    os.environ["CAMPAIGN_DB"] = url  # what each worker's create_app() reads
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    click.echo(f"The sign-off desk is at {where} ({workers} worker{'s' if workers != 1 else ''}"
               f"{', single sign-on on' if sso else ''}); Ctrl-C stops it.")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(f"It listens on {host}: anyone who can reach this machine can reach it. Serve it over https "
                    "through a reverse proxy (see the README).", fg="yellow")
    from campaign.cli.errors import command_args, one_line_logging

    with one_line_logging(command_args()):
        uvicorn.run("campaign.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                    proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips, server_header=False,
                    log_level="warning")


def _check_free(host: str, port: int) -> None:
    """Refuse, in one line, a port something else is listening on (uvicorn would say it in a log record)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise click.BadParameter(f"{host!r} is not an address of this machine ({error.strerror})",
                                 param_hint="--host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror} — choose another --port, "
                                       "or stop what is using it") from None
