"""`campaign serve` as a person starts it: the installed command in its own process, refusing in one line
what cannot work, and with several workers that share one session secret."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests import desk_fixtures
from tests.desk_fixtures import CAMPAIGN, DeskRun, free_port, serving

CAMPAIGN_COMMAND = Path(sys.executable).parent / "campaign"
sqlite_desk = desk_fixtures.sqlite_desk


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CAMPAIGN_DESK_", "CAMPAIGN_OIDC_", "CAMPAIGN_DB"))}
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"), **extra}


def run_serve(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CAMPAIGN_COMMAND), "serve", *args], capture_output=True, text=True, timeout=60,
                          env=environment(tmp_path, **extra), check=False)


@contextmanager
def served(tmp_path: Path, *args: str, **extra: str) -> Iterator[str]:
    """`campaign serve ARGS` running in its own process group until the block ends; yields its URL."""
    port = free_port()
    process = subprocess.Popen([str(CAMPAIGN_COMMAND), "serve", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env=environment(tmp_path, **extra))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "campaign serve did not start listening"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_serve_refuses_a_store_without_users_in_one_line(tmp_path: Path) -> None:
    """Started on a store nobody could sign in to, `campaign serve` exits 1 with one line saying to add an admin
    first, and how."""
    result = run_serve(tmp_path, "--db", str(tmp_path / "campaign.db"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "add an admin first: `campaign users add LOGIN --name 'Your Name' --role admin --password`" in lines[0]


def test_serve_refuses_a_port_in_use_and_a_short_secret_in_one_line(sqlite_desk: DeskRun, tmp_path: Path) -> None:
    """A port something else listens on, and a $CAMPAIGN_DESK_SECRET too short to sign sessions safely, are each
    refused before starting, in one line."""
    db = sqlite_desk.store_url.removeprefix("sqlite:///")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_serve(tmp_path, "--db", db, "--port", port)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "choose another --port" in result.stderr
    result = run_serve(tmp_path, "--db", db, CAMPAIGN_DESK_SECRET="short")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "$CAMPAIGN_DESK_SECRET is shorter than 32 characters" in result.stderr


def test_several_workers_share_the_session_secret_kept_in_a_private_file_beside_the_store(
        sqlite_desk: DeskRun, tmp_path: Path) -> None:
    """`campaign serve --workers 2` makes the session secret once, in `desk-secret` beside the SQLite store,
    readable by its owner only; a person signed in stays signed in on every request, each on a new connection
    (so the kernel hands them to either worker), and no answer names the server."""
    db = Path(sqlite_desk.store_url.removeprefix("sqlite:///"))
    secret = db.parent / "desk-secret"
    assert not secret.exists()
    with served(tmp_path, "--workers", "2", "--db", str(db)) as url:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        browser = desk_fixtures.Browser(httpx.Client(base_url=url, limits=httpx.Limits(max_keepalive_connections=0)))
        assert browser.sign_in("jo").status_code == 303
        for _ in range(20):
            answer = browser.get("/status", params={"campaign": CAMPAIGN})
            assert answer.status_code == 200, answer.headers.get("location")
            assert "server" not in answer.headers
    first = secret.read_text(encoding="ascii")
    with served(tmp_path, "--db", str(db)):
        pass
    assert secret.read_text(encoding="ascii") == first  # made once, then kept


def test_the_login_page_offers_single_sign_on_when_it_is_configured(sqlite_desk: DeskRun,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With single sign-on configured (CAMPAIGN_OIDC_*), the desk includes its pages and the login page links to
    "Sign in with your organisation"; without it, there is no such link."""
    assert "Sign in with your organisation" not in sqlite_desk.browser().get("/login").text
    monkeypatch.setenv("CAMPAIGN_OIDC_ISSUER", "http://127.0.0.1:9/realms/force")
    monkeypatch.setenv("CAMPAIGN_OIDC_CLIENT_ID", "desk")
    monkeypatch.setenv("CAMPAIGN_OIDC_CLIENT_SECRET", "a client secret")
    with serving(sqlite_desk.store_url) as url:
        page = httpx.get(f"{url}/login").text
    assert '<a href="/login/sso" id="sso-login">Sign in with your organisation</a>' in page
