"""Single sign-on to the desk by OpenID Connect: a person signs in at the force's identity provider, and the desk
logs in the user of the store that the provider vouches for.

Configured by environment variables (all three of the first, or none: then the desk has passwords only):

- ``CAMPAIGN_OIDC_ISSUER``: the provider's issuer URL, exactly as its discovery document
  (``ISSUER/.well-known/openid-configuration``) names it; https, except on this machine (tests);
- ``CAMPAIGN_OIDC_CLIENT_ID`` and ``CAMPAIGN_OIDC_CLIENT_SECRET``: the desk as a client registered there;
- ``CAMPAIGN_OIDC_LOGIN_CLAIM`` (optional): the ID token claim that names the person at their first sign-in;
  by default ``preferred_username``, else ``email``;
- ``CAMPAIGN_OIDC_REDIRECT_URL`` (optional): the public URL of ``/login/sso/callback``, when the desk is behind
  a proxy and cannot tell it from the request; the same URL is registered at the provider.

``GET /login/sso`` sends the browser to the provider with an authorization-code request carrying a PKCE
challenge (S256), a ``state`` and a ``nonce``, all kept in the desk's session. ``GET /login/sso/callback``
exchanges the code (with the PKCE verifier and the client secret, sent in the form when the provider allows it)
and verifies the ID token with Authlib and joserfc: its signature against the provider's published keys (fetched
again once when a token names a key not yet seen, so key rotation needs no restart), its issuer (the configured
one), its audience (must include the client id), its expiry (two minutes' leeway for clocks) and its nonce.

The person is then mapped to a user of the store: by the linked identity (``iss`` + ``sub``, kept in
``oidc_subject``) if they have signed in before; else by the login claim, matched without regard to case against
a user's login, then against a user's email, and the identity is linked to that user. Nobody is created: an
admin adds users first (``campaign users add``). An unknown person, a disabled user, a service account, or a user
linked to another identity is refused in one sentence (HTTP 403); so is a token that fails any check. Every
refusal is audited as ``login_failed`` and every login as ``login``, with the client's address and
``"method": "single sign-on"``.

Microsoft Entra ID, as forces use it:

- register the desk under *App registrations* as a *Web* application with the redirect URI
  ``https://DESK/login/sso/callback``, for "accounts in this organizational directory only" (one tenant),
  and add a client secret under *Certificates & secrets*;
- ``CAMPAIGN_OIDC_ISSUER=https://login.microsoftonline.com/TENANT-ID/v2.0`` with the *Directory (tenant) ID*
  (a GUID). Not ``common`` or ``organizations``: their discovery document names the issuer
  ``https://login.microsoftonline.com/{tenantid}/v2.0`` literally, which no token carries; and not the tenant's
  domain name: its discovery document names the issuer by GUID (the desk refuses and says which URL to set);
- ``CAMPAIGN_OIDC_CLIENT_ID``: the *Application (client) ID*; Entra puts it in every ID token's ``aud``;
- ``CAMPAIGN_OIDC_CLIENT_SECRET``: the secret's *Value* (not its ID); secrets expire, renew it in time;
- ``preferred_username`` (sent in v2.0 tokens with the ``profile`` scope, which the desk asks for) is the
  person's user principal name, such as ``jo.reviewer@force.police.uk``: give each user that login or that
  email in the store. Microsoft calls it mutable and unfit for authorization decisions, so it is read at the
  first sign-in only: from then on the user is found by ``iss`` + ``sub``, which Entra never reassigns. Entra's
  ``sub`` is pairwise: another app registration gives everyone a new one, and linked users are then refused
  until their link is cleared;
- Entra's ``email`` claim is not verified by Entra ("never use it for authorization"): do not set
  ``CAMPAIGN_OIDC_LOGIN_CLAIM=email`` for Entra. (The default reads ``email`` only when a token has no
  ``preferred_username``, which Entra's v2.0 tokens always have.)
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from authlib import deprecate  # first: it sets Authlib's own warning filter
from fastapi import APIRouter, Request
from fastapi.responses import Response
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from campaign.exceptions import StoreError
from campaign.store import Store
from campaign.store.models import UserRow
from campaign.store.people import LoginRefused
from campaign.store.sql import audit, utcnow
from campaign.web.errors import DeskError
from campaign.web.sessions import safe_next, start_session
from campaign.web.settings import DeskSettingsError

with warnings.catch_warnings():
    # Authlib 1.9 warns, at import, that it would rather drive httpx2 than httpx (the desk's HTTP client). The
    # warning is for whoever chooses the dependencies, not for the person starting `campaign serve`.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated",
                            category=deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.base_client.errors import MismatchingStateError
    from authlib.integrations.starlette_client import OAuth, OAuthError

ISSUER_VARIABLE = "CAMPAIGN_OIDC_ISSUER"
CLIENT_ID_VARIABLE = "CAMPAIGN_OIDC_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "CAMPAIGN_OIDC_CLIENT_SECRET"
LOGIN_CLAIM_VARIABLE = "CAMPAIGN_OIDC_LOGIN_CLAIM"
REDIRECT_URL_VARIABLE = "CAMPAIGN_OIDC_REDIRECT_URL"
DEFAULT_LOGIN_CLAIMS = ("preferred_username", "email")
LOGIN_PATH = "/login/sso"
"""Where the desk's login page sends a person who signs in with their organisation."""
CALLBACK_PATH = "/login/sso/callback"
SCOPE = "openid profile email"
LEEWAY_SECONDS = 120
"""How far the desk's clock and the provider's may differ when checking a token's times."""
METHOD = "single sign-on"
LONGEST_SUBJECT = 300
"""``UserRow.oidc_subject``'s length."""
CLIENT_NAME = "campaign"
NEXT = "sso_next"
"""The session key keeping the desk page to go to after signing in (``/login/sso?next=/some/page``)."""


