"""OAuth 1.0a HMAC-SHA1 signature checking, written from RFC 5849 (not with the client's library).

The signature covers the URL the client signed. A client pointed at the sandbox signs the
platform's real URL and sends it along in :data:`ORIGINAL_URL_HEADER`; the sandbox rebuilds the
signature base string from that URL, so a signature made for the real API verifies here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from campaign.platforms.base import ORIGINAL_URL_HEADER

__all__ = ["ORIGINAL_URL_HEADER", "base_string", "parse_header", "problem", "sign"]

MAX_CLOCK_SKEW = 300

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class OAuthHeader:
    params: dict[str, str]

    @property
    def consumer_key(self) -> str:
        return self.params.get("oauth_consumer_key", "")

    @property
    def token(self) -> str:
        return self.params.get("oauth_token", "")

    @property
    def signature(self) -> str:
        return self.params.get("oauth_signature", "")


def parse_header(header: str) -> OAuthHeader | None:
    """The parameters of an ``Authorization: OAuth ...`` header, decoded; ``None`` if it is not one."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    params = {unquote(k): unquote(v) for k, v in _PARAM.findall(rest)}
    params.pop("realm", None)
    return OAuthHeader(params)


def encode(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a wants it."""
    return quote(value, safe="~")


def base_string(method: str, url: str, oauth: OAuthHeader, form: Iterable[tuple[str, str]] = ()) -> str:
    """The signature base string of RFC 5849 section 3.4.1."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    base_uri = f"{scheme}://{netloc}{parts.path or '/'}"
    pairs = list(parse_qsl(parts.query, keep_blank_values=True))
    pairs += [(k, v) for k, v in oauth.params.items() if k != "oauth_signature"]
    pairs += list(form)
    normalized = "&".join(f"{k}={v}" for k, v in sorted((encode(k), encode(v)) for k, v in pairs))
    return "&".join((method.upper(), encode(base_uri), encode(normalized)))


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{encode(consumer_secret)}&{encode(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def problem(
    method: str,
    url: str,
    oauth: OAuthHeader,
    consumer_secret: str,
    token_secret: str,
    form: Iterable[tuple[str, str]] = (),
    now: float | None = None,
) -> str | None:
    """Why the request's signature is not acceptable, or ``None`` when it is."""
    if oauth.params.get("oauth_signature_method") != "HMAC-SHA1":
        return "unsupported signature method"
    try:
        stamp = int(oauth.params.get("oauth_timestamp", ""))
    except ValueError:
        return "missing timestamp"
    if abs((now if now is not None else time.time()) - stamp) > MAX_CLOCK_SKEW:
        return "timestamp out of bounds"
    expected = sign(base_string(method, url, oauth, form), consumer_secret, token_secret)
    if not hmac.compare_digest(expected, oauth.signature):
        return "signature mismatch"
    return None
