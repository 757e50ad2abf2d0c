"""Cards: a stored post and the draft it was scheduled from make the same card, and the card macro shows a
stored post's state and approver."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from campaign.cards import Card, CardImage, ShownImage
from campaign.example import example_plan
from campaign.preview_html import environment
from campaign.render import render_plan
from campaign.store import Store
from campaign.store.models import Post


def scheduled_week(tmp_path: Path) -> tuple[Store, dict[str, Post]]:
    store = Store.open(str(tmp_path / "store.db"))
    store.schedule(render_plan(example_plan()), "alice")
    with store.session() as session:
        posts = {p.key: p for p in session.scalars(select(Post))}
    return store, posts


def test_a_stored_post_makes_the_card_its_draft_makes(tmp_path: Path) -> None:
    """Every post of the bundled week, read back from the store: the same words, time and zone, counts by the
    platform's rule (X's weighted length, Bluesky's bytes…), hashtags, images, content hash, and the parent's
    words for a reply — only the store's state is added (and image paths are stored absolute)."""
    drafts = {d.key: d for d in render_plan(example_plan()).drafts}
    store, posts = scheduled_week(tmp_path)
    assert posts.keys() == drafts.keys()
    for key, post in posts.items():
        draft = drafts[key]
        parent = drafts.get(draft.reply_to or "")
        stored = Card.from_post(post, posts[post.reply_to].text if post.reply_to else None)
        expected = Card.from_draft(draft, parent)
        assert (stored.state, stored.approved_by) == ("draft", None)
        assert [i.path for i in stored.images] == [i.path.absolute() for i in draft.images]
        assert replace(stored, state=None, images=expected.images) == expected, key
    assert sum(1 for p in posts.values() if p.reply_to) == 4 and sum(len(d.images) for d in drafts.values()) > 0
    store.close()


def test_the_card_macro_shows_a_stored_posts_state_approver_and_hash(tmp_path: Path) -> None:
    """A web desk's card of an approved post: the state and who approved it, the content hash (12 characters,
    the whole in data-hash), and an image served from a URL as an <img> with its alt text."""
    store, posts = scheduled_week(tmp_path)
    post = posts["helpline-daily@2027-03-15/lancs-x"]
    post.state, post.approved_by = "approved", "Insp. Jo Reviewer"
    card = Card.from_post(post, None)

    def served(image: CardImage) -> ShownImage:
        return ShownImage(f"/images/{image.id}", 1200, 675)

    page = environment().from_string('{% from "card.html.j2" import card %}{{ card(c, src) }}').render(c=card,
                                                                                                        src=served)
    assert f'data-key="{post.key}" data-hash="{post.content_hash}"' in page
    assert f"content <code>{post.content_hash[:12]}</code>" in page
    assert '<span class="state state-approved">approved by Insp. Jo Reviewer</span>' in page
    image = card.images[0]
    assert (f'<img src="/images/{image.id}" alt="{image.alt}" lang="en-GB" width="1200" height="675">'
            .replace("&", "&amp;")) in page
    store.close()
