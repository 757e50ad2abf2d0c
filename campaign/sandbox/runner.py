"""Running the sandbox: in a background thread (tests, demos) or in the foreground (the CLI).

In-process use::

    with running(Sandbox(seed=7)) as sandbox:
        config = sandbox.account_config("x")      # points an adapter at sandbox.base_url
        ...
        sandbox.posts("x")                        # what was published

The server gets its own event loop in its own thread, so a request the sandbox leaves hanging, or
an injected latency, holds no thread of the caller's. Both ways serve through
:class:`campaign.sandbox.transport.Listener`, so a ``down`` fault closes the port and reopens it on the
same port when its time is up.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from campaign.sandbox.core import Sandbox
from campaign.sandbox.server import build_app
from campaign.sandbox.transport import BackgroundServer, Listener


class SandboxServer(BackgroundServer):
    """A sandbox served over HTTP from a background thread (over HTTPS, given *ssl_context*)."""

    thread_name = "campaign-sandbox"

    def __init__(
        self,
        sandbox: Sandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host, port, access_log=access_log, ssl_context=ssl_context)
        self.sandbox = sandbox

    def build(self) -> web.Application:
        return build_app(self.sandbox)

    def on_started(self, base_url: str) -> None:
        self.sandbox.base_url = base_url

    def on_stopped(self) -> None:
        self.sandbox.base_url = None


@contextmanager
def running(sandbox: Sandbox | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[Sandbox]:
    """Serve *sandbox* (a fresh one with the demo accounts by default) for the duration of a ``with``."""
    sandbox = sandbox or Sandbox()
    server = SandboxServer(sandbox, host, port)
    server.start()
    try:
        yield sandbox
    finally:
        server.stop()


async def serve_forever(
    sandbox: Sandbox, host: str, port: int, *, access_log: bool = True, ready: asyncio.Event | None = None
) -> None:
    """Serve in the current event loop until cancelled (the CLI runs this with ``asyncio.run``)."""
    listener = Listener(build_app(sandbox), host, port, access_log=access_log)
    try:
        sandbox.base_url = await listener.start()
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await listener.stop()
