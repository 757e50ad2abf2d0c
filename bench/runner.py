"""Benchmark: the runner's speed targets (issues 5 and 12), against APScheduler's defaults, in one run.

Every post goes through the real path: a generated plan (Facebook pages by default, or Mastodon accounts;
one distinct text per post), `render_plan`, `Store.schedule`, `Store.approve`, into a SQLite store of its
own; then, as `campaign.publishing.rehearsal` does, the accounts are pointed at a sandbox
(`Sandbox(latency_ms=...)`, every account registered, credentials handed to the runner with `environ=`)
and the due times are moved onto real time. Each scenario runs in a fresh process (clean threads, clean
memory readings). Printed, side by side:

- burst: --posts posts (200), one on each of as many accounts, all due at the same instant, sandbox
  latency --latency (200 ms), the sandbox in a process of its own (its CPU is the platform's in production;
  the same run with the sandbox in-process is printed beside). Lateness of each post: start = when its
  request reached the platform (the sandbox's own record of the request) − due_at; the runner's own start of
  the attempt (started_at, when it was claimed and armed, the `Published` event's first_try_late_by_seconds)
  is earlier, and is printed beside; end-to-end = published_at − due_at (when the platform accepted it; its
  late_by_seconds): p50 / p99 / max. Baseline, in the same run: APScheduler 3.x `BackgroundScheduler()` with its
  DEFAULTS (a pool of 10 threads, misfire_grace_time 1 s), one date job per post doing the same work with
  the same store and adapter (claim, arm, publish, record the attempt, record the result): how many it
  published, how many it silently dropped as misfired, and its lateness. Also: the runner process's CPU per
  published post (goal ≤ 2 ms: the runner and the client library; in-process, the sandbox's too), and how many
  posts the sandbox received (never more than one per post). Goals: start p99 ÷ latency ≤ 1.5, end-to-end
  p99 ÷ latency ≤ 2.0. Beside them, in the same run, the floor: the client library alone, one thread per account
  already started, its connection opened ahead as the runner's are, and released at the due instant, nothing
  else (no store, no scheduler, nothing recorded): where the library alone stands against the same goals; and the
  client library's CPU
  per request (its send and its answer) one after another on one thread. A process runs Python on one core at a
  time: `posts × that CPU` is the burst's client work, spent between the due instant and the last answer. It is
  not a bound on when the last request leaves: a burst's answers are handled while the platform takes its
  latency, after every request has gone.
- precision: --precision-posts single posts (50), --spacing ms (200) apart, round-robin on 5 accounts (one
  post per account every 5 × spacing: nothing queues), sandbox latency 0: start lateness p50 / p99 / max.
  Goal: p99 ≤ 20 ms.
- idle: a runner with its default settings (refresh every 15 s, alarms 1 h ahead) over a store holding
  --idle-posts approved posts (10,000) on 50 accounts, due evenly over the coming week from just after the
  measurement (alarms are set for the first hour's posts; nothing fires), for --idle-seconds (30): CPU
  seconds ÷ wall seconds after start() returned (goal ≤ 1 % of a core; the refreshes in the window, which
  re-read the store, are part of it, and one refresh is also timed alone) and the process's peak resident
  memory (VmHWM; goal ≤ 200 MB).

The sandbox serves plain HTTP, where a new connection costs almost nothing. With --tls it serves HTTPS, as every
platform does, with a throwaway self-signed certificate for 127.0.0.1 that the scenarios' clients trust: each new
connection then costs a TLS handshake, which is what opening connections ahead saves at the instant.

Percentiles interpolate linearly between the two nearest samples: with 50 samples, p99 lies between the
largest and the second largest.

Run: .venv/bin/python bench/runner.py [--posts 200] [--latency 200] [--idle-seconds 30] [--platform facebook]
     [--repeat 1] [--tls] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CAMPAIGN = "runner-bench"
GRACE_MINUTES = 10
PLAN_HEAD = f"""\
campaign:
  name: Runner benchmark
  id: {CAMPAIGN}
  timezone: Europe/London
  starts: 2027-03-15
  ends: 2027-03-21
  grace: {GRACE_MINUTES}m
  hashtags: [SeeItShareIt, ModernSlavery]
facts:
  phones:
    helpline: {{label: Modern Slavery & Exploitation Helpline, number: '08000 121 700'}}
    police: {{label: Police, number: '101'}}
    emergency: {{label: Emergency, number: '999'}}
"""
BASELINE_NAME = "apscheduler-defaults"
LEASE = timedelta(minutes=2)
PRECISION_ACCOUNTS = 5
IDLE_ACCOUNTS = 50
LABELS = {"facebook": "Facebook", "mastodon": "Mastodon"}
SANDBOX_CERTIFICATE = "BENCH_SANDBOX_CERTIFICATE"  # under --tls, what the sandbox serves HTTPS with
SANDBOX_KEY = "BENCH_SANDBOX_KEY"


# -- plans and stores, through the real path ---------------------------------------------------------------


def account_key(number: int) -> str:
    return f"a{number:04d}"


def letters(number: int) -> str:
    """A number spelt in letters: a page's name shows in its posts, and the checks take any run of digits in a
    post for a phone number that must be one of the plan's verified numbers."""
    return "".join("ABCDEFGHIJ"[int(digit)] for digit in f"{number:04d}")


