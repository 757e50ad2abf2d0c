"""A small but real OpenID Connect provider, written for the desk's single sign-on tests.

It serves, over HTTP on a free local port (a FastAPI app under uvicorn, in a thread):

- discovery at ``/.well-known/openid-configuration`` and its keys (an RSA key generated at start) at ``/jwks``;
- ``/authorize``, which "logs in" :attr:`Provider.identity` at once and redirects back with a one-time code —
  after checking what a strict provider checks (the client, a registered redirect URL, ``response_type=code``,
  the ``openid`` scope, a ``state``, a ``nonce`` and a PKCE challenge by S256);
- ``/token``, which takes the code back once, with the client's secret (HTTP Basic or in the form) and the PKCE
  verifier, and answers with an access token and an ID token signed with joserfc.

A test makes it misbehave by setting :attr:`Provider.misbehaviour`: the next ID tokens then name another
audience or issuer, have expired, are signed by another key under the same key id, or carry another nonce.
Every authorization and token request is kept (:attr:`Provider.authorizations`, :attr:`Provider.token_requests`)
so a test can see what the desk sent.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

KEY_ID = "test-provider-1"


class Misbehaviour(enum.StrEnum):
    """What is wrong with the ID tokens the provider signs."""

    NONE = "none"
    WRONG_AUDIENCE = "wrong audience"
    """``aud`` names another client only (``azp`` still names the desk: Authlib's own checks let that pass)."""
    WRONG_ISSUER = "wrong issuer"
    """``iss`` names another issuer than discovery says."""
    EXPIRED = "expired"
    """``exp`` an hour ago (well past any clock leeway)."""
    BAD_SIGNATURE = "bad signature"
    """Signed by another RSA key, under the key id of the published one."""
    WRONG_NONCE = "wrong nonce"
    """A ``nonce`` other than the one the authorization request carried."""


@dataclass
class Identity:
    """The person the provider logs in."""

    sub: str
    preferred_username: str | None = None
    email: str | None = None
    name: str = "Test Person"
    extra: dict[str, Any] = field(default_factory=dict)
    """More claims for the ID token (``email_verified``, say)."""


@dataclass(frozen=True)
class Grant:
    """What a code stands for until it is exchanged."""

    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    identity: Identity


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of *verifier* (RFC 7636 §4.2), computed here rather than borrowed from the
    client library under test."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Provider:
    """An OpenID Connect provider for one client. Serve it with :meth:`serving`."""

    def __init__(self, client_id: str = "campaign-desk", client_secret: str = "s3cret+with/odd=chars",
                 identity: Identity | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.identity = identity or Identity(sub="subject-1", preferred_username="jo.reviewer@force.example")
        self.misbehaviour = Misbehaviour.NONE
        self.redirect_uris: set[str] | None = None
        """The registered redirect URLs; None: any (until a test registers the desk's)."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.impostor_key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.authorizations: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.grants: dict[str, Grant] = {}
        self.issuer = ""
        """Set by :meth:`serving`: ``http://127.0.0.1:PORT``."""

    def reset(self, identity: Identity | None = None) -> None:
        """Behave again, forget every request and code, and log in *identity* from now on."""
        self.misbehaviour = Misbehaviour.NONE
        if identity is not None:
            self.identity = identity
        self.authorizations.clear()
        self.token_requests.clear()
        self.grants.clear()

    # -- the ID token -------------------------------------------------------------------------------

    def id_token(self, grant: Grant, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": grant.identity.sub, "aud": grant.client_id, "iat": now, "exp": now + 600,
            "nonce": grant.nonce, "name": grant.identity.name,
        }
        if grant.identity.preferred_username is not None:
            claims["preferred_username"] = grant.identity.preferred_username
        if grant.identity.email is not None:
            claims["email"] = grant.identity.email
        claims.update(grant.identity.extra)
        key = self.key
        match self.misbehaviour:
            case Misbehaviour.WRONG_AUDIENCE:
                claims["aud"], claims["azp"] = "another-client", grant.client_id
            case Misbehaviour.WRONG_ISSUER:
                claims["iss"] = "http://127.0.0.1:9/another-issuer"
            case Misbehaviour.EXPIRED:
                claims["iat"], claims["exp"] = now - 7200, now - 3600
            case Misbehaviour.BAD_SIGNATURE:
                key = self.impostor_key
            case Misbehaviour.WRONG_NONCE:
                claims["nonce"] = "not-the-nonce-that-was-sent"
            case Misbehaviour.NONE:
                pass
        return jwt.encode({"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}, claims, key)

    # -- the endpoints ------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username", "email"],
        }

    def authorize(self, params: dict[str, str]) -> Response:
        self.authorizations.append(params)
        if params.get("client_id") != self.client_id:
            return PlainTextResponse(f"unknown client {params.get('client_id')!r}", status_code=400)
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris):
            return PlainTextResponse(f"redirect_uri {redirect_uri!r} is not registered", status_code=400)
        state = params.get("state", "")
        complete = ("openid" in params.get("scope", "").split() and state and params.get("nonce")
                    and params.get("code_challenge_method") == "S256" and params.get("code_challenge"))
        problem = None
        if params.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif not complete:  # OpenID, a state, a nonce and PKCE by S256 are all required here
            problem = "invalid_request"
        if problem is not None:
            return RedirectResponse(f"{redirect_uri}?{urlencode({'error': problem, 'state': state})}", 302)
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(client_id=self.client_id, redirect_uri=redirect_uri, nonce=params["nonce"],
                                  code_challenge=params["code_challenge"], identity=self.identity)
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", 302)

    def token(self, form: dict[str, str], authorization: str | None) -> Response:
        self.token_requests.append({**form, "authorization": "basic" if authorization else "form"})
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
            client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
        if client_id != self.client_id or client_secret != self.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if s256(form.get("code_verifier", "")) != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verification failed"},
                                status_code=400)
        access_token = secrets.token_urlsafe(24)
        return JSONResponse({"access_token": access_token, "token_type": "Bearer", "expires_in": 600,
                             "id_token": self.id_token(grant, access_token)},
                            headers={"Cache-Control": "no-store"})

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return self.discovery()

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return dict(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            return self.authorize(dict(request.query_params))

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            return self.token(form, request.headers.get("authorization"))

        return app

    @contextmanager
    def serving(self) -> Iterator[Provider]:
        """Serve the provider on a free port of 127.0.0.1 until the block ends."""
        with serve(self.app()) as url:
            self.issuer = url
            yield self


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve the ASGI *app* with uvicorn on a free port of 127.0.0.1, in a thread; yield its base URL.

    The socket is bound here and handed to uvicorn, so no other process can take the port in between."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True,
                              name=f"uvicorn-{port}")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
