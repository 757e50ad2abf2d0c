"""Small plans written into a temporary folder, for tests of loading, rendering and the CLI."""

from __future__ import annotations

import struct
import textwrap
import zlib
from pathlib import Path

BASE_PLAN = """\
campaign:
  name: Test week
  id: test-week
  timezone: Europe/London
  starts: 2027-03-15
  ends: 2027-03-21
  hashtags: [SeeItShareIt, ModernSlavery]
facts:
  phones:
    helpline: {label: Modern Slavery & Exploitation Helpline, number: '08000 121 700'}
    police: {label: Lancashire Police, number: '101'}
    emergency: {label: Emergency, number: '999'}
  links:
    advice: https://www.lancashire.police.uk/help-advice/safer-communities/modern-slavery/
accounts:
  lancs-x:
    platform: x
    handle: '@LancsPolice'
    credentials:
      consumer_key: X_CONSUMER_KEY
      consumer_secret: X_CONSUMER_SECRET
      access_token: X_ACCESS_TOKEN
      access_token_secret: X_ACCESS_TOKEN_SECRET
  lancs-facebook:
    platform: facebook
    handle: Lancashire Police
    credentials: {page_id: FB_PAGE_ID, page_access_token: FB_PAGE_TOKEN}
  lancs-mastodon:
    platform: mastodon
    handle: '@lancspolice@police.social'
    credentials: {access_token: MASTODON_TOKEN}
  lancs-bluesky:
    platform: bluesky
    handle: lancspolice.bsky.social
    credentials: {app_password: BLUESKY_APP_PASSWORD}
events:
  preston-training:
    title: Modern slavery training
    start: '2027-03-16 10:00'
    location: Preston Town Hall
"""

WITH_LINKEDIN = BASE_PLAN.replace("events:\n", """\
  lancs-linkedin:
    platform: linkedin
    handle: lancashire-police
    credentials: {organization_id: LINKEDIN_ORGANIZATION_ID, access_token: LINKEDIN_ACCESS_TOKEN}
events:
""", 1)
"""BASE_PLAN with a LinkedIn page, ``lancs-linkedin``, as well."""
WITH_INSTAGRAM = BASE_PLAN.replace("events:\n", """\
  lancs-instagram:
    platform: instagram
    handle: lancspolice
    credentials: {ig_user_id: INSTAGRAM_USER_ID, access_token: INSTAGRAM_ACCESS_TOKEN}
    media_host:
      bucket: lancs-campaign-media
      region: eu-west-2
      credentials: {access_key_id: LANCS_MEDIA_KEY_ID, secret_access_key: LANCS_MEDIA_SECRET}
events:
""", 1)
"""BASE_PLAN with an Instagram account, ``lancs-instagram``, whose images go out from an S3 bucket, as well."""


def tiny_png() -> bytes:
    """A valid 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(
        b"IEND", b""
    )


def write_campaign(root: Path, posts: str, templates: dict[str, str] | None = None, base: str = BASE_PLAN) -> Path:
    """Write a plan (BASE_PLAN + a ``posts:`` section) and its templates under *root*; return the plan's path."""
    (root / "schedules" / "images").mkdir(parents=True, exist_ok=True)
    (root / "posts").mkdir(exist_ok=True)
    (root / "schedules" / "images" / "guide.png").write_bytes(tiny_png())
    for name, body in (templates or {}).items():
        (root / "posts" / name).write_text(textwrap.dedent(body), encoding="utf-8")
    plan = root / "schedules" / "plan.yaml"
    plan.write_text(base + "posts:\n" + textwrap.indent(textwrap.dedent(posts), "  "), encoding="utf-8")
    return plan


def line_of(path: Path, fragment: str) -> int:
    """The 1-based line of the first line of *path* that contains *fragment*."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} is not in {path}")


def base_with(campaign_keys: str, base: str = BASE_PLAN) -> str:
    """*base* with *campaign_keys* (YAML lines, unindented) added at the end of its ``campaign:`` section."""
    marker = "facts:\n"
    assert marker in base, "the base plan has no facts: section to insert before"
    extra = textwrap.indent(textwrap.dedent(campaign_keys), "  ")
    return base.replace(marker, extra + marker, 1)
