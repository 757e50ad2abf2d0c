"""Credentials: where they come from, and keeping them out of every message and log line.

A plan names, for each account, the environment variable that holds each credential; the values
themselves never live in a plan, the store, an export or a log. :func:`resolve_credentials` reads
them. (An OS keyring lookup is not offered: the ``keyring`` package is not a dependency.)

Every adapter registers the secret values it was given with :func:`register_secrets`. From then on
:func:`redact` replaces them with ``[redacted]`` in any text, every platform error message passes
through it, and :func:`install_log_redaction` makes the logging module do the same to every record,
whichever library logged it (urllib3 logs request URLs, and Facebook puts the token in the query
string; oauthlib logs the OAuth header at DEBUG level).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from campaign.exceptions import CampaignError

if TYPE_CHECKING:
    from campaign.platforms import PlatformSpec

NOT_SECRET = frozenset({"page_id", "ig_user_id"})
"""Credential names whose values are public identifiers (a Facebook page id appears in every post id, an Instagram
user id in every request path)."""

_VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def is_variable_name(written: str) -> bool:
    """Whether *written* is how a plan names an environment variable: upper-case letters, digits and '_'."""
    return _VARIABLE_NAME.fullmatch(written) is not None


def looks_secret(name: str) -> bool:
    """An upper-case, underscore-only value that is still probably a pasted key rather than a variable's name:
    a long run without underscores, digits inside a long run, or many digits (``AKIAIOSFODNN7EXAMPLE``)."""
    parts = name.split("_")
    return (len(name) > 100 or sum(c.isdigit() for c in name) > 6
            or any(len(p) > 20 or (len(p) > 12 and any(c.isdigit() for c in p)) for p in parts))


REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_installed = False


class MissingCredentialError(CampaignError):
    """A credential the account needs is not available."""


def resolve_credentials(
    spec: PlatformSpec,
    env_names: Mapping[str, str],
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """Read each credential of *spec* from the environment variable *env_names* gives for it.

    Required credentials must be named and set; an optional one is read only when the plan names a
    variable for it. Every problem is reported at once, naming the credential and the variable
    (never a value) and saying how to fix it.
    """
    values: dict[str, str] = {}
    problems: list[str] = []
    unknown = sorted(set(env_names) - set(spec.credentials) - set(spec.optional_credentials))
    for name in unknown:
        known = ", ".join(spec.credentials + spec.optional_credentials)
        problems.append(f"{spec.label} has no credential called {name!r}; the credentials are: {known}")
    for name in spec.credentials + spec.optional_credentials:
        variable = env_names.get(name)
        if variable is None:
            if name in spec.credentials:
                problems.append(
                    f"the plan names no environment variable for the {spec.label} credential {name!r}: "
                    f"add `{name}: SOME_VARIABLE` to the account's credentials"
                )
            continue
        value = environ.get(variable, "")
        if not value.strip():
            problems.append(
                f"the {spec.label} credential {name!r} is read from the environment variable {variable}, "
                f"which is not set: set it (for example `export {variable}=...`) before running this command"
            )
            continue
        values[name] = value.strip()
    if problems:
        raise MissingCredentialError("; ".join(problems) + ".")
    return values


def secret_values(credentials: Mapping[str, str]) -> list[str]:
    """The values among *credentials* that must never be shown."""
    return [value for name, value in credentials.items() if name not in NOT_SECRET and value]


def register_secrets(values: Iterable[str]) -> None:
    """Remember *values* so that :func:`redact` and the log filter hide them from now on."""
    global _secrets
    fresh = {value for value in values if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH}
    if not fresh - _secrets:
        return
    with _lock:
        _secrets = _secrets | fresh


def redact(text: str) -> str:
    """*text* with every registered secret replaced by ``[redacted]``."""
    secrets = _secrets
    if not secrets or not text:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    """Whether *text* contains a registered secret."""
    return any(secret in text for secret in _secrets)


def install_log_redaction() -> None:
    """Make every log record pass through :func:`redact` (idempotent).

    Done with a log-record factory rather than a filter because a filter on a logger does not see
    records of its child loggers, and a filter on a handler would have to be added to every handler
    an application configures.
    """
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _secrets:
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed format string: leave it to logging to report
        return
    if contains_secret(message):
        record.msg = redact(message)
        record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        if contains_secret(text):
            record.exc_text = redact(text)