def facebook_handle(number: int) -> str:
    return f"Police Page {letters(number)}"


def page_id(number: int) -> str:
    return f"1000{number:011d}"


def account_lines(platform: str, number: int) -> list[str]:
    if platform == "facebook":
        return [f"  {account_key(number)}:", "    platform: facebook", f"    handle: {facebook_handle(number)}",
                f"    credentials: {{page_id: BENCH_FB_PAGE_{number}, page_access_token: BENCH_FB_TOKEN_{number}}}"]
    return [f"  {account_key(number)}:", "    platform: mastodon", f"    handle: '@force{number}@police.social'",
            f"    credentials: {{access_token: BENCH_MASTODON_TOKEN_{number}}}"]


def generate_plan(folder: Path, platform: str, accounts: int, entries: int) -> Path:
    """A plan of *entries* posts × *accounts* accounts on *platform*, every text distinct."""
    (folder / "posts").mkdir(parents=True, exist_ok=True)
    (folder / "schedules").mkdir(exist_ok=True)
    lines = [PLAN_HEAD.rstrip("\n"), "accounts:"]
    for number in range(accounts):
        lines += account_lines(platform, number)
    lines.append("posts:")
    names = ", ".join(account_key(number) for number in range(accounts))
    for i in range(entries):
        when = f"2027-03-{15 + i % 7} {9 + i // 420:02d}:{(i // 7) % 60:02d}"  # rewritten onto real time later
        lines += [f"  - id: p{i:04d}", f"    accounts: [{names}]", f"    at: '{when}'",
                  (f"    text: 'Check {letters(i)} from {{{{ account }}}}: modern slavery can be hidden anywhere. "
                   "Report concerns on {{ phones.police }}.'")]
    plan = folder / "schedules" / "bench.yaml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return plan


def prepare_store(plan: Path, db: Path, rendered: Any = None) -> Any:
    """render_plan → Store.schedule → Store.approve, into a fresh SQLite file; returns the rendered plan."""
    from campaign.render import render_plan
    from campaign.store import Selection, Store

    rendered = rendered or render_plan(plan)
    assert rendered.ok, [str(problem) for problem in rendered.errors[:5]]
    store = Store.open(str(db))
    try:
        report = store.schedule(rendered, "author@bench.police.uk")
        assert len(report.added) == len(rendered.drafts)
        approved = store.approve(Selection(campaign=CAMPAIGN, everything=True), "approver@bench.police.uk")
        assert len(approved) == len(rendered.drafts)
    finally:
        store.close()
    return rendered


def retime(store: Any, first_due: datetime, spacing: timedelta) -> int:
    """Move the posts' due times onto real time, in key order, as rehearsal.py does (late_after = due + grace)."""
    from sqlalchemy import select, update

    from campaign.store.models import Post, table_columns

    columns = table_columns(Post)
    with store.engine.begin() as connection:
        ids = list(connection.execute(select(columns.id).order_by(columns.key)).scalars())
        for index, post_id in enumerate(ids):
            due = first_due + spacing * index
            connection.execute(update(Post).where(columns.id == post_id)
                               .values(due_at=due, late_after=due + timedelta(minutes=GRACE_MINUTES)))
    return len(ids)


def sandbox_accounts(platform: str, accounts: int) -> tuple[list[Any], dict[str, str]]:
    """One sandbox account per plan account, and the environment the runner is handed (variable → secret)."""
    from campaign.sandbox import SandboxAccount

    made, environ = [], {}
    for number in range(accounts):
        token = f"bench-{platform}-token-{number}-{number * 7919 % 100003:06d}"
        if platform == "facebook":
            made.append(SandboxAccount(
                platform="facebook", handle=facebook_handle(number).replace(" ", ""), user_id=page_id(number),
                display_name=facebook_handle(number), credentials={"page_id": page_id(number), "page_access_token": token},
                scopes=("pages_manage_posts", "pages_read_engagement", "read_insights")))
            environ.update({f"BENCH_FB_PAGE_{number}": page_id(number), f"BENCH_FB_TOKEN_{number}": token})
        else:
            made.append(SandboxAccount(
                platform="mastodon", handle=f"@force{number}@police.social", user_id=str(9000 + number),
                display_name=f"Force {number}", credentials={"access_token": token}, scopes=("read", "write")))
            environ[f"BENCH_MASTODON_TOKEN_{number}"] = token
    return made, environ


def point_at(store: Any, base_url: str | None) -> None:
    from sqlalchemy import update

    from campaign.store.models import AccountRow, table_columns

    with store.engine.begin() as connection:
        connection.execute(update(AccountRow).where(table_columns(AccountRow).campaign_id == CAMPAIGN)
                           .values(api_base=base_url))


