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

import requests
from requests.utils import get_environ_proxies


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
