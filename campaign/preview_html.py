"""The HTML preview: one self-contained page, a card per post styled like its platform, by day — the document
a campaign is signed off from.

Everything the page needs is inside it — styles inline, images as ``data:`` URIs — so it can be emailed to
whoever signs the campaign off and opened anywhere, offline, with no script. Each distinct image is inlined
once, as an SVG symbol that every card showing it uses, so an image on four accounts' cards costs its bytes
once, not four times. Images are read only from inside the campaign folder (:mod:`campaign.plan.paths`): a
file that has since become a symlink out is not shown.

Each card carries its post's content hash (``<article data-key=… data-hash=…>``), so the page itself is what
``campaign approve --preview`` checks an approval against (:func:`previewed_hashes`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import groupby
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from campaign import twitter_text
from campaign.cards import Card, CardImage, ShownImage, side_by_side
from campaign.plan.languages import describe_language
from campaign.plan.paths import OutsideCampaign, UnusablePath, campaign_folder, inside
from campaign.problems import Problem, shown
from campaign.render import Draft, RenderedPlan

NOT_SHOWN = ("data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="120"><rect width="100%" height="100%" '
    b'fill="#eee"/><text x="16" y="66" font-family="sans-serif" font-size="16">Not shown: the file is missing '
    b'or outside the campaign folder</text></svg>').decode("ascii"))
"""What a card shows instead of an image that is not (or no longer) inside the campaign folder."""
NOT_SHOWN_SIZE = (480, 120)
UNKNOWN_SIZE = (400, 300)
"""The box for an image whose size cannot be read (a damaged file): drawn inside it, its shape kept."""


@dataclass(frozen=True)
class PageImage:
    """One image as the page defines it, once: the symbol's id, the bytes and the shape."""

    id: str
    data_uri: str
    width: int
    height: int


_NOT_SHOWN = PageImage("not-shown", NOT_SHOWN, *NOT_SHOWN_SIZE)


class PageImages:
    """The images of one page: each file read once (confined to the campaign folder *root*) and each distinct
    image (by the SHA-256 of its bytes) defined once, however many cards show it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_path: dict[Path, PageImage] = {}
        self._defined: dict[str, PageImage] = {}

    @property
    def definitions(self) -> list[PageImage]:
        """What the page defines, in the order first shown."""
        return list(self._defined.values())

    def shown(self, image: CardImage) -> ShownImage:
        """How a card shows *image*: a use of its definition (or of the "not shown" one)."""
        page_image = self._page_image(image)
        return ShownImage(f"#{page_image.id}", page_image.width, page_image.height)

    def sized(self, card: Card) -> Card:
        """*card* with the width and height of each of its images that could be read."""
        sizes = {}
        for image in card.images:
            page_image = self._page_image(image)
            if page_image is not _NOT_SHOWN:
                sizes[image.id] = (page_image.width, page_image.height)
        return card.with_image_sizes(sizes)

    def _page_image(self, image: CardImage) -> PageImage:
        if image.path is None:
            return self._define(_NOT_SHOWN)
        found = self._by_path.get(image.path)
        if found is None:
            found = self._by_path[image.path] = self._define(self._read(image.path, image.mime_type))
        return found

    def _define(self, page_image: PageImage) -> PageImage:
        return self._defined.setdefault(page_image.id, page_image)

    def _read(self, path: Path, mime_type: str) -> PageImage:
        try:
            data = inside(path, self.root).read_bytes()
        except (OSError, OutsideCampaign, UnusablePath):
            return _NOT_SHOWN
        width, height = image_size(data) or UNKNOWN_SIZE
        return PageImage(f"img-{hashlib.sha256(data).hexdigest()}",
                         f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}", width, height)


def image_size(data: bytes) -> tuple[int, int] | None:
    """The width and height of the image in *data*, from its header; None if Pillow cannot read it."""
    from PIL import Image  # only pages with images need Pillow

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def _rich_text(text: str) -> Markup:
    """The post's text, escaped, with its hashtags and links marked as the platform would show them."""
    entities = [(e.start, e.end, "hashtag") for e in twitter_text.extract_hashtags_with_indices(text)]
    entities += [(e.start, e.end, "link") for e in twitter_text.extract_urls_with_indices(text)]
    pieces: list[str] = []
    position = 0
    for start, end, kind in sorted(entities):
        if start < position:
            continue
        pieces.append(str(escape(text[position:start])))
        pieces.append(f'<span class="{kind}">{escape(text[start:end])}</span>')
        position = end
    pieces.append(str(escape(text[position:])))
    return Markup(re.sub(r"\n", "<br>", "".join(pieces)))


def environment() -> Environment:
    """The templates' environment, with the filters the card macro (``card.html.j2``) needs."""
    env = Environment(loader=PackageLoader("campaign", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["rich_text"] = _rich_text
    env.filters["language_name"] = describe_language
    return env


def html_preview(rendered: RenderedPlan, drafts: list[Draft]) -> str:
    """The page for *drafts* (a selection of *rendered*'s): a reply quotes its parent's words even when the
    parent is not among them."""
    env = environment()
    images = PageImages(campaign_folder(rendered.path))
    by_key = {draft.key: draft for draft in rendered.drafts}
    cards = [images.sized(Card.from_draft(draft, by_key.get(draft.reply_to or ""))) for draft in drafts]
    groups = side_by_side(cards, [(draft.key, draft.follows) for draft in drafts])
    days = [(day, list(items)) for day, items in groupby(groups, key=lambda group: group[0].when.local.date())]
    return env.get_template("preview.html.j2").render(
        rendered=rendered,
        problems=shown_problems(rendered, drafts),
        plan=rendered.plan,
        days=days,
        drafts=drafts,
        images=images,
        image_source=images.shown,
    )


def shown_problems(rendered: RenderedPlan, drafts: list[Draft]) -> list[Problem]:
    """The problems of the plan itself and of the posts shown (a preview of one platform lists no other
    platform's warnings), in the plan's order."""
    of_drafts = {problem for draft in rendered.drafts for problem in draft.problems}
    of_shown = {problem for draft in drafts for problem in draft.problems}
    return [problem for problem in rendered.problems if problem not in of_drafts or problem in of_shown]


class NotAPreview(ValueError):
    """A page that is not an HTML preview whose cards carry content hashes; the message says why."""


_HASH = re.compile(r"[0-9a-f]{64}")


class _Cards(HTMLParser):
    """Collects ``(data-key, data-hash)`` of every ``<article>`` that has a ``data-key``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "article":
            return
        attributes = dict(attrs)
        key = attributes.get("data-key")
        if key:
            self.cards.append((key, attributes.get("data-hash")))


def previewed_hashes(page: str) -> dict[str, str]:
    """Every post's key and content hash in an HTML preview (:func:`html_preview`), read from its cards.

    Raises :class:`NotAPreview` if *page* has no cards, or cards without a content hash (a page written before
    previews showed them), or one post with two hashes.
    """
    parser = _Cards()
    parser.feed(page)
    parser.close()
    if not parser.cards:
        raise NotAPreview("it has no post cards")
    found: dict[str, str] = {}
    for key, content_hash in parser.cards:
        if content_hash is None or not _HASH.fullmatch(content_hash):
            raise NotAPreview(f"the card of {shown(key)} has no content hash "
                              "(a preview written before they were shown?)")
        if found.setdefault(key, content_hash) != content_hash:
            raise NotAPreview(f"it shows {shown(key)} twice, with different content")
    return found
