"""An account's ``media_host:`` in a plan: where a platform that fetches images itself (Instagram) finds them.

Two kinds (see ``docs/plan-format.md``)::

    media_host:                                   media_host:
      bucket: lancs-campaign-media                  base_url: https://www.lancashire.police.uk/campaign-media/
      region: eu-west-2
      endpoint: https://s3.eu-west-2.amazonaws.com   # optional: another S3-compatible service
      prefix: instagram/                             # optional
      expires: 1h                                    # optional: how long the presigned URL works
      credentials:
        access_key_id: LANCS_MEDIA_KEY_ID
        secret_access_key: LANCS_MEDIA_SECRET

Every problem is reported with its line and the fix; the credentials are variable names, never quoted back.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from campaign.platforms import PLATFORMS
from campaign.platforms.credentials import is_variable_name, looks_secret
from campaign.platforms.media_host import (
    EXPIRES_RANGE,
    S3_CREDENTIALS,
    S3_OPTIONAL_CREDENTIALS,
    MediaHostSettings,
)
from campaign.problems import shown
from campaign.times import TimeProblem, bounded_duration
from campaign.yamlfile import Section, YamlMap, describe

if TYPE_CHECKING:
    from campaign.plan.loader import Loader

KEYS: dict[str, type | tuple[type, ...]] = {
    "bucket": str, "region": str, "endpoint": str, "prefix": str, "expires": str, "credentials": YamlMap,
    "base_url": str,
}
HINTS = {
    "bucket": "the S3 bucket's name, such as 'lancs-campaign-media'",
    "region": "the bucket's region, such as 'eu-west-2'",
    "endpoint": "the S3 API's address, such as 'https://s3.eu-west-2.amazonaws.com'",
    "prefix": "a folder in the bucket, such as 'instagram/'",
    "expires": "how long the presigned address works, such as 1h",
    "credentials": "the NAMES of the environment variables holding access_key_id and secret_access_key",
    "base_url": "the https:// address where the force serves the images, such as "
                "'https://www.lancashire.police.uk/campaign-media/'",
}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_URL = re.compile(r"(?P<scheme>https?)://(?P<host>[^\s/?#:]+)(:\d+)?(?P<path>/[^\s?#]*)?(?P<query>[?#]\S*)?")
_LOOPBACK = ("127.0.0.1", "localhost")
"""Hosts a plan may name over plain http: this machine (a test server, a local S3), never the internet."""
EXAMPLE_NAMES = {"access_key_id": "LANCS_MEDIA_KEY_ID", "secret_access_key": "LANCS_MEDIA_SECRET",
                 "session_token": "LANCS_MEDIA_SESSION_TOKEN"}


def fix_name(name: str) -> str:
    """How to write the credential *name* of a bucket: the name of the variable holding it."""
    return (f"write the NAME of the environment variable that holds it, e.g. `{name}: {EXAMPLE_NAMES[name]}`, and "
            "rotate the key if it was real")


def url_problem(url: str, what: str, query: bool = True) -> str | None:
    """What is wrong with *url* as the address of *what*, if anything: not an address, plain http to anywhere but
    this machine (Instagram fetches only https, and keys travel to an endpoint), or (without *query*) a query."""
    found = _URL.fullmatch(url)
    if found is None:
        return f"{shown(url)} is not an address"
    if found["scheme"] == "http" and found["host"] not in _LOOPBACK:
        return f"{shown(url)} is plain http; {what} must be https"
    if not query and found["query"]:
        return f"{shown(url)} has a query ({shown(found['query'])}); the file name is added to the address"
    return None


def read_media_host(loader: Loader, section: Section, platform: str, where: str) -> MediaHostSettings | None:
    """The account's media host, or ``None`` (reported when its platform needs one, or does not take one)."""
    spec = PLATFORMS[platform]
    value, line = section.get("media_host"), section.value_line("media_host")
    if value is None:
        if spec.media_host and "media_host" not in section.blank:
            loader.error(section.line, where, f"{spec.label} fetches every image from a public address, and the "
                         "account names no media_host", "add `media_host:` with `bucket:` (an S3 bucket the toolkit "
                         "uploads to) or `base_url:` (where the force serves the images); see docs/plan-format.md")
        return None
    if not spec.media_host:
        loader.error(line, f"{where}.media_host", f"{spec.label} takes the images themselves: it needs no media_host",
                     "remove `media_host:` from this account")
        return None
    host = Section.of(value, f"{where}.media_host", line, loader.report, KEYS, hints=HINTS)
    if host is None:
        return None
    bucket, base_url = host.get("bucket"), host.get("base_url")
    if (bucket is None) == (base_url is None):
        if host.blank & {"bucket", "base_url"}:
            return None  # blank: reported
        both = bucket is not None
        loader.error(line, f"{where}.media_host", "a media host is a bucket or a base address, and this one names "
                     f"{'both' if both else 'neither'}", "keep one of `bucket:` (with its `credentials:`) and "
                     "`base_url:`" if both else "write `bucket:` (with its `credentials:`) or `base_url:`")
        return None
    if base_url is not None:
        others = [key for key in KEYS if key != "base_url" and key in host.data]
        if others:
            loader.error(host.value_line(others[0]), f"{where}.media_host.{others[0]}", f"`{others[0]}:` belongs to "
                         "a bucket, and this media host is a base address", f"remove `{others[0]}:`")
        problem = url_problem(base_url, "the address Instagram fetches images from", query=False)
        if problem is not None:
            loader.error(host.value_line("base_url"), f"{where}.media_host.base_url", problem,
                         f"write {HINTS['base_url']}")
            return None
        return MediaHostSettings(base_url=base_url)
    return _bucket(loader, host, str(bucket), f"{where}.media_host")


