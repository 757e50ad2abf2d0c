"""A reverse proxy that plays the transport faults in front of any server, the sandbox or a real one.

The sandbox plays faults on its own requests; this puts the same faults (the same code:
:mod:`campaign.sandbox.transport`) in front of a server we did not write, such as the AT Protocol
reference PDS::

    rule = "bluesky:POST /xrpc/com.atproto.repo.createRecord:lose_reply"
    with FaultProxy("http://127.0.0.1:2583", [rule]) as proxy:
        client = atproto.Client(base_url=proxy.base_url)   # every post is created, its reply lost
        ...
        proxy.requests("bluesky", "POST")                  # what went through

Every request (method, path, query, headers, body) is forwarded to *upstream* and the answer streamed
back, status, headers and bytes as they came (compressed bodies stay compressed). The ``Host`` header the
client sent is kept, so that a server that signs or checks URLs (OAuth 1.0a, link rendering) sees the
address the client used; ``preserve_host=False`` sends the upstream's instead.

A rule's PLATFORM is matched against :func:`campaign.sandbox.server.platform_of` of the path (``*``
matches every path, a platform's own paths or not). The proxy plays the faults that need no platform to
answer (:data:`campaign.sandbox.transport.CONNECTION_FAULTS`: ``lose_reply``, ``slow_reply``, ``down``,
``ignore_idempotency``, ``hang``, and ``down=S`` on any of them); a platform's error answers
(``rate_limit``, ...) are the sandbox's, and the proxy refuses them when they are set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from campaign.sandbox.core import RequestLog, RequestRecord
from campaign.sandbox.faults import FaultPlan, FaultRule, FaultSpecError, parse_fault
from campaign.sandbox.server import platform_of
from campaign.sandbox.transport import CONNECTION_FAULTS, BackgroundServer, play, status_of

MAX_BODY = 100 * 1024 * 1024
CHUNK = 64 * 1024
CONNECT_SECONDS = 10.0
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers about one connection, never forwarded (RFC 9110, section 7.6.1)."""
SESSION_KEY = web.AppKey("upstream_session", aiohttp.ClientSession)


class FaultProxy(BackgroundServer):
    """A reverse proxy to *upstream* on a free port of 127.0.0.1, served from a background thread."""

    thread_name = "campaign-fault-proxy"

    def __init__(
        self,
        upstream: str,
        faults: Iterable[FaultRule | str] = (),
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        preserve_host: bool = True,
        access_log: bool = False,
    ) -> None:
        super().__init__(host, port, access_log=access_log)
        target = URL(upstream)
        if target.scheme not in ("http", "https") or not target.host:
            raise ValueError(f"the upstream must be an http:// or https:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.preserve_host = preserve_host
        self.faults = FaultPlan((), seed=seed)
        self._log = RequestLog()
        self.set_faults(*faults)

    # -- faults and records -------------------------------------------------------------------------------

    def set_faults(self, *rules: FaultRule | str) -> None:
        """Replace the fault rules (and restart their counters)."""
        self.faults.set([_playable(rule) for rule in rules])

    def add_fault(self, rule: FaultRule | str) -> FaultRule:
        return self.faults.add(_playable(rule))

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests(
        self, platform: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[RequestRecord]:
        """The requests seen so far (no query string, no headers); *path* is a glob.

        ``platform`` is :func:`~campaign.sandbox.server.platform_of` the path, ``""`` for other paths;
        ``status`` is the upstream's, ``None`` when no answer came or the request was not forwarded."""
        return self._log.select(platform, method, path)

    def clear_requests(self) -> None:
        self._log.clear()

    # -- serving ---------------------------------------------------------------------------------------------

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.cleanup_ctx.append(_upstream_session)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        platform = platform_of(request.path) or ""
        record = self._log.record(platform, request.method, request.path)
        rule = self.faults.pick(platform, request.method, request.path)
        if rule is not None:
            record.fault = rule.kind
            response = await play(request, rule, self._buffered, _refuse)
        else:
            response = await self._streamed(request)
        record.status = status_of(response)
        return response

    async def _send(self, request: web.Request) -> aiohttp.ClientResponse:
        headers = CIMultiDict(
            (name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP
        )
        headers.popall("Content-Length", None)
        if not self.preserve_host:
            headers.popall("Host", None)
        body = await request.read()
        session = request.app[SESSION_KEY]
        return await session.request(
            request.method,
            URL(self.upstream + request.raw_path, encoded=True),
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def _streamed(self, request: web.Request) -> web.StreamResponse:
        """Forward *request* and stream the answer back as it comes."""
        try:
            upstream = await self._send(request)
        except (aiohttp.ClientError, OSError) as error:
            return _bad_gateway(self.upstream, error)
        try:
            response = web.StreamResponse(
                status=upstream.status, reason=upstream.reason, headers=_answer_headers(upstream.headers)
            )
            try:
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionError:
                pass  # the client went away: aiohttp sees to the connection
            return response
        finally:
            upstream.release()

    async def _buffered(self, request: web.Request) -> web.StreamResponse:
        """Forward *request* and read the whole answer (the upstream has handled it when this returns)."""
        try:
            upstream = await self._send(request)
        except (aiohttp.ClientError, OSError) as error:
            return _bad_gateway(self.upstream, error)
        try:
            body = await upstream.read()
        except (aiohttp.ClientError, OSError) as error:
            return _bad_gateway(self.upstream, error)
        finally:
            upstream.release()
        headers = _answer_headers(upstream.headers)
        headers.popall("Content-Length", None)
        return web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=body)


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    """One client session per proxy: no cookies kept, bodies passed through undecoded, no total timeout
    (a slow upstream is the client's to give up on)."""
    async with aiohttp.ClientSession(
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS),
    ) as session:
        app[SESSION_KEY] = session
        yield


def _playable(rule: FaultRule | str) -> FaultRule:
    parsed = parse_fault(rule) if isinstance(rule, str) else rule
    if parsed.kind not in CONNECTION_FAULTS:
        raise FaultSpecError(
            f"the fault proxy plays only faults of the connection ({', '.join(CONNECTION_FAULTS)}); "
            f"{parsed.kind!r} is a platform's answer: set it on the sandbox instead"
        )
    return parsed


def _refuse(rule: FaultRule, request: web.Request) -> web.StreamResponse:
    # Only "hang" gets here (see _playable): the answer after a hang, if anyone is still listening.
    return web.Response(status=504, text="Gateway Timeout")


def _answer_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    return CIMultiDict((name, value) for name, value in headers.items() if name.lower() not in HOP_BY_HOP)


def _bad_gateway(upstream: str, error: BaseException) -> web.Response:
    return web.Response(status=502, text=f"Bad Gateway: {upstream} did not answer ({type(error).__name__})")