def _http_errors() -> tuple[type[Exception], ...]:
    """What the HTTP client under Authlib raises: httpx's errors, and httpx2's, which Authlib 1.9 uses instead
    whenever it is installed."""
    errors: list[type[Exception]] = [httpx.HTTPError, ValueError]  # ValueError: an answer that is not JSON
    try:
        errors.append(importlib.import_module("httpx2").HTTPError)
    except ImportError:
        pass
    return tuple(errors)


HTTP_ERRORS = _http_errors()


class SingleSignOnError(DeskSettingsError):
    """Single sign-on is configured wrongly; the message says which variable to change."""


@dataclass(frozen=True)
class SingleSignOn:
    """The desk as a client of one OpenID Connect provider."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    login_claim: str | None = None
    """The claim naming the person at their first sign-in; None: ``preferred_username``, else ``email``."""
    redirect_url: str | None = None
    """The public URL of the callback; None: worked out from each request."""

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def login_claims(self) -> tuple[str, ...]:
        return (self.login_claim,) if self.login_claim else DEFAULT_LOGIN_CLAIMS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SingleSignOn | None:
        """The configuration in ``CAMPAIGN_OIDC_*``; None when none of the three required variables is set.
        Refused, naming the variable, when only some are set or one is not usable."""
        env = os.environ if environ is None else environ
        given = {name: env.get(name, "").strip()
                 for name in (ISSUER_VARIABLE, CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE)}
        if not any(given.values()):
            return None
        missing = [f"${name}" for name, value in given.items() if not value]
        if missing:
            raise SingleSignOnError(f"single sign-on needs {' and '.join(missing)} as well: set "
                                    f"{'them' if len(missing) > 1 else 'it'}, or unset ${ISSUER_VARIABLE}, "
                                    f"${CLIENT_ID_VARIABLE} and ${CLIENT_SECRET_VARIABLE} to use passwords only")
        issuer = _checked_url(ISSUER_VARIABLE, given[ISSUER_VARIABLE])
        if urlsplit(issuer).query or urlsplit(issuer).fragment:
            raise SingleSignOnError(f"${ISSUER_VARIABLE} {issuer!r} has a query or fragment: give the issuer URL "
                                    "alone, such as https://login.microsoftonline.com/TENANT-ID/v2.0")
        redirect_url = env.get(REDIRECT_URL_VARIABLE, "").strip() or None
        if redirect_url is not None:
            redirect_url = _checked_url(REDIRECT_URL_VARIABLE, redirect_url)
            if not urlsplit(redirect_url).path.endswith(CALLBACK_PATH):
                raise SingleSignOnError(f"${REDIRECT_URL_VARIABLE} {redirect_url!r} is not the desk's callback: "
                                        f"give its public URL, ending in {CALLBACK_PATH}")
        login_claim = env.get(LOGIN_CLAIM_VARIABLE, "").strip() or None
        if login_claim is not None and (len(login_claim) > 100 or not login_claim.replace("_", "").isalnum()):
            raise SingleSignOnError(f"${LOGIN_CLAIM_VARIABLE} {login_claim!r} is not a claim name: give one such "
                                    "as preferred_username, email or upn, or unset it")
        return cls(issuer=issuer, client_id=given[CLIENT_ID_VARIABLE], client_secret=given[CLIENT_SECRET_VARIABLE],
                   login_claim=login_claim, redirect_url=redirect_url)


def _checked_url(variable: str, url: str) -> str:
    """*url*, if it is absolute and https (or http to this machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SingleSignOnError(f"${variable} {url!r} is not a URL: give one such as "
                                "https://login.microsoftonline.com/TENANT-ID/v2.0")
    if parts.scheme == "http" and not _is_this_machine(parts.hostname):
        raise SingleSignOnError(f"${variable} {url!r} is plain http: give its https URL (plain http is only for "
                                "a provider on this machine, in tests)")
    return url


def _is_this_machine(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Refusal(Exception):
    """A sign-in that did not succeed: *sentence* is shown to the person and recorded with *status*."""

    def __init__(self, sentence: str, status: int = 403, actor: str | None = None) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.status = status
        self.actor = actor
        self.subject: str | None = None
        """The verified identity (issuer + subject) that was refused, for the audit."""


def router(config: SingleSignOn, store_of: Callable[[Request], Store]) -> APIRouter:
    """The desk's single sign-on pages, for the provider in *config*; *store_of* gives a request's store."""
    oauth = OAuth()
    client: Any = oauth.register(
        CLIENT_NAME, client_id=config.client_id, client_secret=config.client_secret,
        server_metadata_url=config.discovery_url,
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    routes = APIRouter()

    @routes.get(LOGIN_PATH, name="sso_login")
    async def sso_login(request: Request) -> Response:
        try:
            await _provider_metadata(client, config)
            redirect_url = config.redirect_url or str(request.url_for("sso_callback"))
            response: Response = await client.authorize_redirect(request, redirect_url)
        except Refusal as refusal:
            return await _refuse(request, store_of, refusal)
        request.session[NEXT] = safe_next(request.query_params.get("next"))
        return response

    @routes.get(CALLBACK_PATH, name="sso_callback")
    async def sso_callback(request: Request) -> Response:
        store = store_of(request)
        try:
            await _provider_metadata(client, config)
            claims = await _verified_claims(request, client, config)
            row, linked = await run_in_threadpool(_user_for, store, config, claims)
        except Refusal as refusal:
            return await _refuse(request, store_of, refusal)
        await run_in_threadpool(_audit, store, row.login, "login",
                                {"source": _source(request), "method": METHOD, **linked})
        return start_session(request, row, next_url=request.session.get(NEXT))

    return routes


async def _provider_metadata(client: Any, config: SingleSignOn) -> dict[str, Any]:
    """The provider's discovery document (fetched once), if it names the configured issuer."""
    try:
        metadata: dict[str, Any] = await client.load_server_metadata()
    except HTTP_ERRORS as error:
        raise Refusal(f"the identity provider did not answer at {config.discovery_url} ({_reason(error)}): try "
                      "again in a minute, or log in with your password", status=502) from None
    named = metadata.get("issuer")
    if named != config.issuer:
        client.server_metadata.pop("_loaded_at", None)  # read it again next time, once the setting is fixed
        raise Refusal(f"the identity provider at {config.discovery_url} names its issuer {named!r}, not "
                      f"{config.issuer!r}: an administrator should set ${ISSUER_VARIABLE} to {named!r}", status=502)
    # The secret in the form, where the provider takes it: Authlib's HTTP Basic does not form-encode the secret
    # first (RFC 6749 §2.3.1), so a secret with '+' or '%' (Entra's often have them) can be refused.
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    client.client_kwargs["token_endpoint_auth_method"] = (
        "client_secret_post" if "client_secret_post" in methods else "client_secret_basic")
    return metadata


async def _verified_claims(request: Request, client: Any, config: SingleSignOn) -> dict[str, Any]:
    """The claims of the ID token the provider sent for this callback, once every check has passed."""
    options = {"iss": {"essential": True, "value": config.issuer},
               "aud": {"essential": True, "value": config.client_id},
               "sub": {"essential": True}}
    untrusted = ("the identity provider's answer could not be trusted: its ID token {} — nobody was signed in; try "
                 "again, and tell an administrator if it happens again")
    try:
        token = await client.authorize_access_token(request, claims_options=options, leeway=LEEWAY_SECONDS)
    except MismatchingStateError:
        raise Refusal("this sign-in was not started in this browser, or has already been used: start again "
                      "from the login page", status=400) from None
    except OAuthError as error:
        said = f"{error.error}: {error.description}" if error.description else str(error.error)
        raise Refusal(f"the identity provider refused the sign-in ({said[:200]}): try again, or ask an "
                      "administrator", status=403) from None
    except ExpiredTokenError:
        raise Refusal(untrusted.format("has expired (the desk's clock or the provider's may be wrong)")) from None
    except ClaimError as error:
        wrong = {"iss": f"comes from another issuer than {config.issuer}",
                 "aud": "was issued to another application than this desk",
                 "nonce": "answers another sign-in than this one (its nonce differs)"}
        raise Refusal(untrusted.format(wrong.get(error.claim, f"has a wrong or missing {error.claim!r} claim"))) \
            from None
    except (BadSignatureError, InvalidKeyIdError):
        raise Refusal(untrusted.format("is not signed by any of the provider's published keys")) from None
    except JoseError as error:
        raise Refusal(untrusted.format(f"cannot be read ({error.error})")) from None
    except HTTP_ERRORS as error:
        raise Refusal(f"the identity provider did not answer ({_reason(error)}): try again in a minute, or log in "
                      "with your password", status=502) from None
    claims = token.get("userinfo")
    if not claims:
        raise Refusal(untrusted.format("is missing (the provider sent none)"))
    return dict(claims)


def _user_for(store: Store, config: SingleSignOn, claims: Mapping[str, Any]) -> tuple[UserRow, dict[str, str]]:
    """The user of the store that *claims* (verified) name, linked to their identity; and audit details saying
    whether this sign-in made the link. A refusal carries the identity, so the audit can name it."""
    subject = f"{claims['iss']} {claims['sub']}"
    try:
        return _linked_user(store, config, claims, subject)
    except Refusal as refusal:
        refusal.subject = subject[:LONGEST_SUBJECT]
        raise


def _linked_user(store: Store, config: SingleSignOn, claims: Mapping[str, Any],
                 subject: str) -> tuple[UserRow, dict[str, str]]:
    if len(subject) > LONGEST_SUBJECT:
        raise Refusal(f"the identity provider's subject for you is longer than the desk keeps "
                      f"({LONGEST_SUBJECT} characters with the issuer): ask an administrator")
    name, claim = _login_claim(config, claims)
    users = store.users()
    row = next((user for user in users if user.oidc_subject == subject), None)
    if row is None and name is not None:
        wanted = name.casefold()
        row = next((user for user in users if user.login.casefold() == wanted), None)
        if row is None:
            by_email = [user for user in users if user.email and user.email.strip().casefold() == wanted]
            if len(by_email) > 1:
                raise Refusal(f"{name!r} is the email of {len(by_email)} users of this desk, so it cannot tell "
                              "which you are: ask an administrator", actor=name)
            row = by_email[0] if by_email else None
    if row is None:
        shown = repr(name) if name is not None else f"with no {' or '.join(config.login_claims)} claim"
        raise Refusal(f"you signed in as {shown}, who is not a user of this desk: ask an administrator to add you "
                      f"(`campaign users add`)", actor=name)
    if row.disabled_at is not None:
        raise Refusal(f"{row.login} is disabled on this desk; an administrator can enable them again",
                      actor=row.login)
    if row.service:
        raise Refusal(f"{row.login} is a service account: it acts from the command line only, never on the desk",
                      actor=row.login)
    if row.oidc_subject == subject:
        return row, {}
    if row.oidc_subject is not None:
        raise Refusal(f"{row.login} is linked to another single sign-on identity: ask an administrator",
                      actor=row.login)
    if claim == "email" and claims.get("email_verified") is False:
        raise Refusal(f"the identity provider has not verified your email {name!r}: verify it there, or ask an "
                      "administrator", actor=row.login)
    try:
        row = store.link_single_sign_on(row.login, subject)
    except (LoginRefused, StoreError) as error:
        raise Refusal(f"{row.login} cannot be linked to this sign-in ({error}): ask an administrator",
                      actor=row.login) from None
    except IntegrityError:  # another user was linked to this identity a moment ago
        raise Refusal(f"this single sign-on identity is already linked to another user than {row.login}: ask an "
                      "administrator", actor=row.login) from None
    return row, {"linked": subject}


def _login_claim(config: SingleSignOn, claims: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The first of the configured login claims that the token carries as a non-blank string, and its name."""
    for claim in config.login_claims:
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()[:320], claim
    return None, None


async def _refuse(request: Request, store_of: Callable[[Request], Store], refusal: Refusal) -> NoReturn:
    """Audit *refusal*, then answer with its sentence on the desk's message page (its status with it)."""
    details = {"source": _source(request), "method": METHOD, "reason": refusal.sentence}
    if refusal.subject is not None:
        details["subject"] = refusal.subject
    await run_in_threadpool(_audit, store_of(request), refusal.actor or "(single sign-on)", "login_failed", details)
    raise DeskError(refusal.sentence, refusal.status)


def _audit(store: Store, actor: str, action: str, details: Mapping[str, Any]) -> None:
    with store.session() as session, session.begin():
        audit(session, utcnow(), actor[:200], action, None, None, details)


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _reason(error: Exception) -> str:
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    return str(error)[:200] or type(error).__name__
