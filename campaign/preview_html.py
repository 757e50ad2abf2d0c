"""The HTML preview: one self-contained page, a card per post styled like its platform, by day.

Everything the page needs is inside it — styles inline, images as ``data:`` URIs — so it can be
emailed to whoever signs the campaign off and opened anywhere, offline. Images are read only from inside
the campaign folder (:mod:`campaign.plan.paths`): a file that has since become a symlink out is not shown.
"""

from __future__ import annotations

import base64
import re
from itertools import groupby
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from campaign import twitter_text
from campaign.plan.languages import describe_language
from campaign.plan.paths import OutsideCampaign, UnusablePath, campaign_folder, inside
from campaign.platforms import PLATFORMS
from campaign.render import Draft, RenderedPlan

NOT_SHOWN = ("data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="120"><rect width="100%" height="100%" '
    b'fill="#eee"/><text x="16" y="66" font-family="sans-serif" font-size="16">Not shown: the file is missing '
    b'or outside the campaign folder</text></svg>').decode("ascii"))
"""What a card shows instead of an image that is not (or no longer) inside the campaign folder."""


def _data_uri(path: Path, mime_type: str, root: Path) -> str:
    """The image at *path* as a ``data:`` URI, read only from inside the campaign folder *root*."""
    try:
        data = inside(path, root).read_bytes()
    except (OSError, OutsideCampaign, UnusablePath):
        return NOT_SHOWN
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


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


def html_preview(rendered: RenderedPlan, drafts: list[Draft]) -> str:
    env = Environment(loader=PackageLoader("campaign", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["rich_text"] = _rich_text
    root = campaign_folder(rendered.path)
    env.filters["data_uri"] = lambda image: _data_uri(image.path, image.mime_type, root)
    env.filters["language_name"] = describe_language
    days = [(day, list(items)) for day, items in groupby(drafts, key=lambda d: d.when.local.date())]
    return env.get_template("preview.html.j2").render(
        rendered=rendered,
        plan=rendered.plan,
        days=days,
        drafts=drafts,
        platforms=PLATFORMS,
    )