def _bucket(loader: Loader, host: Section, bucket: str, where: str) -> MediaHostSettings | None:
    ok = True
    if not _BUCKET.fullmatch(bucket):
        loader.error(host.value_line("bucket"), f"{where}.bucket", f"{shown(bucket)} is not an S3 bucket name",
                     "write the bucket's name: 3 to 63 lower-case letters, digits, '.' and '-'")
        ok = False
    endpoint = host.get("endpoint")
    problem = url_problem(endpoint, "an S3 API that is given the bucket's keys") if endpoint is not None else None
    if problem is not None:
        loader.error(host.value_line("endpoint"), f"{where}.endpoint", problem,
                     f"write {HINTS['endpoint']}, or remove it to use AWS's own")
        ok = False
    expires = timedelta(seconds=3600)
    if host.get("expires") is not None:
        try:
            expires = bounded_duration(host.get("expires"), timedelta(seconds=EXPIRES_RANGE[0]),
                                       timedelta(seconds=EXPIRES_RANGE[1]), "the expiry")
        except TimeProblem as problem:
            loader.error(host.value_line("expires"), f"{where}.expires", problem.message, problem.fix)
            ok = False
    credentials = _credentials(loader, host, where)
    if credentials is None or not ok:
        return None
    return MediaHostSettings(bucket=bucket, endpoint=endpoint, region=host.get("region"),
                             prefix=host.get("prefix") or "", expires=int(expires.total_seconds()),
                             credentials=credentials)


def _credentials(loader: Loader, host: Section, where: str) -> dict[str, str] | None:
    """The names of the variables holding the bucket's keys; whatever is written there is never quoted back."""
    value: Any = host.data.get("credentials")
    if "credentials" in host.blank:
        return None  # reported
    if not isinstance(value, YamlMap):
        loader.error(host.value_line("credentials") if "credentials" in host.data else host.line,
                     f"{where}.credentials", "a bucket needs the names of the environment variables holding its "
                     f"keys, found {describe(value, secret=True)}{' (not shown: it may be a secret)' if value else ''}",
                     "write `credentials:` with `access_key_id: LANCS_MEDIA_KEY_ID` and `secret_access_key: "
                     "LANCS_MEDIA_SECRET` under it, each the NAME of the environment variable holding the key")
        return None
    allowed = S3_CREDENTIALS + S3_OPTIONAL_CREDENTIALS
    names = Section(value, f"{where}.credentials", loader.report, dict.fromkeys(allowed, str), required=S3_CREDENTIALS,
                    secret=True, hints=dict.fromkeys(allowed, "the NAME of the environment variable that holds it"))
    found: dict[str, str] = {}
    for name, variable, line in names.items():
        if name not in allowed or name in names.blank:
            continue  # reported
        if not isinstance(variable, str) or not is_variable_name(variable) or looks_secret(variable):
            loader.error(line, f"{where}.credentials.{name}", "this is not the name of an environment variable (not "
                         "shown: it may be a secret, and you must never put a secret in a plan)", fix_name(name))
            continue
        found[name] = variable
    return found if all(name in found for name in S3_CREDENTIALS) else None