def lateness(store: Any) -> dict[str, Any]:
    """Per post: start (its first publish attempt's started_at − due_at) and end-to-end (published_at − due_at)."""
    from sqlalchemy import func, select

    from campaign.store.models import Post, PublishAttempt, table_columns

    def aware(value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    p, a = table_columns(Post), table_columns(PublishAttempt)
    with store.engine.connect() as connection:
        posts = list(connection.execute(select(p.id, p.due_at, p.published_at, p.state)))
        first = dict(connection.execute(select(a.post_id, func.min(a.started_at)).group_by(a.post_id)).all())
    start, end = [], []
    for post_id, due, published, _state in posts:
        if first.get(post_id) is not None:
            start.append((aware(first[post_id]) - aware(due)).total_seconds() * 1000)
        if published is not None:
            end.append((aware(published) - aware(due)).total_seconds() * 1000)
    return {"states": dict(Counter(str(post[3]) for post in posts)), "start_ms": start, "end_ms": end}


def aware_due(store: Any) -> float:
    """The burst's one due instant, in POSIX seconds."""
    from sqlalchemy import func, select

    from campaign.store.models import Post, table_columns

    with store.engine.connect() as connection:
        due: datetime = connection.execute(select(func.min(table_columns(Post).due_at))).scalar_one()
    return (due if due.tzinfo else due.replace(tzinfo=UTC)).timestamp()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_kb() -> int:
    """The process's peak resident memory (VmHWM). Not ru_maxrss: on Linux that survives exec, so a child of a
    parent that rendered 10,000 posts reported the parent's peak as its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def on_platform(sandbox: Any) -> dict[str, Any]:
    """What the sandbox received: posts, how many texts it received more than once, and when each request to
    create a post reached it (POSIX seconds, its own record)."""
    texts = Counter(post.text for post in sandbox.posts())
    arrivals = [r.at.timestamp() for r in sandbox.requests(method="POST")
                if r.path.endswith(("/feed", "/api/v1/statuses"))]
    return {"received": sum(texts.values()), "twice": sum(1 for count in texts.values() if count > 1),
            "arrivals": arrivals}


# -- the sandbox: in this process, or in a process of its own (as a platform is, in production) ----------------


class Platform:
    """The sandbox the runner posts to: its address, and what it received (posts, and texts received twice)."""

    base_url: str | None

    def received(self) -> dict[str, Any]:
        raise NotImplementedError


def tls_environment(folder: Path) -> dict[str, str]:
    """For --tls: a throwaway certificate for 127.0.0.1 written into *folder*, and the environment in which a
    scenario's sandbox serves HTTPS with it and its clients trust it (requests takes REQUESTS_CA_BUNDLE when an
    adapter is made; SSL_CERT_FILE is the default bundle of Python's other TLS clients)."""
    from campaign.sandbox.tls import trusting, write_self_signed_certificate

    certificate, key = write_self_signed_certificate(folder)
    return {SANDBOX_CERTIFICATE: str(certificate), SANDBOX_KEY: str(key), **trusting(certificate)}


def sandbox_tls() -> ssl.SSLContext | None:
    """The TLS context the sandbox serves with: the benchmark's certificate under --tls, none otherwise."""
    certificate = os.environ.get(SANDBOX_CERTIFICATE)
    if certificate is None:
        return None  # before importing cryptography: without --tls the scenarios import what they always did
    from campaign.sandbox.tls import server_context

    return server_context(Path(certificate), Path(os.environ[SANDBOX_KEY]))


@contextmanager
def platform_here(platform: str, accounts: int, latency: float) -> Iterator[Platform]:
    """The sandbox in this process: its CPU (aiohttp answering 200 requests) is counted as ours."""
    from campaign.sandbox import Sandbox, SandboxServer

    made, _ = sandbox_accounts(platform, accounts)
    sandbox = Sandbox(seed=5, latency_ms=latency, accounts=made)
    with SandboxServer(sandbox, ssl_context=sandbox_tls()):
        here = Platform()
        here.base_url = sandbox.base_url
        here.received = lambda: on_platform(sandbox)  # type: ignore[method-assign]
        yield here


@contextmanager
def platform_apart(platform: str, accounts: int, latency: float) -> Iterator[Platform]:
    """The sandbox in a process of its own: its CPU is the platform's, not ours."""
    command = [sys.executable, __file__, "--serve-sandbox", platform, str(accounts), str(latency)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        apart = Platform()
        apart.base_url = process.stdout.readline().strip()

        def received() -> dict[str, Any]:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("report\n")
            process.stdin.flush()
            counts: dict[str, Any] = json.loads(process.stdout.readline())
            return counts

        apart.received = received  # type: ignore[method-assign]
        yield apart
    finally:
        process.kill()
        process.wait()


def serve_sandbox(platform: str, accounts: str, latency: str) -> None:
    """The sandbox process: prints its address, then what it received each time it reads a line."""
    with platform_here(platform, int(accounts), float(latency)) as here:
        print(here.base_url, flush=True)
        for _ in sys.stdin:
            print(json.dumps(here.received()), flush=True)


PLATFORM_PLACES = {"apart": platform_apart, "here": platform_here}


# -- scenarios, each run in a child process -----------------------------------------------------------------


def _run_ours(db: str, platform: str, accounts: int, latency: float, first_due: float,
              spacing_ms: float, where: str = "here", **settings: Any) -> dict[str, Any]:
    """The runner, default settings but *settings*, over *db*: posts due from *first_due* seconds on, *spacing_ms*
    apart, to a sandbox in this process (``here``) or in one of its own (``apart``)."""
    from campaign.publishing import events
    from campaign.publishing.runner import Runner, RunnerSettings
    from campaign.store import Store

    _, environ = sandbox_accounts(platform, accounts)
    store = Store.open(db)
    done = threading.Event()
    settled: list[events.Event] = []
    expected = 0

    def listen(event: events.Event) -> None:
        if isinstance(event, (events.Published, events.Failed, events.Unknown, events.Missed)):
            settled.append(event)
            if len(settled) >= expected:
                done.set()

    with PLATFORM_PLACES[where](platform, accounts, latency) as sandbox:
        point_at(store, sandbox.base_url)
        first = datetime.now(UTC) + timedelta(seconds=first_due)
        expected = retime(store, first, timedelta(milliseconds=spacing_ms))
        runner = Runner(store, RunnerSettings(campaign=CAMPAIGN, **settings), events.EventBus([listen]),
                        environ=environ, name="bench-runner")
        control: list[float] = []
        if spacing_ms:  # the machine's own noise, measured beside: a bare thread waking half-way between posts
            offsets = [timedelta(milliseconds=spacing_ms * (k + 0.5)) for k in range(expected)]
            threading.Thread(target=wake_ups, args=([first + o for o in offsets], control), daemon=True).start()
        began = time.perf_counter()
        runner.start()
        start_call = time.perf_counter() - began
        cpu = cpu_seconds()
        at_instant: list[float] = []  # the CPU spent by then: building adapters, opening connections ahead
        threading.Timer((first - datetime.now(UTC)).total_seconds(),
                        lambda: at_instant.append(cpu_seconds())).start()
        finished = done.wait(first_due + expected * spacing_ms / 1000 + 60)
        cpu_before = (at_instant[0] if at_instant else cpu_seconds()) - cpu
        cpu = cpu_seconds() - cpu
        runner.stop(wait=True)
        received = sandbox.received()
    result = lateness(store)
    store.close()
    late_by = [(event.first_try_late_by_seconds or 0.0) * 1000 for event in settled
               if isinstance(event, events.Published)]
    # All due at one instant (a burst): when each request reached the platform, after that instant.
    received["reached_ms"] = [(at - first.timestamp()) * 1000 for at in received.pop("arrivals")] if not spacing_ms \
        else []
    return {**result, **received, "finished": finished, "start_call_s": start_call, "event_late_ms": late_by,
            "dropped": 0, "cpu_s": cpu, "cpu_before_s": cpu_before, "control_ms": control}


def wake_ups(moments: list[datetime], lateness_ms: list[float]) -> None:
    """Wake at each moment (Event.wait, as APScheduler's thread does) and note how late the wake-up was."""
    event = threading.Event()
    for moment in moments:
        while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
            event.wait(left)
        lateness_ms.append((datetime.now(UTC) - moment).total_seconds() * 1000)


def burst_ours(db: str, platform: str, accounts: int, latency: float, lead: float) -> dict[str, Any]:
    return _run_ours(db, platform, accounts, latency, lead, 0.0, "apart")


def burst_ours_cold(db: str, platform: str, accounts: int, latency: float, lead: float) -> dict[str, Any]:
    return _run_ours(db, platform, accounts, latency, lead, 0.0, "apart", connect_ahead=0.0)


def burst_ours_here(db: str, platform: str, accounts: int, latency: float, lead: float) -> dict[str, Any]:
    return _run_ours(db, platform, accounts, latency, lead, 0.0, "here")


def burst_bare(db: str, platform: str, accounts: int, latency: float, lead: float) -> dict[str, Any]:
    """The reference: the client library alone, one thread per account started and waiting, every account's adapter
    built and its connection opened ahead (``Adapter.connect_ahead``, as the runner does by default), each thread
    publishing its post at the due instant; no store, no scheduler (the sandbox apart). Its CPU is counted from
    the opening on, as the runner's is from its start."""
    from campaign.platforms.base import Outgoing
    from campaign.store import PostState, Store

    _, environ = sandbox_accounts(platform, accounts)
    store = Store.open(db)
    posts = store.posts_in([PostState.APPROVED], CAMPAIGN)
    with platform_apart(platform, accounts, latency) as sandbox:
        point_at(store, sandbox.base_url)
        adapters = built_adapters(store, environ)
        due = datetime.now(UTC) + timedelta(seconds=lead)
        heard: list[float] = []
        lock = threading.Lock()
        go = threading.Event()

        def publish(post: Any) -> None:
            adapters[post.account].connect_ahead(timeout=lead / 3)
            go.wait()
            adapters[post.account].publish(Outgoing(text=post.text, idempotency_key=post.key))
            with lock:
                heard.append((datetime.now(UTC) - due).total_seconds() * 1000)

        threads = [threading.Thread(target=publish, args=(post,)) for post in posts]
        cpu = cpu_seconds()
        for thread in threads:
            thread.start()
        wake_ups([due], [])
        cpu_before = cpu_seconds() - cpu
        go.set()  # one wake-up for all: the threads have nothing else to do
        for thread in threads:
            thread.join()
        cpu = cpu_seconds() - cpu
        received = sandbox.received()
        # The same requests one after another on one thread: what one request (its send and its answer) costs the
        # client library, with no other thread to hand the interpreter to.
        serial = cpu_seconds()
        for number, adapter in enumerate(adapters.values()):
            adapter.publish(Outgoing(text=f"One after another {letters(number)}: report concerns on 101.",
                                     idempotency_key=f"serial-{number}"))
        serial = (cpu_seconds() - serial) / len(adapters)
        for adapter in adapters.values():
            adapter.close()
    store.close()
    return {"states": {"published": len(heard)}, "start_ms": [], "end_ms": heard, "finished": True, "dropped": 0,
            "event_late_ms": [], "cpu_s": cpu, "cpu_before_s": cpu_before, "received": received["received"],
            "twice": received["twice"],
            "reached_ms": [(at - due.timestamp()) * 1000 for at in received["arrivals"]], "serial_cpu_s": serial}


def built_adapters(store: Any, environ: dict[str, str]) -> dict[str, Any]:
    """Every account's adapter, made before anything is due."""
    from campaign.platforms import PLATFORMS, adapter_class
    from campaign.platforms.base import AccountConfig
    from campaign.platforms.credentials import resolve_credentials

    adapters = {}
    for row in store.accounts(CAMPAIGN):
        credentials = resolve_credentials(PLATFORMS[row.platform], json.loads(row.credentials), environ)
        adapters[row.key] = adapter_class(row.platform)(AccountConfig(
            platform=row.platform, handle=row.handle, credentials=credentials, api_base=row.api_base))
    return adapters


def burst_apscheduler(db: str, platform: str, accounts: int, latency: float, lead: float) -> dict[str, Any]:
    """APScheduler 3.x with its defaults; each job does for its post what the runner does (the sandbox apart)."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    from campaign.platforms.base import Outgoing
    from campaign.store import PostState, Store

    _, environ = sandbox_accounts(platform, accounts)
    store = Store.open(db)
    outcomes: Counter[str] = Counter()
    done = threading.Event()
    lock = threading.Lock()
    expected = 0

    with platform_apart(platform, accounts, latency) as sandbox:
        point_at(store, sandbox.base_url)
        # Built before anything is due, like the runner's: the baseline pays nothing for them at the due instant.
        adapters = built_adapters(store, environ)

        def job(post_id: int) -> None:
            post = store.claim_post(post_id, BASELINE_NAME, datetime.now(UTC), LEASE)
            if post is None:
                return
            if not store.arm(post_id, BASELINE_NAME, datetime.now(UTC), LEASE):
                store.release(post_id, BASELINE_NAME, "paused")
                return
            started = datetime.now(UTC)
            try:
                receipt = adapters[post.account].publish(Outgoing(
                    text=post.text, idempotency_key=f"{post.campaign_id}:{post.key}:{post.content_hash[:16]}"))
            except Exception as exc:  # noqa: BLE001 - recorded, as the runner does
                store.record_attempt(post_id, BASELINE_NAME, started, "failed", repr(exc), datetime.now(UTC))
                store.record_failed(post_id, BASELINE_NAME, repr(exc))
                return
            store.record_attempt(post_id, BASELINE_NAME, started, "published", receipt.url, datetime.now(UTC))
            store.record_published(post_id, BASELINE_NAME, receipt.remote_id, receipt.url)

        def listen(event: Any) -> None:
            kind = {EVENT_JOB_MISSED: "missed", EVENT_JOB_EXECUTED: "executed", EVENT_JOB_ERROR: "error"}[event.code]
            with lock:
                outcomes[kind] += 1
                if sum(outcomes.values()) >= expected:
                    done.set()

        expected = retime(store, datetime.now(UTC) + timedelta(seconds=lead), timedelta(0))
        scheduler = BackgroundScheduler()  # the defaults: ThreadPoolExecutor(10), misfire_grace_time=1, coalesce
        scheduler.add_listener(listen, EVENT_JOB_MISSED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start()
        for post in store.posts_in([PostState.APPROVED], CAMPAIGN):
            scheduler.add_job(job, "date", run_date=post.due_at, args=[post.id], id=f"post-{post.id}")
        cpu = cpu_seconds()
        finished = done.wait(lead + 60)
        cpu = cpu_seconds() - cpu
        scheduler.shutdown(wait=True)
        for adapter in adapters.values():
            adapter.close()
        received = sandbox.received()
        due = aware_due(store)
    result = lateness(store)
    store.close()
    received["reached_ms"] = [(at - due) * 1000 for at in received.pop("arrivals")]
    return {**result, **received, "finished": finished, "dropped": outcomes["missed"], "errors": outcomes["error"],
            "event_late_ms": [], "cpu_s": cpu}


def precision(db: str, platform: str, accounts: int, spacing_ms: float, lead: float) -> dict[str, Any]:
    return _run_ours(db, platform, accounts, 0.0, lead, spacing_ms)


def idle(db: str, platform: str, accounts: int, seconds: float) -> dict[str, Any]:
    from sqlalchemy import func, select

    from campaign.publishing.runner import Runner, RunnerSettings
    from campaign.store import PostState, Store
    from campaign.store.models import Post, table_columns

    imported_kb = peak_kb()
    _, environ = sandbox_accounts(platform, accounts)  # the credentials exist, as they would in production
    store = Store.open(db)
    runner = Runner(store, RunnerSettings(campaign=CAMPAIGN), environ=environ, name="bench-idle")
    began_wall, began_cpu = time.perf_counter(), cpu_seconds()
    runner.start()
    start_wall, start_cpu = time.perf_counter() - began_wall, cpu_seconds() - began_cpu
    wall, cpu = time.perf_counter(), cpu_seconds()
    time.sleep(seconds)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    peak = peak_kb()
    alarms = sum(1 for job in runner.scheduler.get_jobs() if job.id.startswith("post-"))
    threads = threading.active_count()
    refreshes = 5  # one refresh alone (what the 15 s interval job does), averaged
    refresh_wall, refresh_cpu = time.perf_counter(), cpu_seconds()
    for _ in range(refreshes):
        runner.refresh()
    refresh_wall, refresh_cpu = (time.perf_counter() - refresh_wall) / refreshes, (cpu_seconds() - refresh_cpu) / refreshes
    runner.stop(wait=True)
    with store.engine.connect() as connection:
        columns = table_columns(Post)
        held = connection.execute(select(func.count()).select_from(Post).where(
            columns.state == PostState.APPROVED, columns.due_at > datetime.now(UTC))).scalar()
    store.close()
    return {"wall": wall, "cpu": cpu, "start_wall": start_wall, "start_cpu": start_cpu, "alarms": alarms,
            "threads": threads, "posts": held, "peak_kb": peak, "imported_kb": imported_kb,
            "refresh_wall": refresh_wall, "refresh_cpu": refresh_cpu}


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "burst-ours": burst_ours, "burst-ours-cold": burst_ours_cold, "burst-ours-here": burst_ours_here,
    "burst-bare": burst_bare,
    "burst-apscheduler": burst_apscheduler,
    "precision": precision, "idle": idle}


def child(name: str, arguments: list[str]) -> None:
    db, platform, accounts, *numbers = arguments
    print(json.dumps(SCENARIOS[name](db, platform, int(accounts), *map(float, numbers))))


def run_child(name: str, *arguments: object, environment: dict[str, str]) -> dict[str, Any]:
    """Run scenario *name* in a fresh process, its environment this one's and *environment*."""
    command = [sys.executable, __file__, "--child", name, *map(str, arguments)]
    output = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ | environment)
    if output.returncode != 0:
        raise SystemExit(f"{name} failed:\n{output.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


# -- printing ----------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float]) -> str:
    if not values:
        return "—"
    digits = 0 if max(values) >= 100 else 1
    return f"{percentile(values, 0.5):5.{digits}f} /{percentile(values, 0.99):5.{digits}f} /{max(values):5.{digits}f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose start p99 is the median of the runs' (the upper one of two)."""
    ordered = sorted(runs, key=lambda run: percentile(run["start_ms"], 0.99) if run["start_ms"] else math.inf)
    return ordered[len(ordered) // 2]


def print_burst(options: argparse.Namespace, ours_runs: list[dict[str, Any]], aps_runs: list[dict[str, Any]],
                cold_runs: list[dict[str, Any]], here_runs: list[dict[str, Any]],
                bare_runs: list[dict[str, Any]]) -> None:
    n, latency = options.posts, options.latency
    served = "HTTPS (a self-signed certificate the clients trust)" if options.tls else "plain HTTP"
    print(f"burst: {n} posts, one on each of {n} {LABELS[options.platform]} accounts, all due at the same instant; "
          f"sandbox latency {latency:.0f} ms, served over {served}, in a process of its own unless said")
    print(f"  {'':36}{'published':>10}{'dropped':>8}{'received':>9}   {'reached ms p50/p99/max':>25}"
          f"   {'end-to-end ms p50/p99/max':>25}{'CPU/post':>10}")
    rows = ([("runner (ours)", run) for run in ours_runs]
            + [("runner, no connection opened ahead", run) for run in cold_runs]
            + [("runner, sandbox in-process", run) for run in here_runs]
            + [("client library alone, opened ahead", run) for run in bare_runs]
            + [("APScheduler defaults (pool of 10)", run) for run in aps_runs])
    for label, run in rows:
        published = run["states"].get("published", 0)
        cpu = run["cpu_s"] / max(1, published) * 1000
        print(f"  {label:36}{published:>6}/{n:<3}{run['dropped']:>8}{run['received']:>9}   {spread(run['reached_ms']):>25}"
              f"   {spread(run['end_ms']):>25}{cpu:>8.1f}ms")
    ours, aps = median_run(ours_runs), median_run(aps_runs)
    if len(ours_runs) > 1:
        print(f"  (ratios below: the median of {len(ours_runs)} runs of each, by start p99)")
    for label, run in (("ours", ours), ("APScheduler", aps)):
        left = {state: count for state, count in run["states"].items() if state != "published"}
        if left or run["twice"] or not run["finished"]:
            print(f"  {label}: not published {left}, received twice by the sandbox {run['twice']}, "
                  f"all settled: {run['finished']}")
    all_out = ours["states"].get("published", 0) == n and ours["twice"] == 0
    start_ratio = percentile(ours["reached_ms"], 0.99) / latency
    end_ratio = percentile(ours["end_ms"], 0.99) / latency
    print("  (reached: when each post's request reached the platform, after the due instant, by the sandbox's own "
          "record; the runner's own start of each attempt, when it was claimed and armed, is earlier: ours p99 "
          f"{percentile(ours['start_ms'], 0.99):.0f} ms, APScheduler {percentile(aps['start_ms'], 0.99):.0f} ms)")
    if ours["event_late_ms"]:
        print(f"  ours: runner.start() took {ours['start_call_s'] * 1000:.0f} ms, {options.lead:.0f} s before the due "
              "instant")
    print(f"  start (reached) p99 ÷ latency, ours : {start_ratio:5.2f}   (goal ≤ 1.5)  "
          f"{verdict(start_ratio <= 1.5 and all_out)}")
    print(f"  end-to-end p99 ÷ latency, ours      : {end_ratio:5.2f}   (goal ≤ 2.0)  "
          f"{verdict(end_ratio <= 2.0 and all_out)}")
    here = median_run(here_runs)
    cpu = ours["cpu_s"] / max(1, ours["states"].get("published", 0)) * 1000
    cpu_here = here["cpu_s"] / max(1, here["states"].get("published", 0)) * 1000
    before = ours["cpu_before_s"] / max(1, ours["states"].get("published", 0)) * 1000
    print(f"  CPU per published post, ours        : {cpu:5.2f} ms  (goal ≤ 2 ms)  {verdict(cpu <= 2.0)}   "
          f"({before:.2f} ms of it before the instant, {cpu - before:.2f} ms from it on; the runner and the client "
          f"library; with the sandbox in-process, its aiohttp too: {cpu_here:.2f} ms, end-to-end p99 ÷ latency "
          f"{percentile(here['end_ms'], 0.99) / latency:.2f})")
    cold = median_run(cold_runs)
    cpu_cold = cold["cpu_s"] / max(1, cold["states"].get("published", 0)) * 1000
    print(f"  connections opened ahead, ÷ not    : end-to-end p99 "
          f"{percentile(ours['end_ms'], 0.99) / percentile(cold['end_ms'], 0.99):.2f}×, reached p99 "
          f"{percentile(ours['reached_ms'], 0.99) / percentile(cold['reached_ms'], 0.99):.2f}×, CPU "
          f"{cpu / cpu_cold:.2f}× those of the runner opening them at the instant (CPU {cpu_cold:.2f} ms, "
          f"end-to-end p99 ÷ latency {percentile(cold['end_ms'], 0.99) / latency:.2f})")
    bare = median_run(bare_runs)
    cpu_bare = bare["cpu_s"] / max(1, bare["states"]["published"]) * 1000
    bare_before = bare["cpu_before_s"] / max(1, bare["states"]["published"]) * 1000
    serial = bare["serial_cpu_s"] * 1000
    print(f"  the floor: the client library alone: {cpu_bare:5.2f} ms CPU per post ({bare_before:.2f} of it opening its "
          f"connection ahead), from {n} threads released at once; reached p99 ÷ latency "
          f"{percentile(bare['reached_ms'], 0.99) / latency:.2f}, end-to-end p99 ÷ latency "
          f"{percentile(bare['end_ms'], 0.99) / latency:.2f}; ours ÷ it: CPU {cpu / cpu_bare:.2f}×, end-to-end p99 "
          f"{percentile(ours['end_ms'], 0.99) / percentile(bare['end_ms'], 0.99):.2f}×")
    print(f"  the client library, serially        : {serial:5.2f} ms CPU per request (send and answer) one after "
          f"another on one thread; {n} of them are {serial * n:.0f} ms of the one core a Python process runs on "
          f"({serial * n / latency:.2f} latencies), spent between the due instant and the last answer; "
          f"ours ÷ it: CPU {cpu / serial:.2f}×")
    aps_published = aps["states"].get("published", 0)
    print(f"  published, ours ÷ APScheduler       : {ours['states'].get('published', 0) / max(1, aps_published):5.2f}×"
          f"  ({ours['states'].get('published', 0)} vs {aps_published}: APScheduler dropped {aps['dropped']} as "
          "misfired, with no error and no retry)")
    if aps["reached_ms"]:
        print(f"  reached p99, APScheduler ÷ ours     : "
              f"{percentile(aps['reached_ms'], 0.99) / percentile(ours['reached_ms'], 0.99):5.2f}×  "
              f"(of the {aps_published} it did publish)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200, help="burst: posts, one per account (200)")
    parser.add_argument("--latency", type=float, default=200, help="burst: sandbox latency in ms (200)")
    parser.add_argument("--precision-posts", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=200, help="precision: ms between posts (200)")
    parser.add_argument("--idle-posts", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--platform", choices=sorted(LABELS), default="facebook",
                        help="the accounts' platform (facebook; Mastodon.py costs about 3× its CPU per request)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of the burst (each of the two, alternating) and of precision; the median counts (1)")
    parser.add_argument("--lead", type=float, default=6.0,
                        help="seconds from starting to the first due post (6: the runner opens connections 3 s ahead)")
    parser.add_argument("--tls", action="store_true",
                        help="serve the sandbox over HTTPS with a throwaway self-signed certificate the clients trust")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 + 20 posts, 2,000 idle for 5 s")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--serve-sandbox", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_sandbox:
        serve_sandbox(*options.serve_sandbox)
        return
    if options.child:
        child(options.child[0], options.child[1:])
        return
    if options.quick:
        options.posts, options.precision_posts, options.idle_posts, options.idle_seconds = 40, 20, 2_000, 5.0
    platform = options.platform
    with tempfile.TemporaryDirectory(prefix="campaign-bench-runner-") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        burst_plan = generate_plan(folder / "burst", platform, options.posts, 1)
        rendered = prepare_store(burst_plan, folder / "burst.db")
        for run in range(options.repeat):
            for kind in ("ours", "cold", "here", "bare", "apscheduler"):
                (folder / f"{kind}-{run}.db").write_bytes((folder / "burst.db").read_bytes())
        prepare_store(generate_plan(folder / "precision", platform, PRECISION_ACCOUNTS,
                                    math.ceil(options.precision_posts / PRECISION_ACCOUNTS)), folder / "precision.db")
        prepare_store(generate_plan(folder / "idle", platform, IDLE_ACCOUNTS,
                                    math.ceil(options.idle_posts / IDLE_ACCOUNTS)), folder / "idle.db")
        from campaign.store import Store

        store = Store.open(str(folder / "idle.db"))
        # Due evenly over the coming week, the first one after the measurement: nothing fires.
        idle_posts = retime(store, datetime.now(UTC) + timedelta(seconds=options.idle_seconds + 300),
                            timedelta(days=7) / max(1, options.idle_posts))
        store.close()
        child_environment = tls_environment(folder / "tls") if options.tls else {}
        setup = time.perf_counter() - began
        print(f"setup: {len(rendered.drafts) + options.precision_posts + idle_posts:,} posts rendered, scheduled and "
              f"approved through the real path in {setup:.0f} s; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores (other work shares the machine: the burst is CPU-bound and feels it)")

        ours_runs, aps_runs, cold_runs, here_runs, bare_runs = [], [], [], [], []
        for run in range(options.repeat):  # alternating, each in a fresh process on a fresh copy of the store
            aps_runs.append(run_child("burst-apscheduler", folder / f"apscheduler-{run}.db", platform, options.posts,
                                      options.latency, options.lead, environment=child_environment))
            ours_runs.append(run_child("burst-ours", folder / f"ours-{run}.db", platform, options.posts,
                                       options.latency, options.lead, environment=child_environment))
            cold_runs.append(run_child("burst-ours-cold", folder / f"cold-{run}.db", platform, options.posts,
                                       options.latency, options.lead, environment=child_environment))
            here_runs.append(run_child("burst-ours-here", folder / f"here-{run}.db", platform, options.posts,
                                       options.latency, options.lead, environment=child_environment))
            bare_runs.append(run_child("burst-bare", folder / f"bare-{run}.db", platform, options.posts,
                                       options.latency, options.lead, environment=child_environment))
        print_burst(options, ours_runs, aps_runs, cold_runs, here_runs, bare_runs)

        print(f"precision: {options.precision_posts} single posts {options.spacing:.0f} ms apart on "
              f"{PRECISION_ACCOUNTS} accounts, sandbox latency 0")
        runs = []
        for run in range(options.repeat):
            (folder / f"precision-{run}.db").write_bytes((folder / "precision.db").read_bytes())
            runs.append(run_child("precision", folder / f"precision-{run}.db", platform, PRECISION_ACCOUNTS,
                                  options.spacing, 2.0, environment=child_environment))
            print(f"  start late ms p50/p99/max           : {spread(runs[-1]['start_ms']):>20}   "
                  f"({len(runs[-1]['start_ms'])} published)")
            print(f"    end-to-end ms p50/p99/max         : {spread(runs[-1]['end_ms']):>20}")
            print(f"    control: a bare thread's wake-ups : {spread(runs[-1]['control_ms']):>20}   (the machine's "
                  "own noise, measured beside, half-way between posts)")
        precise = median_run(runs)
        count, p99 = len(precise["start_ms"]), percentile(precise["start_ms"], 0.99)
        label = "start p99, the median run" if len(runs) > 1 else "start p99"
        print(f"  {label:36}: {p99:5.1f} ms   "
              f"(goal ≤ 20 ms)  {verdict(p99 <= 20 and count == options.precision_posts and precise['twice'] == 0)}")

        quiet = run_child("idle", folder / "idle.db", platform, IDLE_ACCOUNTS, options.idle_seconds,
                          environment=child_environment)
    share = quiet["cpu"] / quiet["wall"] * 100
    peak_mb = quiet["peak_kb"] / 1024
    print(f"idle: a runner holding {quiet['posts']:,} approved future posts for {quiet['wall']:.0f} s, default "
          f"settings ({int(quiet['wall'] // 15)} refreshes in the window)")
    print(f"  alarms set (the first hour's posts) : {quiet['alarms']}   threads: {quiet['threads']}")
    print(f"  start()                             : {quiet['start_wall'] * 1000:.0f} ms wall, "
          f"{quiet['start_cpu'] * 1000:.0f} ms CPU")
    print(f"  one refresh, alone                  : {quiet['refresh_wall'] * 1000:.1f} ms wall, "
          f"{quiet['refresh_cpu'] * 1000:.1f} ms CPU")
    print(f"  CPU ÷ wall after start              : {share:.3f} % of a core ({quiet['cpu'] * 1000:.0f} ms CPU in "
          f"{quiet['wall']:.1f} s)   (goal ≤ 1 %)  {verdict(share <= 1)}")
    print(f"  peak RSS                            : {peak_mb:.0f} MB (after imports: {quiet['imported_kb'] / 1024:.0f} MB)"
          f"   (goal ≤ 200 MB)  {verdict(peak_mb <= 200)}")


if __name__ == "__main__":
    main()
