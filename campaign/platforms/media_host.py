"""Where a platform that fetches images itself (Instagram) finds the approved bytes: the account's media host.

Instagram takes no upload: a container names an ``image_url`` and Instagram GETs it while it processes the
container. So an account of such a platform names a media host in the plan (see ``docs/plan-format.md`` and
``docs/decisions/0016-instagram-media-host.md``), one of two kinds:

- an S3-compatible bucket (``bucket:``, with ``endpoint:``, ``region:``, ``prefix:``, ``expires:`` and the names
  of the environment variables holding its keys): the approved bytes are PUT under their own SHA-256 with
  ``ChecksumSHA256`` (S3 refuses bytes that arrive different), a presigned GET URL is made that expires after
  ``expires`` (an hour unless the plan says otherwise), and the bytes it serves are read back and compared with
  the approved ones before Instagram is handed it;
- a plain ``base_url:`` where the force already serves the campaign's images by file name: before the URL is
  handed over, the toolkit GETs it and refuses the post when what is served there is not the approved image.

:class:`MediaHostSettings` is what the plan says (no secrets: variable names only; stored as JSON with the
account); :func:`media_host` turns it into a :class:`MediaHost` with the keys read from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from campaign.exceptions import CampaignError
from campaign.platforms.credentials import register_secrets, secret_values
from campaign.platforms.errors import AccountProblem, MediaNotServed, PlatformError, Transient

if TYPE_CHECKING:
    from campaign.platforms.base import MediaItem

DEFAULT_EXPIRES = 3600
"""Seconds a presigned URL works: Instagram fetches the image while it processes the container, within seconds;
an hour leaves room for a slow queue and is still short-lived."""
EXPIRES_RANGE = (300, 7 * 24 * 3600)
"""Five minutes to seven days (the longest a SigV4 presigned URL may live)."""
S3_CREDENTIALS = ("access_key_id", "secret_access_key")
S3_OPTIONAL_CREDENTIALS = ("session_token",)
PROBE = b"campaign accounts check: this object may be deleted\n"
"""What ``accounts check`` puts in a bucket (under its SHA-256, beside the pictures) to prove the keys and the
presigned reads work."""
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


@dataclass(frozen=True)
class MediaHostSettings:
    """A media host as a plan names it: a bucket or a base URL, and the variables holding the bucket's keys."""

    bucket: str | None = None
    endpoint: str | None = None
    """The S3 API's address (``https://s3.eu-west-2.amazonaws.com``, a MinIO server); ``None``: AWS's own."""
    region: str | None = None
    prefix: str = ""
    expires: int = DEFAULT_EXPIRES
    credentials: Mapping[str, str] = field(default_factory=dict)
    """Credential name -> environment variable NAME (``access_key_id``, ``secret_access_key``, ``session_token``)."""
    base_url: str | None = None

    def to_json(self) -> str:
        if self.base_url is not None:
            return json.dumps({"base_url": self.base_url})
        return json.dumps({"bucket": self.bucket, "endpoint": self.endpoint, "region": self.region,
                           "prefix": self.prefix, "expires": self.expires,
                           "credentials": dict(self.credentials)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MediaHostSettings:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


class MediaHost(ABC):
    """Makes an approved image reachable at a URL a platform can GET."""

    @abstractmethod
    def url_for(self, image: MediaItem, platform: str, timeout: float) -> str:
        """A URL that serves exactly *image*'s bytes, or a :class:`PlatformError` saying why there is none."""

    def check(self, platform: str, timeout: float, pictures: Sequence[MediaItem] = ()) -> str:
        """What was checked, as a sentence, or a :class:`PlatformError` if the host cannot work now (``accounts
        check``). *pictures*: the plan's pictures for the account, each checked where the host serves it (a base
        URL); a bucket is checked with a test object of its own, as each picture is put there when it goes out."""
        for picture in pictures:
            self.url_for(picture, platform, timeout)
        return f"{len(pictures)} picture{'' if len(pictures) == 1 else 's'} served as in the plan"


class S3MediaHost(MediaHost):
    """Uploads the approved bytes to an S3-compatible bucket and hands out a presigned GET URL."""

    def __init__(self, settings: MediaHostSettings, keys: Mapping[str, str]) -> None:
        self.settings = settings
        self._keys = dict(keys)
        register_secrets(secret_values(self._keys))
        self._clients: dict[float, Any] = {}
        self._lock = threading.Lock()

    def _client(self, timeout: float) -> Any:
        """boto3's S3 client for *timeout* (made once: making one takes a tenth of a second; clients are
        thread-safe). boto3 is imported here, so that commands that never publish to Instagram never load it."""
        with self._lock:
            if timeout not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[timeout] = boto3.client(
                    "s3", endpoint_url=self.settings.endpoint, region_name=self.settings.region or "us-east-1",
                    aws_access_key_id=self._keys["access_key_id"],
                    aws_secret_access_key=self._keys["secret_access_key"],
                    aws_session_token=self._keys.get("session_token"),
                    config=Config(signature_version="s3v4", connect_timeout=timeout, read_timeout=timeout,
                                  retries={"max_attempts": 1}),
                )
            return self._clients[timeout]

    def check(self, platform: str, timeout: float, pictures: Sequence[MediaItem] = ()) -> str:
        """Do what a post does, with a few bytes of its own: put them in the bucket, presign, read them back."""
        from campaign.platforms.base import MediaItem

        self.url_for(MediaItem("campaign-check", PROBE, "", "text/plain"), platform, timeout)
        return f"s3://{self.settings.bucket}: a test object stored, presigned and read back"

    def url_for(self, image: MediaItem, platform: str, timeout: float) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        settings = self.settings
        client = self._client(timeout)
        digest = hashlib.sha256(image.data).digest()
        key = f"{settings.prefix}{digest.hex()}{EXTENSIONS.get(image.mime_type, '')}"
        where = f"s3://{settings.bucket}/{key}"
        try:
            answer = client.put_object(Bucket=settings.bucket, Key=key, Body=image.data,
                                       ContentType=image.mime_type,
                                       ChecksumSHA256=base64.b64encode(digest).decode())
            if answer.get("ChecksumSHA256") not in (None, base64.b64encode(digest).decode()):
                raise Transient(platform, f"the media host stored {where} with another checksum than the approved "
                                "image's; nothing was posted")
            url: str = client.generate_presigned_url("get_object", Params={"Bucket": settings.bucket, "Key": key},
                                                     ExpiresIn=settings.expires)
        except ClientError as error:
            raise s3_error(error, platform, where) from None
        except BotoCoreError as error:
            raise Transient(platform, f"could not reach the media host for {where} ({type(error).__name__}); "
                            "nothing was posted") from None
        # Not every S3-compatible server checks ChecksumSHA256 (moto 5 stores any bytes under any checksum): read the
        # object back through the very URL the platform will be given.
        return checked(url, image, platform, timeout)


def s3_error(error: Any, platform: str, where: str) -> PlatformError:
    """The kind of an S3 refusal: the bucket or its keys are wrong (a person must fix them), or it failed."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    said = f"{code or status}: {error.response.get('Error', {}).get('Message', '')}".strip()
    if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
        return AccountProblem(platform, f"the media host refused to store {where} ({said}): check the plan's "
                              "media_host bucket and the keys its variables hold", status=status, code=code)
    if code in ("BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"):
        return Transient(platform, f"the image's bytes reached the media host changed ({said}); nothing was posted",
                         status=status, code=code)
    return Transient(platform, f"the media host failed to store {where} ({said}); nothing was posted",
                     status=status, code=code)


class ServedMediaHost(MediaHost):
    """Images the force already serves at ``base_url`` + file name: checked against the approved bytes first."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"

    def url_for(self, image: MediaItem, platform: str, timeout: float) -> str:
        return checked(self.base_url + quote(image.name), image, platform, timeout)


def checked(url: str, image: MediaItem, platform: str, timeout: float) -> str:
    """*url*, once a GET of it (as the platform will make) gave exactly *image*'s approved bytes; otherwise the
    error that says what is wrong there. Nothing was posted either way."""
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise Transient(platform, f"could not fetch {shown_url(url)} to check it before posting "
                        f"({type(error).__name__}); nothing was posted") from None
    if response.status_code >= 500:
        raise Transient(platform, f"{shown_url(url)} answered {response.status_code}; nothing was posted",
                        status=response.status_code)
    if response.status_code != 200:
        raise MediaNotServed(platform, f"{shown_url(url)} answered {response.status_code}, so the platform could not "
                             f"fetch {image.name} there: put the approved file at that address, or name another "
                             "media_host in the plan; nothing was posted", status=response.status_code)
    served = hashlib.sha256(response.content).hexdigest()
    approved = hashlib.sha256(image.data).hexdigest()
    if served != approved:
        raise MediaNotServed(platform, f"{shown_url(url)} serves other bytes than the approved {image.name} "
                             f"(checksum {served[:12]}… served, {approved[:12]}… approved): put the approved file "
                             "there, or have the one served approved; nothing was posted")
    return url


def shown_url(url: str) -> str:
    """*url* without its query (a presigned URL's signature is a credential for as long as it lasts)."""
    return url.split("?", 1)[0]


def media_host(settings: MediaHostSettings, environ: Mapping[str, str] = os.environ) -> MediaHost:
    """The media host *settings* name, its keys read from the variables the plan names for them."""
    if settings.base_url is not None:
        return ServedMediaHost(settings.base_url)
    keys: dict[str, str] = {}
    problems = []
    for name in S3_CREDENTIALS + S3_OPTIONAL_CREDENTIALS:
        variable = settings.credentials.get(name)
        if variable is None:
            if name in S3_CREDENTIALS:
                problems.append(f"the media host names no environment variable for {name!r}: add "
                                f"`{name}: SOME_VARIABLE` under its credentials")
            continue
        value = environ.get(variable, "").strip()
        if not value:
            problems.append(f"the media host's {name!r} is read from the environment variable {variable}, which is "
                            f"not set: set it (for example `export {variable}=...`) before running this command")
            continue
        keys[name] = value
    if problems:
        raise CampaignError("; ".join(problems) + ".")
    return S3MediaHost(settings, keys)


__all__ = ["MediaHost", "MediaHostSettings", "S3MediaHost", "ServedMediaHost", "media_host"]
