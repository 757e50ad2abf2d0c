"""Instagram accounts in a plan: checked as Instagram takes posts, with a media host, and published through the
whole toolkit (validate, preview, rehearse, export and report through the CLI)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from campaign.cli import main
from campaign.engagement import Collector
from campaign.export import ExportFilter, rows
from campaign.publishing.rehearsal import rehearsal
from campaign.store import PostState
from tests.plan_fixtures import WITH_INSTAGRAM, line_of, write_campaign

POSTS = """\
- id: launch
  accounts: [lancs-instagram, lancs-mastodon]
  at: '2027-03-15 09:00'
  text: 'Our week of action starts today (15-21 March). Worried about someone? Call {{ phones.police }}.'
  images:
    - {file: images/guide.jpg, alt: The cover of the pocket guide}
- id: cards
  accounts: [lancs-instagram]
  at: '2027-03-15 12:00'
  text: 'Three signs to look out for.'
  images:
    - {file: images/guide.jpg, alt: The cover of the pocket guide}
    - {file: images/card.jpg, alt: A card listing the signs}
"""


def instagram_campaign(root: Path, posts: str = POSTS, base: str = WITH_INSTAGRAM) -> Path:
    """A plan with an Instagram account, and the JPEGs its posts name."""
    plan = write_campaign(root, posts, base=base)
    for name, colour in (("guide.jpg", (225, 48, 108)), ("card.jpg", (10, 102, 194))):
        Image.new("RGB", (108, 108), colour).save(plan.parent / "images" / name, format="JPEG")
    return plan


def validate(plan: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(plan)], env={"NO_COLOR": "1"})
    return result.exit_code, result.output


def test_a_plan_with_an_instagram_account_and_its_media_host_is_ready(tmp_path: Path) -> None:
    """Images on every Instagram post, a bucket with its variables named: nothing to fix."""
    code, output = validate(instagram_campaign(tmp_path))
    assert code == 0, output
    assert output.endswith(": ok: 0 errors, 0 warnings in 2 plan entries (3 posts to publish)\n")


def test_an_instagram_post_without_an_image_is_an_error_at_its_line(tmp_path: Path) -> None:
    """Every Instagram post is a picture: a post with words only is an error at `validate`, at its words' line,
    saying what to add (or to leave the account out); the same words on Mastodon are fine."""
    plan = instagram_campaign(tmp_path, """\
        - id: words
          accounts: [lancs-instagram, lancs-mastodon]
          at: '2027-03-15 09:00'
          text: 'Words alone'
        """)
    code, output = validate(plan)
    assert code == 1, output
    assert (f"{plan}:{line_of(plan, 'Words alone')}: post 'words' for lancspolice (instagram): it has no image, and "
            "every Instagram post is an image (or up to 10) — add `images:` with at least one JPEG and its alt text, "
            "or leave the Instagram account out of this post's `accounts:`") in output
    assert "not ready: 1 error, 0 warnings" in output


def test_instagram_takes_jpeg_only_at_most_30_hashtags_and_10_images(tmp_path: Path) -> None:
    """A PNG, 31 hashtags and 11 images are each an error at validate, with Instagram's limit in the words."""
    tags = " ".join(f"#Tag{n}" for n in range(31))
    eleven = ", ".join(f"{{file: images/guide.jpg, alt: Picture {n}}}" for n in range(11))
    plan = instagram_campaign(tmp_path, f"""\
        - id: png
          accounts: [lancs-instagram]
          at: '2027-03-15 09:00'
          text: 'A PNG'
          images: [{{file: images/guide.png, alt: The guide}}]
        - id: tags
          accounts: [lancs-instagram]
          at: '2027-03-15 10:00'
          hashtags: false
          text: 'Signs to look for: {tags}'
          images: [{{file: images/guide.jpg, alt: The guide}}]
        - id: many
          accounts: [lancs-instagram]
          at: '2027-03-15 11:00'
          text: 'Eleven'
          images: [{eleven}]
        """)
    code, output = validate(plan)
    assert code == 1, output
    assert "save it as JPEG, or give the post a `variants: {instagram: {images: …}}` with such a file" in output
    assert "it has 31 hashtags; Instagram takes at most 30 — remove 1" in output
    assert "it has 11 images; Instagram takes at most 10" in output


