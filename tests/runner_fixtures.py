"""Helpers for the runner's proof tests: plans whose accounts live on a sandbox, posts moved onto real time,
and readings of what the sandbox and the store say happened.

A plain module (``from tests.runner_fixtures import ...``). Posts reach the store through the real path (a plan
file, :func:`campaign.render.render_plan`, :meth:`Store.schedule`, :meth:`Store.approve`); then, as
:func:`campaign.publishing.rehearsal._point_at` does, only their ``due_at``/``late_after`` are rewritten so that they fall
due seconds from now on the real clock. Content, hash and approval stay exactly as the real API left them.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select, update

from campaign.render import RenderedPlan, render_plan
from campaign.sandbox import Sandbox, SandboxAccount, env_names
from campaign.sandbox.engagement import utc_now
from campaign.sandbox.server import build_app, platform_of
from campaign.store import PostState, Selection, Store
from campaign.store.models import AuditEntry, Post, PublishAttempt, table_columns
from tests.instagram_fixtures import jpeg_bytes
from tests.plan_fixtures import write_campaign

CAMPAIGN = "runner-proof"
P = table_columns(Post)

CREATE_PATHS = {
    "x": ("POST", "/2/tweets"),
    "facebook": ("POST", "/v*/*/feed"),
    "mastodon": ("POST", "/api/v1/statuses"),
    "bluesky": ("POST", "/xrpc/com.atproto.repo.createRecord"),
    "linkedin": ("POST", "/rest/posts"),
    "instagram": ("POST", "/v*/*/media_publish"),
}
"""The request that creates a post, per platform (method, path glob)."""
PICTURE = "guide.jpg"
"""The picture every Instagram post of a runner plan carries (Instagram's posts are pictures)."""


def live_sandbox(seed: int = 1234, accounts: Iterable[SandboxAccount] | None = None,
                 latency_ms: float = 0) -> Sandbox:
    """A sandbox on the real clock (the runner compares its own real time with the posts' ``created_at``)."""
    return Sandbox(seed=seed, clock=utc_now, accounts=accounts, latency_ms=latency_ms)


@contextmanager
def serving_with_slow_answers(sandbox: Sandbox, delay: float) -> Iterator[Sandbox]:
    """Serve *sandbox* on a free port, like :func:`campaign.sandbox.running`, but hold the answer to every
    request that creates a post for *delay* seconds AFTER the platform has recorded the post.

    That is the window the crash test aims at: the post is out, the runner has not heard so, and a runner
    killed now leaves the store saying ``publishing`` for a post the platform has. (The sandbox's own
    ``latency_ms`` delays requests before they are read, so a client killed then never posts anything.)"""

    @web.middleware
    async def slow_answers(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        platform = platform_of(request.path)
        if platform is not None:
            method, path = CREATE_PATHS[platform]
            if request.method == method and fnmatch.fnmatchcase(request.path, path):
                await asyncio.sleep(delay)
        return response

    app = build_app(sandbox)
    app.middlewares.append(slow_answers)  # innermost: runs after the platform's handler has recorded the post
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        host, port = runner.addresses[0][:2]
        sandbox.base_url = f"http://{host}:{port}"
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="slow-sandbox", daemon=True)
    thread.start()
    assert ready.wait(10), "the sandbox did not start"
    try:
        yield sandbox
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        sandbox.base_url = None


# -- accounts and plans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanAccount:
    """A plan account backed by a sandbox account, and the environment variables holding its credentials."""

    key: str
    sandbox: SandboxAccount
    prefix: str

    @property
    def platform(self) -> str:
        return self.sandbox.platform

    def variables(self) -> dict[str, str]:
        """Credential name -> variable name (only those the sandbox account has)."""
        names = env_names(self.platform, self.prefix)
        return {name: variable for name, variable in names.items() if name in self.sandbox.credentials}

    def environment(self) -> dict[str, str]:
        return self.sandbox.env(self.prefix)


def demo_plan_accounts(sandbox: Sandbox) -> list[PlanAccount]:
    """The sandbox's demo accounts (one per platform) as plan accounts ``demo-x``, ``demo-facebook``, ..."""
    return [PlanAccount(f"demo-{a.platform}", a, "SANDBOX") for a in sandbox.accounts()]


def extra_accounts(sandbox: Sandbox, per_platform: int) -> list[PlanAccount]:
    """*per_platform* fresh accounts on each platform, added to *sandbox*."""
    made: list[PlanAccount] = []
    number = 0
    for platform in CREATE_PATHS:
        for _ in range(per_platform):
            number += 1
            token = secrets.token_hex(6)
            user_id = {"x": str(7000 + number), "facebook": f"1000{number:011d}", "mastodon": str(9000 + number),
                       "bluesky": f"did:plc:runner{number:04d}", "linkedin": str(2400000 + number),
                       "instagram": f"178414{number:011d}"}[platform]
            credentials = {
                "x": {"consumer_key": f"ck-{token}", "consumer_secret": f"cs-{token}",
                      "access_token": f"{user_id}-at-{token}", "access_token_secret": f"ats-{token}"},
                "facebook": {"page_id": user_id, "page_access_token": f"EAA{token}"},
                "mastodon": {"access_token": f"mastodon-{token}"},
                "bluesky": {"app_password": f"{token[:4]}-{token[4:8]}-{token[8:]}aa-bbbb"},
                "linkedin": {"organization_id": user_id, "access_token": f"AQ{token}"},
                "instagram": {"ig_user_id": user_id, "access_token": f"EAAig{token}"},
            }[platform]
            handle = {"x": f"@Force{number}", "facebook": f"ForcePage{number}",
                      "mastodon": f"@force{number}@social.sandbox", "bluesky": f"force{number}.bsky.social",
                      "linkedin": f"force-{number}", "instagram": f"force{number}"}[platform]
            scopes = {"x": ("read-write",), "facebook": ("pages_manage_posts", "pages_read_engagement"),
                      "mastodon": ("read", "write"), "bluesky": ("com.atproto.appPass",),
                      "linkedin": ("w_organization_social", "r_organization_social", "rw_organization_admin"),
                      "instagram": ("instagram_basic", "instagram_content_publish", "instagram_manage_insights"),
                      }[platform]
            account = sandbox.add_account(SandboxAccount(platform=platform, handle=handle, user_id=user_id,
                                                         display_name=f"Force {number}", credentials=credentials,
                                                         scopes=scopes))
            made.append(PlanAccount(f"{platform}-{number:02d}", account, f"ACC{number:02d}"))
    return made


def environment(accounts: Sequence[PlanAccount]) -> dict[str, str]:
    """The variables the runner needs to find every account's credentials."""
    env: dict[str, str] = {}
    for account in accounts:
        env.update(account.environment())
    return env


def post_text(entry: int) -> str:
    """Entry *entry*'s text: unique per entry, the same on every account of the entry."""
    return f"Runner proof {entry:03d}: spot the signs of modern slavery and report them on 101."


def write_plan(root: Path, sandbox: Sandbox, accounts: Sequence[PlanAccount], entries: int,
               grace: str = "10m", images: bool = False) -> Path:
    """A plan of *entries* entries, each posted on every one of *accounts* (``entries × len(accounts)`` posts),
    each with the pocket guide's picture when *images*. Instagram's posts always carry :data:`PICTURE` (a
    variant), which :func:`media_server` serves as their accounts' media host.

    Entry ``n`` is at 09:00 + n minutes on 2027-03-15; :func:`put_on_real_time` keeps that order and spacing.
    """
    assert sandbox.base_url is not None, "start the sandbox first (campaign.sandbox.running)"
    lines = ["campaign:", "  name: Runner proof", f"  id: {CAMPAIGN}", "  timezone: Europe/London",
             "  starts: 2027-03-15", "  ends: 2027-03-21", f"  grace: {grace}",
             "facts:", "  phones:", "    police: {label: Lancashire Police, number: '101'}", "accounts:"]
    for account in accounts:
        lines += [f"  {account.key}:", f"    platform: {account.platform}", f"    handle: '{account.sandbox.handle}'",
                  f"    api_base: {sandbox.base_url}", "    credentials:"]
        lines += [f"      {name}: {variable}" for name, variable in account.variables().items()]
        if account.platform == "instagram":
            lines += [f"    media_host: {{base_url: '{media_server()}'}}"]
    keys = ", ".join(a.key for a in accounts)
    image = ", images: [{file: images/guide.png, alt: The cover of the pocket guide}]" if images else ""
    if any(account.platform == "instagram" for account in accounts):
        image += f", variants: {{instagram: {{images: [{{file: images/{PICTURE}, alt: The pocket guide}}]}}}}"
    posts = "".join(
        f"- {{id: e{n:03d}, accounts: [{keys}], at: '2027-03-15 {9 + n // 60:02d}:{n % 60:02d}', "
        f"text: '{post_text(n)}'{image}}}\n"
        for n in range(entries)
    )
    plan = write_campaign(root, posts, base="\n".join(lines) + "\n")
    (plan.parent / "images" / PICTURE).write_bytes(jpeg_bytes())
    return plan


@functools.cache
def media_server() -> str:
    """The base URL of a plain web server, on a free port of this test process, serving :data:`PICTURE`: the media
    host of runner plans' Instagram accounts, as a force's own site would be. Not the sandbox: the runner tests
    count the sandbox's connections, and a force's site is another server anyway."""
    folder = Path(tempfile.mkdtemp(prefix="campaign-media-"))
    (folder / PICTURE).write_bytes(jpeg_bytes())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, name="media-server", daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def schedule_and_approve(store: Store, plan: Path) -> RenderedPlan:
    """Render, schedule and approve every post of *plan*, through the store's public API."""
    rendered = render_plan(plan)
    assert rendered.ok, [str(p) for p in rendered.errors]
    store.schedule(rendered, "author@lancashire.police.uk")
    approved = store.approve(Selection(campaign=CAMPAIGN, everything=True), "approver@lancashire.police.uk")
    assert {p.state for p in approved} == {PostState.APPROVED}
    return rendered


def put_on_real_time(store: Store, first_due: datetime, spacing: timedelta, grace: timedelta) -> dict[str, datetime]:
    """Move the posts onto the real clock, as the rehearsal's ``_point_at`` does: the k-th distinct plan time
    becomes ``first_due + k × spacing`` (posts of one entry stay simultaneous), ``late_after = due + grace``.
    Returns post key -> new due time."""
    with store.engine.begin() as connection:
        rows = list(connection.execute(select(P.id, P.key, P.due_at).order_by(P.due_at, P.key)))
        instants = sorted({row.due_at for row in rows})
        slot = {instant: first_due + spacing * index for index, instant in enumerate(instants)}
        moved: dict[str, datetime] = {}
        for row in rows:
            due = slot[row.due_at]
            connection.execute(update(Post).where(P.id == row.id).values(due_at=due, late_after=due + grace))
            moved[row.key] = due
    return moved


# -- runner processes -------------------------------------------------------------------------------------------

RUNNER_SCRIPT = """\
# A runner process for the tests: python runner.py URL NAME SETTINGS_JSON (RunnerSettings' fields; lease and horizon
# in seconds). Prints "ready" once running; SIGTERM stops it cleanly ("stopped"); SIGKILL is what crash tests use.
import json, logging, signal, sys, threading
from datetime import timedelta

from campaign.publishing.events import EventBus
from campaign.publishing.runner import Runner, RunnerSettings
from campaign.store import Store

url, name, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s")
for field in ("lease", "horizon"):
    if field in settings:
        settings[field] = timedelta(seconds=settings[field])
runner = Runner(Store.open(url), RunnerSettings(**settings), EventBus(), name=name)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
runner.start()
print("ready", flush=True)
done.wait()
runner.stop(wait=True)
print("stopped", flush=True)
"""


def runner_command(folder: Path, url: str, name: str, settings: dict[str, Any]) -> list[str]:
    """The command line of a runner process on the store at *url* (the script is written into *folder*)."""
    script = folder / "runner.py"
    if not script.exists():
        script.write_text(RUNNER_SCRIPT, encoding="utf-8")
    return [sys.executable, str(script), url, name, json.dumps(settings)]


def runner_environment(accounts: Sequence[PlanAccount]) -> dict[str, str]:
    """A runner process's environment: the accounts' credentials as the plan names them, this checkout first on
    the path (as pytest has it)."""
    return {**os.environ, **environment(accounts), "PYTHONPATH": str(Path(__file__).parent.parent)}


# -- reading what happened -----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def states(store: Store) -> dict[str, str]:
    """Post key -> state."""
    with store.session() as session:
        return {post.key: post.state for post in session.scalars(select(Post))}


def posts(store: Store) -> dict[str, Post]:
    with store.session() as session:
        return {post.key: post for post in session.scalars(select(Post))}


def all_in(store: Store, wanted: Iterable[PostState]) -> bool:
    allowed = {str(s) for s in wanted}
    return all(state in allowed for state in states(store).values())


def attempts(store: Store) -> dict[str, list[PublishAttempt]]:
    """Post key -> its publish attempts, oldest first."""
    with store.session() as session:
        keys = {row[0]: row[1] for row in session.execute(select(P.id, P.key)).all()}
        found: dict[str, list[PublishAttempt]] = {key: [] for key in keys.values()}
        for attempt in session.scalars(select(PublishAttempt).order_by(table_columns(PublishAttempt).id)):
            found[keys[attempt.post_id]].append(attempt)
    return found


def not_published(store: Store) -> str:
    """Each post that is not ``published``, with its fields and audit trail: what a failed wait shows."""
    lines = []
    for key, post in posts(store).items():
        if post.state == PostState.PUBLISHED:
            continue
        lines.append(f"{key}: {post.state} due {post.due_at} not_before {post.not_before} claimed_by "
                     f"{post.claimed_by} lease_until {post.lease_until} last_error {post.last_error!r}")
        lines += [f"    {e.at} {e.actor} {e.action} {e.details}" for e in audit_trail(store, key)]
    holds = store.active_holds(CAMPAIGN)
    return "\n".join([*lines, f"holds: {holds}"])


def audit_trail(store: Store, key: str | None = None) -> list[AuditEntry]:
    """The campaign's audit entries (of one post), through the store's own ``audit``."""
    return [entry for entry in store.audit(CAMPAIGN, key) if key is None or entry.post_key == key]


def sandbox_counts(sandbox: Sandbox) -> Counter[tuple[str, str, str]]:
    """(platform, account handle, text) -> how many times the sandbox recorded it (its own record)."""
    return Counter((p.platform, p.account, p.text) for p in sandbox.posts(include_deleted=True))


def created_ok(sandbox: Sandbox, platform: str) -> int:
    """How many create requests the sandbox answered with success (a re-send answered 2xx shows up here)."""
    method, path = CREATE_PATHS[platform]
    return sum(1 for r in sandbox.requests(platform, method, path) if r.status is not None and r.status < 300)


def unplanned_create_refusals(sandbox: Sandbox) -> list[tuple[str, int | None]]:
    """Create requests refused (4xx) without an injected fault: X (403) and Facebook (400, code 506) refuse a
    re-sent text as a duplicate, so a post sent twice shows up here even though the platform kept one copy.
    (A 500 is not a refusal: it is the sandbox failing to read the body of a client killed mid-request.)"""
    refused: list[tuple[str, int | None]] = []
    for platform, (method, path) in CREATE_PATHS.items():
        refused += [(platform, r.status) for r in sandbox.requests(platform, method, path)
                    if r.fault is None and r.status is not None and 400 <= r.status < 500]
    return refused


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
