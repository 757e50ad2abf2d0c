"""The platforms the toolkit can post to, as data.

Each platform is described once, here, by a :class:`PlatformSpec`: its limits, how it counts a post's
length, its media rules and the credentials an account needs. The checks, the preview and the adapters
all read these specs; nothing else hard-codes a platform's rules. The adapters themselves (which import
the platforms' client libraries) are loaded lazily by :func:`adapter_class`, so that commands which only
read plans never pay for importing tweepy, Mastodon.py or atproto.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from campaign.exceptions import UnknownPlatformError

if TYPE_CHECKING:
    from campaign.platforms.base import Adapter

CountingRule = Literal["twitter-text-v3", "mastodon", "graphemes", "characters", "little-text"]


@dataclass(frozen=True)
class PlatformSpec:
    """What a platform allows, and how it counts."""

    name: str
    """The name used in plans: ``x``, ``facebook``, ``mastodon``, ``bluesky``, ``linkedin``, ``instagram``."""
    label: str
    """The platform's name for people."""
    max_length: int
    counting: CountingRule
    """How a post's length is counted; see :mod:`campaign.counting`."""
    max_images: int
    max_alt_text: int
    """Longest alt text the platform accepts, in characters."""
    credentials: tuple[str, ...]
    """The credentials an account needs, each read from an environment variable the plan names."""
    max_bytes: int | None = None
    """The longest text in UTF-8 bytes, where the platform limits that as well (Bluesky: 3,000)."""
    read_lag: float = 0.0
    """Seconds the platform's reads may lag its writes. After a request that may have created a post, a lookup
    that finds nothing is trusted only once this long has passed since the request went out."""
    optional_credentials: tuple[str, ...] = ()
    metrics_batch: int = 1
    """How many posts one metrics request may ask about."""
    adapter: str = ""
    """``module:Class`` of the adapter, imported only when something publishes."""
    colour: str = "#555555"
    """The platform's colour in reports' charts."""
    terminal_colour: str = "white"
    """The platform's colour in terminal previews (a name Click knows)."""
    max_image_bytes: int | None = None
    """The largest image file the platform takes, in bytes (checked at `validate`, not discovered at publish)."""
    image_types: tuple[str, ...] = ("image/png", "image/jpeg", "image/gif", "image/webp")
    """The image types (MIME) it takes, of those a plan may use."""
    max_image_pixels: int | None = None
    """The most pixels (width × height) an image may have."""
    max_image_side: int | None = None
    """The longest an image's width or height may be, in pixels."""
    max_gif_pixels: int | None = None
    """The most pixels a GIF may have, where the platform limits GIFs further."""
    aspect_ratios: tuple[float, float] | None = None
    """The narrowest and widest an image may be, as width ÷ height, where the platform refuses others."""
    threads: bool = True
    """Whether a post can reply to another (``reply_to:``); LinkedIn has no threads."""
    min_images: int = 0
    """The fewest images a post may have (Instagram: every post is an image or a carousel)."""
    max_hashtags: int | None = None
    """The most hashtags a post may have, where the platform refuses more (Instagram: 30)."""
    media_host: bool = False
    """Whether the platform fetches images itself from a public URL, so its accounts name a media host."""


