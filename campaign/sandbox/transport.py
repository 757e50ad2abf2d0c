"""Transport faults: what real servers do to a connection, played in one place for the sandbox and the proxy.

Platform faults (a 429, a Graph error JSON) are answers, and each platform module shapes its own. The
faults here are the same for every server, because they happen below the answer:

``lose_reply``          the request is handled (a post IS created), then the connection is cut before a
                        byte of the reply is written: the client sees the remote end disconnect after sending.
``slow_reply``          the request is handled, then answered only after ``seconds`` (default 15 s, past the
                        clients' usual 10 s timeout): the client times out while the post exists.
``down``                from the moment it fires, the server refuses TCP connections for ``seconds`` (default
                        30 s): the listening socket is closed (a real ``ECONNREFUSED``, not a 503 or a reset)
                        and reopened on the same port afterwards. Open connections are closed too, the firing
                        request's among them, unanswered and unhandled: a dead server answers nothing.
``ignore_idempotency``  the request is handled as if it carried no ``Idempotency-Key`` header.
``hang``                the request is never answered, until the client gives up or the server stops.

The option ``down=S`` on any rule takes the server down for S seconds once the rule has played its part
(answered, lost or delayed the reply): ``x:POST /2/tweets:lose_reply:times=1,down=30`` creates the post,
loses the reply, and leaves the server down for 30 s.

:func:`play` applies a rule to one request, given how to handle it (the sandbox's platform handler, or the
proxy's forwarding) and how to refuse it (a platform's error answer). :class:`Listener` serves an aiohttp
application on one port and can go down and come back on that port; :class:`BackgroundServer` runs a
listener in a thread of its own. :class:`campaign.sandbox.runner.SandboxServer` and
:class:`campaign.sandbox.proxy.FaultProxy` are both built from these, so the sandbox and the proxy play
the same faults with the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Self

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger, AbstractStreamWriter
from multidict import CIMultiDict

from campaign.sandbox.faults import TRANSPORT_FAULTS, FaultRule

log = logging.getLogger("campaign.sandbox")

DEFAULT_SLOW_SECONDS = 15.0
"""``slow_reply`` without ``seconds=``: longer than the clients' usual 10 s timeout."""
DEFAULT_DOWN_SECONDS = 30.0
"""``down`` without ``seconds=``."""
CONNECTION_FAULTS = (*TRANSPORT_FAULTS, "hang")
"""Faults that need no platform to answer: the ones a proxy in front of any server can play."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
HOLD_POLL_SECONDS = 0.05
SHUTDOWN_SECONDS = 1.0
START_SECONDS = 10.0
REOPEN_ATTEMPTS = 50
REOPEN_RETRY_SECONDS = 0.1

STOPPING_KEY = web.AppKey("stopping", asyncio.Event)
"""Set when the server stops: requests held by ``hang`` or ``slow_reply`` are released at once."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Refuse = Callable[[FaultRule, web.Request], web.StreamResponse]


class NoAnswer(web.StreamResponse):
    """What a server "answers" when it answers nothing: the connection is cut before a byte is written.

    aiohttp treats the :class:`ConnectionResetError` raised while preparing it as a client that went away:
    nothing is written and nothing is logged as an error.
    """

    def __init__(self, handled: int | None) -> None:
        super().__init__()
        self.handled = handled
        """The status the server decided on before the reply was lost (``None``: nothing was handled)."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        drop(request)
        raise ConnectionResetError("the fault layer cut the connection without an answer")


def status_of(response: web.StreamResponse) -> int | None:
    """The status to record for *response*: what the server decided, ``None`` when it handled nothing."""
    return response.handled if isinstance(response, NoAnswer) else response.status


def drop(request: web.BaseRequest) -> None:
    """Cut *request*'s connection at once, without flushing anything."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.abort()


def without_idempotency(request: web.Request) -> web.Request:
    """*request* as a server that ignores ``Idempotency-Key`` sees it."""
    headers = CIMultiDict(request.headers)
    headers.popall(IDEMPOTENCY_HEADER, None)
    return request.clone(headers=headers)


async def hold(request: web.Request) -> None:
    """Keep the request open until the client goes away or the server stops."""
    stopping = request.app.get(STOPPING_KEY) or asyncio.Event()
    while not stopping.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), HOLD_POLL_SECONDS)


