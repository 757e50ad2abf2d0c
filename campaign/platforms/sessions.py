"""The HTTP sessions of the client libraries built on requests (tweepy, pyfacebook, Mastodon.py).

requests reads the environment afresh for every request when ``trust_env`` is on: the proxy variables (walking
the whole environment twice), ``REQUESTS_CA_BUNDLE`` and ``~/.netrc`` (a file read). With 200 posts going out at
09:00 that was a quarter of each request's CPU. A runner's environment does not change while it runs, so it is
read once, when the adapter is made, and what it says still applies: the proxy for the platform's address (or
none, where ``NO_PROXY`` says so) and the CA bundle. ``~/.netrc`` is not read at all: every platform request
carries the account's own credentials, and a password from that file must never be sent to a platform.
"""

from __future__ import annotations

import os
from typing import cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.connectionpool import HTTPConnectionPool


def read_environment_once(session: requests.Session, url: str) -> None:
    """Settle *session*'s proxies and CA bundle for requests to *url* from the environment now, and stop requests
    from reading the environment again at every request."""
    if not session.trust_env:
        return
    session.proxies.update(get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


def server_root(url: str) -> str:
    """The root of the server *url* is on (``https://graph.facebook.com/`` for ``https://graph.facebook.com/v23.0``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def open_connection(session: requests.Session, url: str, timeout: float, adapter: HTTPAdapter | None = None) -> None:
    """Open the connection *session*'s next request to the server of *url* will go out on (TCP, and TLS for
    https), and leave it in the session's pool; a connection already open there is left as it is.

    Nothing is sent on it: the server sees a connection and no request, so nothing is logged, authenticated or
    counted against a rate limit. *adapter* is the transport the session's requests to that server go through
    (default: the one mounted for *url*)."""
    adapter = adapter or cast(HTTPAdapter, session.get_adapter(url))
    # The proxy, CA bundle and client certificate of the session's own requests: they pick the connection pool.
    settings = session.merge_environment_settings(url, {}, None, None, None)
    verify = True if settings["verify"] is None else settings["verify"]
    pool = cast(HTTPConnectionPool, adapter.get_connection_with_tls_context(
        requests.Request("GET", url).prepare(), verify, proxies=settings["proxies"], cert=settings["cert"]
    ))
    # urllib3 has no public call for this; these two are what each of its requests does around its exchange.
    connection = pool._get_conn()
    try:
        if not connection.is_connected:
            connection.timeout = timeout
            connection.connect()
    finally:
        pool._put_conn(connection)
