"""What the desk reads from its environment, and the secret that signs its sessions.

``campaign serve`` may start several worker processes (uvicorn imports the application factory in each), so
everything a worker needs reaches it through environment variables, and the session secret is one all the
workers share:

- ``CAMPAIGN_DB``: the store (as for every command);
- ``CAMPAIGN_DESK_SECRET``: the secret that signs session cookies, at least :data:`SHORTEST_SECRET` characters;
  give the same one to every machine that serves the same store;
- without it, a secret file made once (mode 0600) and read after: ``CAMPAIGN_DESK_SECRET_FILE`` if set, else
  ``desk-secret`` beside a SQLite store, else ``$XDG_STATE_HOME/campaign/desk-secret``;
- ``CAMPAIGN_DESK_SECURE_COOKIES=1``: mark cookies ``Secure`` even when the request does not look like https
  (cookies are always ``Secure`` when it does, e.g. behind a TLS proxy that sends ``X-Forwarded-Proto``).
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from campaign.exceptions import StoreError
from campaign.store.database import database_url

SECRET_VARIABLE = "CAMPAIGN_DESK_SECRET"
SECRET_FILE_VARIABLE = "CAMPAIGN_DESK_SECRET_FILE"
SECURE_COOKIES_VARIABLE = "CAMPAIGN_DESK_SECURE_COOKIES"
SHORTEST_SECRET = 32
SESSION_HOURS = 12
"""How long a desk session lasts from login, whatever happens in it."""


class DeskSettingsError(StoreError):
    """The desk cannot start as configured; the message says what to change."""


@dataclass(frozen=True)
class DeskSettings:
    db: str
    """The store's SQLAlchemy URL."""
    secret: str
    secure_cookies: bool = False
    """Always mark cookies ``Secure`` (they are anyway on https requests)."""
    session_seconds: int = SESSION_HOURS * 3600

    @classmethod
    def from_environment(cls) -> DeskSettings:
        url = database_url(None)
        return cls(db=url, secret=session_secret(url), secure_cookies=_flag(SECURE_COOKIES_VARIABLE))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def secret_file(url: str) -> Path:
    """Where the desk keeps its session secret when ``$CAMPAIGN_DESK_SECRET`` is not set."""
    chosen = os.environ.get(SECRET_FILE_VARIABLE, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).expanduser().absolute().parent / "desk-secret"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "campaign" / "desk-secret"


def session_secret(url: str) -> str:
    """``$CAMPAIGN_DESK_SECRET``, else the secret file's (made once, readable by its owner only)."""
    given = os.environ.get(SECRET_VARIABLE)
    if given is not None:
        if len(given.strip()) < SHORTEST_SECRET:
            raise DeskSettingsError(f"${SECRET_VARIABLE} is shorter than {SHORTEST_SECRET} characters: give a long "
                                    "random one (`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
                                    f"or unset it to use a secret file")
        return given.strip()
    path = secret_file(url)
    try:
        return _read_or_make(path)
    except OSError as error:
        raise DeskSettingsError(f"cannot keep the desk's session secret in {path}: {error.strerror or error} — "
                                f"set ${SECRET_VARIABLE} (the same on every worker and machine), or "
                                f"${SECRET_FILE_VARIABLE} to a file the desk may write") from None


def _read_or_make(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:  # first use: this process made the file, and is the only one writing it
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DeskSettingsError(f"the desk's secret file {path} can be read by others: `chmod 600 {path}`, or set "
                                f"${SECRET_VARIABLE}")
    for _ in range(50):  # another worker may be writing it this instant
        secret = path.read_text(encoding="ascii").strip()
        if secret:
            break
        time.sleep(0.02)
    if len(secret) < SHORTEST_SECRET:
        raise DeskSettingsError(f"the desk's secret file {path} holds fewer than {SHORTEST_SECRET} characters: "
                                "delete it to have a new one made (everyone signs in again)")
    return secret