def test_a_picture_instagram_would_refuse_for_its_shape_is_an_error_at_validate(tmp_path: Path) -> None:
    """Instagram takes pictures from 4:5 to 1.91:1; a 9:16 poster is an error at validate that says how to fix it,
    rather than a container Instagram fails when the post is due."""
    plan = instagram_campaign(tmp_path, """\
        - id: tall
          accounts: [lancs-instagram]
          at: '2027-03-15 09:00'
          text: 'A tall poster'
          images: [{file: images/tall.jpg, alt: A tall poster}]
        """)
    Image.new("RGB", (90, 160), (0, 0, 0)).save(plan.parent / "images" / "tall.jpg", format="JPEG")
    code, output = validate(plan)
    assert code == 1, output
    assert ("the image 'tall.jpg' is 90×160 pixels (0.56 times as wide as tall); Instagram takes images from 0.8 to "
            "1.91 times as wide as tall — crop it (a square or 4:5 portrait always fits)") in output


@pytest.mark.parametrize(("media_host", "message"), [
    (None, "accounts.lancs-instagram: Instagram fetches every image from a public address, and the account names "
           "no media_host — add `media_host:` with `bucket:`"),
    ("    media_host: {bucket: Lancs_Media, credentials: {access_key_id: KEY_ID, secret_access_key: SECRET}}\n",
     "accounts.lancs-instagram.media_host.bucket: 'Lancs_Media' is not an S3 bucket name — write the bucket's name"),
    ("    media_host: {bucket: lancs-media, base_url: 'https://www.lancashire.police.uk/media/'}\n",
     "accounts.lancs-instagram.media_host: a media host is a bucket or a base address, and this one names both"),
    ("    media_host: {base_url: 'www.lancashire.police.uk/media'}\n",
     "accounts.lancs-instagram.media_host.base_url: 'www.lancashire.police.uk/media' is not an address"),
    ("    media_host: {bucket: lancs-media, expires: 30d, credentials: {access_key_id: K, secret_access_key: S}}\n",
     "accounts.lancs-instagram.media_host.expires: the expiry '30d' is out of range — write a length of time "
     "from 5m to 7d"),
    ("    media_host: {bucket: lancs-media, credentials: {access_key_id: KEY, secret_access_key: "
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY}}\n",
     "accounts.lancs-instagram.media_host.credentials.secret_access_key: this is not the name of an environment "
     "variable (not shown: it may be a secret"),
    ("    media_host:\n",
     "accounts.lancs-instagram.media_host: 'media_host' is blank"),
    ("    media_host: {base_url: 'http://www.lancashire.police.uk/media/'}\n",
     "accounts.lancs-instagram.media_host.base_url: 'http://www.lancashire.police.uk/media/' is plain http; the "
     "address Instagram fetches images from must be https"),
    ("    media_host: {base_url: 'https://www.lancashire.police.uk/media/?token=abc'}\n",
     "has a query ('?token=abc'); the file name is added to the address"),
    ("    media_host: {bucket: lancs-media, credentials: {access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: "
     "SECRET}}\n",
     "media_host.credentials.access_key_id: this is not the name of an environment variable (not shown: it may be a "
     "secret, and you must never put a secret in a plan) — write the NAME of the environment variable that holds "
     "it, e.g. `access_key_id: LANCS_MEDIA_KEY_ID`"),
])
def test_a_media_host_that_cannot_work_is_one_error_at_its_line_with_the_fix(
    tmp_path: Path, media_host: str | None, message: str
) -> None:
    """No media host, a bucket name S3 refuses, a bucket and a base address at once, an address without its
    scheme, an expiry past a presigned URL's seven days, a pasted secret (never quoted back, and the fix names the
    key it was pasted at), a blank key, a base address over plain http or with a query: each is an error at its
    line, saying what to write."""
    start = WITH_INSTAGRAM.index("    media_host:\n")
    end = WITH_INSTAGRAM.index("events:\n")
    base = WITH_INSTAGRAM[:start] + (media_host or "") + WITH_INSTAGRAM[end:]
    plan = instagram_campaign(tmp_path, base=base)
    code, output = validate(plan)
    assert code == 1, output
    [line] = [line for line in output.splitlines() if message in line]
    assert re.match(rf"{re.escape(str(plan))}:\d+: ", line)
    assert "wJalrXUtnFEMI" not in output


def test_a_media_host_on_another_platform_is_an_error(tmp_path: Path) -> None:
    """Only platforms that fetch images themselves take a media host."""
    base = WITH_INSTAGRAM.replace("    credentials: {app_password: BLUESKY_APP_PASSWORD}\n",
                                  "    credentials: {app_password: BLUESKY_APP_PASSWORD}\n"
                                  "    media_host: {base_url: 'https://www.lancashire.police.uk/media/'}\n")
    plan = instagram_campaign(tmp_path, base=base)
    code, output = validate(plan)
    assert code == 1
    assert (f"{plan}:{line_of(plan, 'media_host: {base_url')}: accounts.lancs-bluesky.media_host: Bluesky takes the "
            "images themselves: it needs no media_host — remove `media_host:` from this account") in output


