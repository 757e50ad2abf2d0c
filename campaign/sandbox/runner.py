"""Running the sandbox: in a background thread (tests, demos) or in the foreground (the CLI).

In-process use::

    with running(Sandbox(seed=7)) as sandbox:
        config = sandbox.account_config("x")      # points an adapter at sandbox.base_url
        ...
        sandbox.posts("x")                        # what was published

The server gets its own event loop in its own thread, so a request the sandbox leaves hanging, or
an injected latency, holds no thread of the caller's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from aiohttp import web

from campaign.sandbox.core import Sandbox
from campaign.sandbox.server import STOPPING_KEY, AccessLogger, build_app

log = logging.getLogger("campaign.sandbox")

SHUTDOWN_SECONDS = 1.0
START_SECONDS = 10.0


class SandboxServer:
    """A sandbox served over HTTP from a background thread."""

    def __init__(
        self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False
    ) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self.access_log = access_log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        if self.sandbox.base_url is None:
            raise RuntimeError("the sandbox server has not started")
        return self.sandbox.base_url

    def start(self) -> str:
        """Start serving; returns the base URL (``http://127.0.0.1:PORT``)."""
        self._thread = threading.Thread(target=self._run, name="campaign-sandbox", daemon=True)
        self._thread.start()
        if not self._started.wait(START_SECONDS):
            raise RuntimeError("the sandbox server did not start within 10 seconds")
        if self._error is not None:
            raise RuntimeError(f"the sandbox server could not start: {self._error}") from self._error
        return self.base_url

    def stop(self) -> None:
        """Stop serving, releasing requests left hanging; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(SHUTDOWN_SECONDS + 5)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(SHUTDOWN_SECONDS + 5)
        self._loop = self._thread = None
        self.sandbox.base_url = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread
            self._error = error
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        self._app = build_app(self.sandbox)
        access = logging.getLogger("campaign.sandbox.access") if self.access_log else None
        self._runner = web.AppRunner(
            self._app, access_log_class=AccessLogger, access_log=access, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self.sandbox.base_url = f"http://{shown}:{port}"

    async def _shutdown(self) -> None:
        if self._app is not None:
            self._app[STOPPING_KEY].set()
        if self._runner is not None:
            await self._runner.cleanup()


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
    app = build_app(sandbox)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("campaign.sandbox.access") if access_log else None,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        sandbox.base_url = f"http://{bound_host}:{bound_port}"
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        app[STOPPING_KEY].set()
        await runner.cleanup()
