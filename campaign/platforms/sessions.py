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
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies

from campaign.platforms.errors import PlatformError, Transient


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


def open_connection(session: requests.Session, url: str, timeout: float) -> None:
    """Open *session*'s connection to the server of *url* (or find it open), and leave it open and idle in the
    session's pool for the next request to that server.

    It asks ``HEAD url`` through the session's transport alone: none of the session's headers, credentials or
    hooks go with it, and its answer, whatever it is, is read to the end. Only a connection that has carried an
    exchange is left clean: over TLS 1.3 a server sends its session tickets after the handshake, and a
    connection merely opened and put in the pool holds them unread, so urllib3 takes it for dropped and opens
    another at the instant, a second handshake instead of none."""
    request = requests.Request("HEAD", url).prepare()
    # The proxy, CA bundle and client certificate of the session's own requests: they pick the connection pool.
    settings = session.merge_environment_settings(url, {}, None, None, None)
    verify = True if settings["verify"] is None else settings["verify"]
    response = session.get_adapter(url).send(
        request, timeout=timeout, verify=verify, cert=settings["cert"], proxies=settings["proxies"]
    )
    response.content  # noqa: B018 - read to the end: only then does the connection go back to the pool


def transport_error(platform: str, label: str, timeout: float, error: Exception) -> PlatformError | None:
    """The kind of *error* from a request made with requests: no answer in time, no connection, or an answer that
    could not be read are :class:`Transient`; anything else is not a transport failure (``None``)."""
    if isinstance(error, requests.Timeout):
        return Transient(platform, f"{label} did not answer within {timeout:g} seconds")
    if isinstance(error, requests.RequestException):
        return Transient(platform, f"could not connect to {label} (the connection failed or was dropped)")
    if isinstance(error, (ValueError, KeyError, TypeError)):
        return Transient(platform, f"{label}'s answer could not be read ({type(error).__name__})")
    return None