def test_a_week_with_an_instagram_account_is_rehearsed_through_the_runner(tmp_path: Path) -> None:
    """`campaign rehearse` plays a plan with an Instagram account against the sandbox, the sandbox serving the
    approved images by name as the account's media host: both Instagram posts (one a carousel) go out, and
    Mastodon's, and the summary counts them."""
    result = CliRunner().invoke(main, ["rehearse", str(instagram_campaign(tmp_path)), "--speed", "3600"])
    assert result.exit_code == 0, result.output
    table = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.split()}
    assert table["instagram"] == ["2", "0", "0"] and table["total"] == ["3", "0", "0"]


def test_instagram_engagement_reaches_the_export_and_the_report(tmp_path: Path) -> None:
    """After a rehearsal and a collection a day on, each Instagram post's export row carries Instagram's insights
    (views, reach, likes, comments as replies, shares as reposts) and what Instagram does not report (quotes,
    link clicks) is empty, never 0; the images Instagram fetched are the approved files; the report has an
    Instagram row with an engagement rate."""
    plan = instagram_campaign(tmp_path)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        assert run.run(timeout=60).totals == {"published": 3}
        fetched = {m.sha256 for post in run.sandbox.posts("instagram") for m in post.media}
        Collector(run.store, run.environ, clock=lambda: datetime.now(UTC) + timedelta(days=1)).collect_all()
        instagram = [row for row in rows(run.store, ExportFilter(latest=True)) if row["platform"] == "instagram"]
    import hashlib

    assert fetched == {hashlib.sha256((plan.parent / "images" / n).read_bytes()).hexdigest()
                       for n in ("guide.jpg", "card.jpg")}
    assert len(instagram) == 2
    for row in instagram:
        assert all(isinstance(row[name], int) and row[name] > 0 for name in ("views", "reach", "likes"))
        assert all(isinstance(row[name], int) for name in ("replies", "reposts"))
        assert row["quotes"] is None and row["link_clicks"] is None
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "rehearsal.db"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    by_platform = page.read_text(encoding="utf-8").split('id="by-platform"', 1)[1].split("</section>", 1)[0]
    [row] = [row for row in by_platform.split("<tr>") if "<td>instagram</td>" in row]
    assert re.search(r"\d+\.\d\d%</td>", row)


def test_the_preview_shows_an_instagram_post_picture_first(tmp_path: Path) -> None:
    """The preview's Instagram card is drawn as Instagram shows a post: the handle, the picture, then the caption
    (the order is the page's styles'; the card carries Instagram's colours and its 2,200-character count)."""
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", str(instagram_campaign(tmp_path)), "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert html.count('data-platform="instagram"') == 2
    assert ".platform-instagram figure { order: 3;" in html and ".platform-instagram .text { order: 4;" in html
    assert re.search(r">\d+ / 2200<", html)


def test_a_publish_whose_reply_was_lost_is_looked_up_and_adopted_never_published_twice(tmp_path: Path) -> None:
    """Through the runner: the answer to the first Instagram media_publish is lost (the post is out). The post
    becomes unknown, the lookup of the account's media finds it and the post is adopted with Instagram's id and
    the media's own permalink (not the account's page); nothing is published twice, and every post of the week
    goes out."""
    plan = instagram_campaign(tmp_path)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        run.sandbox.set_faults("instagram:POST /v*/*/media_publish:lose_reply:times=1")
        assert run.run(timeout=90).totals == {"published": 3}
        on_instagram = {post.text: post.id for post in run.sandbox.posts("instagram")}
        permalinks = {post.id: post.url for post in run.sandbox.posts("instagram")}
        stored = {post.key: post for post in run.store.posts_in([PostState.PUBLISHED], "test-week")}
        reconciled = [entry for entry in run.store.audit("test-week") if entry.action == "reconciled"]
    assert len(on_instagram) == 2 and len(run.sandbox.requests("instagram", "POST", "*/media_publish")) == 2
    [entry] = reconciled
    assert entry.post_key.endswith("/lancs-instagram") and '"found": true' in entry.details
    assert stored[entry.post_key].remote_id in on_instagram.values()
    assert stored[entry.post_key].remote_url == permalinks[stored[entry.post_key].remote_id]