PLATFORMS: dict[str, PlatformSpec] = {
    spec.name: spec
    for spec in (
        PlatformSpec(
            name="x",
            label="X",
            max_length=280,
            counting="twitter-text-v3",
            max_images=4,
            max_alt_text=1000,
            credentials=("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
            # "Image: 5 MB" (https://docs.x.com/x-api/media, read 2026): 5 MiB, as X's own answer says
            # ("File size exceeds 5242880 bytes"); the adapter uploads every image, GIFs too, as `tweet_image`,
            # so the 15 MB GIF limit (animated GIFs sent as `tweet_gif`) does not apply. JPEG, PNG, GIF and WebP,
            # at most 8192×8192 (X's media best practices).
            max_image_bytes=5 * 1024 * 1024,
            max_image_side=8192,
            read_lag=20.0,
            metrics_batch=100,
            adapter="campaign.platforms.x:XAdapter",
            colour="#111111",
            terminal_colour="white",
        ),
        PlatformSpec(
            name="facebook",
            label="Facebook",
            max_length=63206,
            counting="characters",
            max_images=10,
            max_alt_text=1000,
            credentials=("page_id", "page_access_token"),
            optional_credentials=("app_secret",),
            # Graph refuses larger photos with error 1366046, "Your photos couldn't be uploaded. Photos should be
            # less than 4 MB and saved as JPG, PNG, GIF, TIFF, HEIF or WebP files"; Meta's photo upload guide
            # (https://developers.facebook.com/docs/graph-api/photo-uploads) says the same 4 MB. Taken as
            # 4,000,000 bytes, the stricter reading. Meta documents no pixel limit (it resizes).
            max_image_bytes=4_000_000,
            read_lag=20.0,
            metrics_batch=50,
            adapter="campaign.platforms.facebook:FacebookAdapter",
            colour="#1877f2",
            terminal_colour="blue",
        ),
        PlatformSpec(
            name="mastodon",
            label="Mastodon",
            max_length=500,
            counting="mastodon",
            max_images=4,
            max_alt_text=1500,
            credentials=("access_token",),
            # Mastodon's defaults (app/models/media_attachment.rb, concerns/attachmentable.rb, 4.x): images up to
            # 16 MB (`IMAGE_LIMIT = 16.megabytes`, a server may change it with MAX_IMAGE_SIZE), at most
            # 33,177,600 pixels (7680×4320, `MAX_MATRIX_LIMIT`), GIFs at most 921,600 (1280×720,
            # `GIF_MATRIX_LIMIT`); JPEG, PNG, GIF, WebP (and HEIC, AVIF).
            max_image_bytes=16 * 1024 * 1024,
            max_image_pixels=33_177_600,
            max_gif_pixels=921_600,
            read_lag=5.0,
            metrics_batch=1,
            adapter="campaign.platforms.mastodon:MastodonAdapter",
            colour="#6364ff",
            terminal_colour="magenta",
        ),
        PlatformSpec(
            name="bluesky",
            label="Bluesky",
            max_length=300,
            counting="graphemes",
            max_images=4,
            max_alt_text=2000,
            credentials=("app_password",),
            # The text is limited in graphemes and in bytes; a lookup reads the post's own record from the PDS,
            # which answers from the repository it writes (no lag).
            max_bytes=3000,
            # The app.bsky.embed.images lexicon: an image blob of `image/*`, "May be up to 2 MB, formerly limited
            # to 1 MB" (`maxSize: 2000000`, @atproto/api 0.20 in tests/atproto; lexicons/app/bsky/embed/images.json).
            # The lexicon sets no pixel limit (its old maxWidth/maxHeight of 2000 are gone).
            max_image_bytes=2_000_000,
            metrics_batch=25,
            adapter="campaign.platforms.bluesky:BlueskyAdapter",
            colour="#29b6f6",
            terminal_colour="cyan",
        ),
        PlatformSpec(
            name="linkedin",
            label="LinkedIn",
            # The Posts API documents only its FIELD_LENGTH_TOO_LONG error; LinkedIn's 3,000 characters are from
            # its UGC Post API ("The maximum length of the text of a UGC Post is 3000 characters"). How it counts
            # is not documented: counted here on the commentary as sent, its escapes included.
            max_length=3000,
            counting="little-text",
            # A multiImage post takes 2 to 20 images, a single image goes as `content.media`; alt text "Maximum
            # length is 4,086 characters"; "JPG, GIF, and PNG formats", "Images with less than 36,152,320
            # pixels" (the Images API).
            max_images=20,
            max_alt_text=4086,
            image_types=("image/png", "image/jpeg", "image/gif"),
            max_image_pixels=36_152_319,
            credentials=("organization_id", "access_token"),
            # Not documented: a lookup that finds nothing is trusted as long after the request as on X and
            # Facebook.
            read_lag=20.0,
            # Third-party clients ask for at most 20 shares' statistics at once; LinkedIn documents no limit.
            metrics_batch=20,
            threads=False,
            adapter="campaign.platforms.linkedin:LinkedInAdapter",
            colour="#0a66c2",
            terminal_colour="bright_blue",
        ),
        PlatformSpec(
            name="instagram",
            label="Instagram",
            # "2,200 characters maximum" for a caption, "30 hashtags maximum" (the IG User Media reference,
            # https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media);
            # counted in characters, as Meta's other limits are.
            max_length=2200,
            counting="characters",
            max_hashtags=30,
            # Every post is an image (JPEG only: "JPEG is the only image format supported. Extended JPEG formats
            # such as MPO and JPS are not supported", the Content Publishing guide,
            # https://developers.facebook.com/docs/instagram-api/guides/content-publishing), or a carousel of up to
            # 10. Images "Maximum file size: 8MB", "Must be within a 4:5 to 1.91:1 aspect ratio range" (the same
            # guide; 8 MB taken as 8,000,000 bytes, the stricter reading; Instagram refuses others: "Instagram only
            # accepts media with aspect ratios between 0.800 and 1.910", as mgp25/Instagram-API#1643 quotes it).
            # Alt text (`alt_text`, image posts since March 2025) has no documented limit: Facebook's 1,000.
            min_images=1,
            max_images=10,
            max_alt_text=1000,
            image_types=("image/jpeg",),
            max_image_bytes=8_000_000,
            aspect_ratios=(0.8, 1.91),
            media_host=True,
            credentials=("ig_user_id", "access_token"),
            # Not documented: a lookup that finds nothing is trusted as long after the request as on Facebook.
            read_lag=20.0,
            # Insights are asked for one media object at a time (GET /{ig-media-id}/insights).
            metrics_batch=1,
            # Comments are not posts of the account's feed: Instagram has no threads the toolkit can make.
            threads=False,
            adapter="campaign.platforms.instagram:InstagramAdapter",
            colour="#e1306c",
            terminal_colour="bright_magenta",
        ),
    )
}


def platform(name: str) -> PlatformSpec:
    """The spec of the platform called *name*; an unknown name says which names exist."""
    try:
        return PLATFORMS[name]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise UnknownPlatformError(f"there is no platform called {name!r}; the platforms are: {known}") from None


def adapter_class(name: str) -> type[Adapter]:
    """Import and return the adapter class for the platform called *name*."""
    module_name, _, class_name = platform(name).adapter.partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls
