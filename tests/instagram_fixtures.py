"""What tests of Instagram share: an S3 server for its media host, JPEGs, and posts with an image.

The S3 server is moto's, over real HTTP on a free port (moto[server] from PyPI). Nothing is mocked: boto3 signs and
sends real requests to it, and the sandbox's Instagram fetches the presigned URLs it hands out over HTTP, as
Instagram fetches them from S3.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from campaign.platforms import PLATFORMS
from campaign.platforms.base import AccountConfig, MediaItem, Outgoing
from campaign.platforms.media_host import MediaHostSettings, S3MediaHost
from campaign.sandbox import Sandbox

BUCKET = "lancs-campaign-media"
REGION = "eu-west-2"
KEYS = {"access_key_id": "AKIASANDBOXMEDIAKEY1", "secret_access_key": "sandbox-media-secret-key-0123456789"}


@dataclass(frozen=True)
class S3Server:
    """A running S3 server with one bucket."""

    endpoint: str
    settings: MediaHostSettings
    """The plan's view of the bucket: its endpoint, region, bucket and the variables holding its keys."""
    environ: dict[str, str]
    """Those variables, holding the keys."""

    def host(self) -> S3MediaHost:
        return S3MediaHost(self.settings, KEYS)

    def client(self):  # type: ignore[no-untyped-def]  # boto3 is untyped
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=KEYS["access_key_id"], aws_secret_access_key=KEYS["secret_access_key"])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free port of 127.0.0.1, with the bucket :data:`BUCKET` made."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    variables = {"access_key_id": "LANCS_MEDIA_KEY_ID", "secret_access_key": "LANCS_MEDIA_SECRET"}
    settings = MediaHostSettings(bucket=BUCKET, endpoint=endpoint, region=REGION, prefix="instagram/",
                                 credentials=variables)
    made = S3Server(endpoint, settings, {variables[name]: KEYS[name] for name in KEYS})
    made.client().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield made
    server.stop()


def instagram_config(sandbox: Sandbox, s3: S3Server, timeout: float = 5.0) -> AccountConfig:
    """The sandbox's Instagram account, with the S3 server as its media host."""
    return dataclasses.replace(sandbox.account_config("instagram", timeout=timeout), media_host=s3.host())


def jpeg_bytes(width: int = 64, height: int = 64, colour: tuple[int, int, int] = (225, 48, 108)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def jpeg(name: str = "pocket-guide.jpg", alt: str = "The pocket guide's cover", **size: int) -> MediaItem:
    """A small JPEG as an adapter is given it."""
    return MediaItem(name, jpeg_bytes(**size), alt, "image/jpeg")


def post_for(platform: str, text: str) -> Outgoing:
    """*text* as a post *platform* takes: with an image where every post is one (Instagram)."""
    return Outgoing(text, images=(jpeg(),) if PLATFORMS[platform].min_images else ())
