"""``campaign sandbox``: run the local platform sandbox for rehearsals and demos."""

from __future__ import annotations

import asyncio
import logging

import click

from campaign.cli.types import Number
from campaign.exceptions import CampaignError

FAULT_HELP = """Fail some requests on purpose (repeatable). Grammar:
PLATFORM:[METHOD ]PATH:KIND[:OPTION,...] where PLATFORM is x, facebook, mastodon, bluesky, linkedin, instagram or *;
PATH is a glob over the request path. KIND is a platform's answer: rate_limit, error500, error503,
expired_token, duplicate, bad_appsecret, no_scope, bad_token; or a transport fault: hang (never
answer), lose_reply (handle the request, e.g. create the post, then drop the connection without an
answer), slow_reply (handle it, answer after seconds=S, default 15), down (refuse connections for
seconds=S, default 30, then listen again on the same port), ignore_idempotency (handle it as if it
had no Idempotency-Key). OPTIONs are every=N, probability=P, after=N, times=N, reset=SECONDS, code=N
(Facebook rate-limit code), seconds=S, and down=S on any kind (once the rule has fired, refuse
connections for S seconds). Examples: 'x:POST /2/tweets:rate_limit:every=3',
'x:POST /2/tweets:lose_reply:times=1,down=30'."""


@click.group()
def sandbox() -> None:
    """Run a local stand-in for X, Facebook, Mastodon and Bluesky."""


@sandbox.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on. Keep 127.0.0.1 unless others must reach the sandbox.",
)
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--latency",
    "latency_ms",
    default=0.0,
    show_default=True,
    type=Number(0, 60_000),
    metavar="MS",
    help="Delay every answer by this many milliseconds.",
)
@click.option("--faults", "faults", multiple=True, metavar="SPEC", help=FAULT_HELP)
@click.option(
    "--read-lag",
    "read_lag",
    default=0.0,
    show_default=True,
    type=Number(0, 3600),
    metavar="SECONDS",
    help="Hide each new post from reads (timelines and lookups) for this many seconds after it is "
    "created, as platforms whose read views lag their writes do.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed for engagement numbers and probabilistic faults: the same seed gives the same numbers.",
)
@click.option("--quiet", is_flag=True, help="Do not print a line per request.")
def serve(
    host: str, port: int, latency_ms: float, faults: tuple[str, ...], read_lag: float, seed: int, quiet: bool
) -> None:
    """Serve the sandbox until Ctrl-C.

    It answers on the platforms' real paths (X /2/..., Facebook /v25.0/..., Mastodon /api/...,
    Bluesky /xrpc/..., LinkedIn /rest/..., Instagram /v25.0/{ig-user-id}/media and media_publish, beside
    Facebook's) and accepts the demo accounts printed at start-up. Point an account at it with `api_base: URL` in
    the plan. Everything posted is listed at URL/_sandbox/posts.
    """
    from campaign.sandbox import Sandbox
    from campaign.sandbox.runner import serve_forever

    try:
        instance = Sandbox(seed=seed, latency_ms=latency_ms, faults=faults, read_lag=read_lag)
    except CampaignError as error:
        raise click.ClickException(str(error)) from None
    if not quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    ready = asyncio.Event()

    async def main() -> None:
        task = asyncio.create_task(serve_forever(instance, host, port, access_log=not quiet, ready=ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        _announce(instance)
        await task

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        click.echo("Sandbox stopped.")
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({error.strerror or error}); choose another --port"
        ) from None


def _announce(instance: object) -> None:
    from campaign.sandbox import Sandbox

    assert isinstance(instance, Sandbox)
    click.echo(f"Sandbox listening on {instance.base_url}  (Ctrl-C to stop)")
    click.echo("Demo accounts: " + ", ".join(f"{a.platform} {a.handle}" for a in instance.accounts()))
    click.echo(f"To use it, give each account of a plan `api_base: {instance.base_url}` (without it, accounts go to "
               "the real platforms).")
    click.echo("Demo credentials (they only open this sandbox):")
    for account in instance.accounts():
        for name, value in account.env().items():
            click.echo(f"  export {name}={value}")
    for rule in instance.faults.rules:
        click.echo(f"Fault: {rule.spec()}")
    if instance.read_lag:
        click.echo(f"Read lag: new posts appear in reads {instance.read_lag:g} s after they are created")
    click.echo(f"Recorded posts: {instance.base_url}/_sandbox/posts", nl=True)