async def pause(request: web.Request, seconds: float) -> None:
    """Wait *seconds*, or less if the server stops meanwhile."""
    stopping = request.app.get(STOPPING_KEY)
    if stopping is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def play(
    request: web.Request, rule: FaultRule | None, handle: Handler, refuse: Refuse
) -> web.StreamResponse:
    """Answer *request* as *rule* says (or normally, without a rule).

    *handle* handles a request for real (creating the post); *refuse* gives a platform's answer for a
    rule that is not a transport fault (``rate_limit``, ...), and the answer after a ``hang``.
    The result may be a :class:`NoAnswer`; :func:`status_of` says what to record.
    """
    if rule is None:
        return await handle(request)
    if rule.kind == "down":
        await go_down(request, rule.seconds or rule.down or DEFAULT_DOWN_SECONDS)
        return NoAnswer(None)
    response: web.StreamResponse
    if rule.kind == "ignore_idempotency":
        response = await handle(without_idempotency(request))
    elif rule.kind == "lose_reply":
        response = NoAnswer(status_of(await handle(request)))
        drop(request)
    elif rule.kind == "slow_reply":
        response = await handle(request)
        await pause(request, rule.seconds or DEFAULT_SLOW_SECONDS)
    elif rule.kind == "hang":
        await hold(request)
        response = refuse(rule, request)
    else:
        response = refuse(rule, request)
    if rule.down is not None:
        if isinstance(response, NoAnswer):
            await go_down(request, rule.down)
        else:
            # The answer goes out, then the server dies: it stops listening before the answer leaves, so a
            # client that has read the answer is already refused.
            await go_down(request, rule.down, answer=response)
    return response


async def go_down(request: web.Request, seconds: float, answer: web.StreamResponse | None = None) -> None:
    """Take the server that received *request* down for *seconds* (see :meth:`Listener.go_down`), sending
    *answer* to *request* after the server stopped listening and before its connections are cut."""
    listener = request.app.get(LISTENER_KEY)
    if listener is None:
        log.warning(
            "a fault rule asked the server to go down, but it was not started by campaign.sandbox.transport."
            "Listener, so only this connection is cut"
        )
        if answer is not None:
            await send_now(request, answer)
        drop(request)
        return
    await listener.go_down(seconds, before_cut=None if answer is None else send_now(request, answer))


async def send_now(request: web.Request, answer: web.StreamResponse) -> None:
    """Write *answer* to *request* completely, now (a client that went away is no matter)."""
    with contextlib.suppress(ConnectionError):
        await answer.prepare(request)
        await answer.write_eof()


