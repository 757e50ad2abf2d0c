"""The client libraries' sessions read the environment once (campaign/platforms/sessions.py), and what it says
still holds: a proxy named by the environment carries the platform requests, and ``NO_PROXY`` still bypasses it.

The proxy here is real: an HTTP forward proxy on a free port that records each request line and forwards it to
the sandbox."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from campaign.platforms import adapter_class
from campaign.platforms.base import Outgoing
from campaign.sandbox import Sandbox

REQUESTS_PLATFORMS = ("facebook", "mastodon")
"""The adapters whose client library is built on requests and talks plain HTTP to the sandbox (X's requests go
to X's own https origins, redirected to the sandbox by a mounted adapter)."""


class ForwardProxy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def _forward(self) -> None:
        ForwardProxy.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        connection = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.request(self.command, path, body=body or None, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        connection.close()

    do_GET = do_POST = _forward

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    ForwardProxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("platform", REQUESTS_PLATFORMS)
def test_a_proxy_named_by_the_environment_carries_the_post(
    sandbox: Sandbox, proxy: str, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY set before the adapter is made: the create request goes through the proxy (its request line
    names the sandbox's address), and the post is published."""
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with adapter_class(platform)(sandbox.account_config(platform)) as adapter:
        receipt = adapter.publish(Outgoing("Through the force's proxy: report concerns on 101."))
    assert [p.id for p in sandbox.posts(platform)] == [receipt.remote_id]
    assert any(line.startswith(f"POST {sandbox.base_url}") for line in ForwardProxy.seen), ForwardProxy.seen


@pytest.mark.parametrize("platform", REQUESTS_PLATFORMS)
def test_no_proxy_still_bypasses_the_proxy(
    sandbox: Sandbox, proxy: str, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY naming the platform's host: the request goes straight to it, the proxy sees nothing."""
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with adapter_class(platform)(sandbox.account_config(platform)) as adapter:
        receipt = adapter.publish(Outgoing("Straight to the platform: report concerns on 101."))
    assert [p.id for p in sandbox.posts(platform)] == [receipt.remote_id]
    assert ForwardProxy.seen == []