class Listener:
    """An aiohttp application served on one TCP port, which can go down and come back on the same port.

    Going down closes the listening socket (clients get ``ECONNREFUSED``: proof that nothing was sent)
    and every open connection; the socket is reopened on the same port when the time is up. Given
    *ssl_context*, it serves HTTPS, also once it is back.
    """

    def __init__(
        self,
        app: web.Application,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        app[LISTENER_KEY] = self
        if STOPPING_KEY not in app:
            app[STOPPING_KEY] = asyncio.Event()
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.runner = web.AppRunner(
            app,
            access_log_class=AccessLogger,
            access_log=logging.getLogger("campaign.sandbox.access") if access_log else None,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        self.downs = 0
        """How many times the server went down."""
        self._site: web.TCPSite | None = None
        self._down_until = 0.0
        self._reopen: asyncio.Task[None] | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the server has not started")
        return self._base_url

    @property
    def is_down(self) -> bool:
        return self._base_url is not None and self._site is None

    async def start(self) -> str:
        """Listen; returns the base URL (``http://127.0.0.1:PORT``, ``https://`` with a TLS context)."""
        await self.runner.setup()
        await self._open()
        host, port = self.runner.addresses[0][:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        scheme = "http" if self.ssl_context is None else "https"
        self._base_url = f"{scheme}://{shown}:{port}"
        return self._base_url

    async def go_down(self, seconds: float, before_cut: Awaitable[None] | None = None) -> None:
        """Refuse connections for *seconds* from now (longer if already down for longer). *before_cut* (the
        last answer) is awaited once the listening socket is closed, before open connections are cut."""
        loop = asyncio.get_running_loop()
        self._down_until = max(self._down_until, loop.time() + seconds)
        site, self._site = self._site, None
        if site is not None:
            self.downs += 1
            await site.stop()  # closes the listening socket: new connections are refused
            log.warning("%s is down for %g s (a fault rule)", self._base_url, seconds)
        if before_cut is not None:
            await before_cut
        server = self.runner.server
        if server is not None:
            for connection in server.connections:
                connection.force_close()
                if connection.transport is not None:  # cut, not closed politely: over TLS that waits on the client
                    connection.transport.abort()
        if self._reopen is None or self._reopen.done():
            self._reopen = asyncio.create_task(self._come_back())

    async def stop(self) -> None:
        """Release held requests and stop serving."""
        self.app[STOPPING_KEY].set()
        if self._reopen is not None:
            self._reopen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reopen
        await self.runner.cleanup()
        self._site = None

    async def _open(self) -> None:
        site = web.TCPSite(self.runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self._site = site

    async def _come_back(self) -> None:
        loop = asyncio.get_running_loop()
        attempts = 0
        while True:
            left = self._down_until - loop.time()
            if left > 0:
                await asyncio.sleep(left)
                continue
            try:
                await self._open()
            except OSError as error:
                attempts += 1
                if attempts >= REOPEN_ATTEMPTS:
                    log.error("%s cannot listen again: %s", self._base_url, error)
                    return
                await asyncio.sleep(REOPEN_RETRY_SECONDS)
                continue
            if loop.time() < self._down_until and self._site is not None:  # went down again meanwhile
                site, self._site = self._site, None
                await site.stop()
                continue
            log.warning("%s is up again", self._base_url)
            return


LISTENER_KEY = web.AppKey("listener", Listener)


class AccessLogger(AbstractAccessLogger):
    """One line per request, without the query string (Facebook sends its token there)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if isinstance(response, NoAnswer):
            handled = "not handled" if response.handled is None else f"handled as {response.handled}"
            self.logger.info("%s %s -> no answer (%s)", request.method, request.path, handled)
            return
        self.logger.info("%s %s -> %s (%.0f ms)", request.method, request.path, response.status, time * 1000)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class BackgroundServer:
    """An aiohttp application served by a :class:`Listener` from a thread and event loop of its own.

    Subclasses say what to serve (:meth:`build`); a request left hanging or delayed holds no thread of
    the caller's. Given *ssl_context*, it serves HTTPS.
    """

    thread_name = "campaign-server"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.access_log = access_log
        self.ssl_context = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def build(self) -> web.Application:
        """The application to serve (called in the server's thread)."""
        raise NotImplementedError

    def on_started(self, base_url: str) -> None:
        """Called once listening, before :meth:`start` returns."""

    def on_stopped(self) -> None:
        """Called once stopped."""

    @property
    def base_url(self) -> str:
        if self._listener is None or not self._started.is_set() or self._error is not None:
            raise RuntimeError("the server has not started")
        return self._listener.base_url

    @property
    def is_down(self) -> bool:
        """True while a ``down`` fault keeps the port closed."""
        return self._listener is not None and self._listener.is_down

    def start(self) -> str:
        """Start serving; returns the base URL (``http://127.0.0.1:PORT``, ``https://`` with a TLS context)."""
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._started.wait(START_SECONDS):
            raise RuntimeError(f"the server did not start within {START_SECONDS:g} seconds")
        if self._error is not None:
            raise RuntimeError(f"the server could not start: {self._error}") from self._error
        base_url = self.base_url
        self.on_started(base_url)
        return base_url

    def open_connections(self) -> frozenset[str]:
        """The client connections open now (kept alive between requests too), each as its client's address
        (``host:port``): a connection closed and another opened in its place shows as a new address."""
        loop, listener = self._loop, self._listener
        if loop is None or listener is None:
            raise RuntimeError("the server has not started")

        async def addresses() -> frozenset[str]:
            server = listener.runner.server
            if server is None:
                return frozenset()
            # A connection the client or the server has closed may stay listed until its handler finishes.
            transports = [handler.transport for handler in server.connections if handler.transport is not None]
            return frozenset(f"{peer[0]}:{peer[1]}" for transport in transports
                             if (peer := transport.get_extra_info("peername")) is not None)

        return asyncio.run_coroutine_threadsafe(addresses(), loop).result(START_SECONDS)

    def go_down(self, seconds: float) -> None:
        """Refuse connections for *seconds* from now, as a ``down`` fault does (callable from any thread)."""
        loop, listener = self._loop, self._listener
        if loop is None or listener is None:
            raise RuntimeError("the server has not started")
        asyncio.run_coroutine_threadsafe(listener.go_down(seconds), loop).result(START_SECONDS)

    def stop(self) -> None:
        """Stop serving, releasing requests left hanging; safe to call twice."""
        loop, thread, listener = self._loop, self._thread, self._listener
        if loop is None or thread is None:
            return
        if loop.is_running():
            try:
                if listener is not None:
                    future = asyncio.run_coroutine_threadsafe(listener.stop(), loop)
                    future.result(SHUTDOWN_SECONDS + 5)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(SHUTDOWN_SECONDS + 5)
        self._loop = self._thread = None
        self.on_stopped()

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
            self._listener = Listener(
                self.build(), self.host, self.port, access_log=self.access_log, ssl_context=self.ssl_context
            )
            loop.run_until_complete(self._listener.start())
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread
            self._error = error
            self._started.set()
            self._loop = None
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
