"""Files stay inside the campaign folder: templates and images, after following symlinks.

A campaign folder holds the plan in `schedules/` and its templates in `posts/`. Every image and template a
plan names must resolve inside it; an absolute path, a `..` or a symlink that leads out is refused at
`validate` with FILE:LINE and a fix, and the HTML preview, the records bundle and what the runner is given
never hold a file from outside. Each test puts a canary outside the campaign and checks it is never used.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from pathlib import Path

import PIL.Image
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from campaign.cli import main
from campaign.platforms import PLATFORMS
from campaign.platforms.base import ImageNotApproved, MediaItem
from campaign.preview_html import NOT_SHOWN, html_preview
from campaign.render import render_plan
from campaign.store import Store
from campaign.store.models import Post
from tests.plan_fixtures import base_with, line_of, tiny_png, write_campaign

PROBLEM_LINE = re.compile(r"^(?P<file>/[^:]+):(?P<line>\d+): (?P<rest>.*)$")
CANARY_PNG = tiny_png() + b"CANARY-outside-the-campaign"
"""A real PNG (so only where it is matters), marked so its bytes can be looked for."""


def image_post(file: str) -> str:
    return f"""\
        - id: guide
          accounts: [lancs-x]
          text: Our pocket guide.
          at: '2027-03-15 09:00'
          images:
            - file: {file}
              alt: The cover of the pocket guide
        """


def template_post(name: str) -> str:
    return f"""\
        - id: guide
          accounts: [lancs-x]
          template: {name}
          at: '2027-03-15 09:00'
        """


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the campaign's, holding a canary image and a canary template."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.png").write_bytes(CANARY_PNG)
    (folder / "canary.j2").write_text("CANARY template read from outside the campaign")
    return folder


def validate(plan: Path) -> tuple[int, list[tuple[str, int, str]], str]:
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    problems = [(m["file"], int(m["line"]), m["rest"]) for m in map(PROBLEM_LINE.match, result.output.splitlines())
                if m is not None]
    return result.exit_code, problems, result.output


def refused_once(plan: Path, fragment: str, says: str) -> str:
    """`validate` exits 1 with exactly one problem, at the plan's line holding *fragment*, saying *says* and
    how to fix it; nothing of the canary shows."""
    code, problems, output = validate(plan)
    assert code == 1, output
    assert len(problems) == 1, output
    ((file, line, rest),) = problems
    assert (file, line) == (str(plan), line_of(plan, fragment)), output
    assert says in rest and "put the file inside the campaign folder" in rest, rest
    assert "CANARY" not in output
    return rest


# -- images -----------------------------------------------------------------------------------------------------


def test_an_absolute_image_path_outside_the_campaign_is_refused(tmp_path: Path, outside: Path) -> None:
    """`file: /…/outside/canary.png` (a real PNG, outside) is refused at the `file:` line, naming where it leads."""
    plan = write_campaign(tmp_path / "campaign", image_post(str(outside / "canary.png")))
    rest = refused_once(plan, "canary.png", "leads outside the campaign folder")
    assert f"(to '{outside / 'canary.png'}')" in rest


def test_an_image_path_going_up_out_of_the_campaign_is_refused(tmp_path: Path, outside: Path) -> None:
    """`file: ../../outside/canary.png` climbs out of the campaign folder: refused."""
    plan = write_campaign(tmp_path / "campaign", image_post("../../outside/canary.png"))
    refused_once(plan, "canary.png", "'../../outside/canary.png' leads outside the campaign folder")


def test_an_image_symlink_to_etc_passwd_is_refused(tmp_path: Path) -> None:
    """The reported escape: `images/guide-link.png` → /etc/passwd validated, was inlined in the preview,
    bundled and uploaded. Now refused where the plan names it."""
    plan = write_campaign(tmp_path / "campaign", image_post("images/passwd.png"))
    (plan.parent / "images" / "passwd.png").symlink_to("/etc/passwd")
    refused_once(plan, "passwd.png", "leads outside the campaign folder (to '/etc/passwd')")


def test_an_image_symlink_to_a_real_image_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    """A symlink to a perfectly good image is refused all the same when it leads out of the campaign."""
    plan = write_campaign(tmp_path / "campaign", image_post("images/link.png"))
    (plan.parent / "images" / "link.png").symlink_to(outside / "canary.png")
    refused_once(plan, "link.png", "leads outside the campaign folder")


def test_an_image_in_a_symlinked_folder_that_leads_out_is_refused(tmp_path: Path, outside: Path) -> None:
    """A folder symlink on the way (`images/shared` → outside) is followed before the check."""
    plan = write_campaign(tmp_path / "campaign", image_post("images/shared/canary.png"))
    (plan.parent / "images" / "shared").symlink_to(outside, target_is_directory=True)
    refused_once(plan, "shared/canary.png", "leads outside the campaign folder")


def test_symlinks_that_stay_inside_the_campaign_are_fine(tmp_path: Path) -> None:
    """A symlink is not itself the problem: an image, a template and the templates folder linked to places
    inside the campaign folder validate and render as usual."""
    folder = tmp_path / "campaign"
    plan = write_campaign(folder, """\
        - id: guide
          accounts: [lancs-x]
          template: alias.j2
          at: '2027-03-15 09:00'
          images:
            - {file: images/alias.png, alt: The cover of the pocket guide}
        """, {"real.j2": "Our pocket guide."}, base=base_with("templates: ../linked-posts\n"))
    (folder / "posts" / "alias.j2").symlink_to("real.j2")
    (folder / "linked-posts").symlink_to(folder / "posts", target_is_directory=True)
    (plan.parent / "images" / "alias.png").symlink_to("guide.png")
    code, problems, output = validate(plan)
    assert (code, problems) == (0, []), output
    (draft,) = render_plan(plan).drafts
    assert draft.text.startswith("Our pocket guide.")
    assert draft.images[0].path == plan.parent / "images" / "alias.png"


# -- templates --------------------------------------------------------------------------------------------------


def test_a_template_symlink_to_etc_passwd_is_refused(tmp_path: Path) -> None:
    """`posts/evil.j2` → /etc/passwd: refused at the post's `template:` line; the file is never rendered."""
    plan = write_campaign(tmp_path / "campaign", template_post("evil.j2"))
    (tmp_path / "campaign" / "posts" / "evil.j2").symlink_to("/etc/passwd")
    refused_once(plan, "template: evil.j2", "the template 'evil.j2' leads outside the campaign folder")
    assert "root:" not in validate(plan)[2]


@pytest.mark.parametrize("name", ["/etc/passwd", "../../outside/canary.j2", "{OUTSIDE}/canary.j2"])
def test_a_template_named_outside_the_campaign_is_refused(tmp_path: Path, outside: Path, name: str) -> None:
    """An absolute template name or one that climbs out with `..` is refused at the `template:` line."""
    name = name.replace("{OUTSIDE}", str(outside))
    plan = write_campaign(tmp_path / "campaign", template_post(name))
    refused_once(plan, "template:", f"the template '{name}' leads outside the campaign folder")


def test_a_symlinked_templates_folder_that_leads_out_is_refused(tmp_path: Path, outside: Path) -> None:
    """`posts/` itself a symlink to a folder outside: refused once, at the `campaign:` section (where the
    default `templates: ../posts` applies), and the posts using it say nothing more."""
    folder = tmp_path / "campaign"
    plan = write_campaign(folder, template_post("canary.j2"))
    (folder / "posts").rmdir()
    (folder / "posts").symlink_to(outside, target_is_directory=True)
    rest = refused_once(plan, "name: Test week", "the templates folder '../posts' leads outside the campaign folder")
    assert f"(to '{outside}')" in rest


def test_templates_etc_with_template_passwd_is_refused(tmp_path: Path) -> None:
    """The reported escape: `templates: /etc` and `template: passwd` rendered the password file. Now the
    templates folder is refused at its line, and the post is not rendered at all."""
    plan = write_campaign(tmp_path / "campaign", template_post("passwd"), base=base_with("templates: /etc\n"))
    refused_once(plan, "templates: /etc", "the templates folder '/etc' leads outside the campaign folder")
    assert render_plan(plan).drafts == ()


# -- what reads the files later: the HTML preview, the records bundle, the runner -----------------------------------


def test_the_html_preview_never_inlines_a_file_from_outside(tmp_path: Path, outside: Path) -> None:
    """The preview reads each image again, confined: an image that became a symlink out after it was checked
    (between `validate` and `preview`, say) is shown as "not shown", never inlined."""
    plan = write_campaign(tmp_path / "campaign", image_post("images/guide.png"))
    rendered = render_plan(plan)
    assert rendered.ok
    page = html_preview(rendered, list(rendered.drafts))
    assert page.count('href="data:image/png;base64,') == 1
    guide = plan.parent / "images" / "guide.png"
    guide.unlink()
    guide.symlink_to(outside / "canary.png")
    page = html_preview(rendered, list(rendered.drafts))
    assert NOT_SHOWN in page
    assert base64.b64encode(CANARY_PNG).decode("ascii")[:40] not in page


def test_the_preview_command_refuses_a_plan_with_an_image_outside(tmp_path: Path, outside: Path) -> None:
    """`campaign preview --html` on a plan whose image leads out: the error is reported and the canary's bytes
    are in no page."""
    plan = write_campaign(tmp_path / "campaign", image_post("images/link.png"))
    (plan.parent / "images" / "link.png").symlink_to(outside / "canary.png")
    page = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", str(plan), "--html", str(page)])
    assert "Traceback" not in result.output
    assert "leads outside the campaign folder" in result.output
    html = page.read_text(encoding="utf-8") if page.exists() else ""
    assert base64.b64encode(CANARY_PNG).decode("ascii")[:40] not in html


def scheduled(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    env = {"CAMPAIGN_DB": str(tmp_path / "store.db")}
    plan = write_campaign(tmp_path / "campaign", image_post("images/guide.png"))
    for args in (["schedule", str(plan)], ["approve", "guide/lancs-x", "--as", "bob"]):
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
    return plan, env


def test_the_records_bundle_never_copies_a_file_from_outside(tmp_path: Path, outside: Path) -> None:
    """The bundle copies each image only from inside the campaign folder: an image swapped for a symlink out
    after it was scheduled is recorded as refused, with why, and not copied."""
    plan, env = scheduled(tmp_path)
    guide = plan.parent / "images" / "guide.png"
    guide.unlink()
    guide.symlink_to(outside / "canary.png")
    out = tmp_path / "foi"
    result = CliRunner().invoke(main, ["bundle", "guide/lancs-x", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    (media,) = json.loads((out / "manifest.json").read_text())["media"]
    assert media["file"] is None
    assert "leads outside the campaign folder" in media["refused"]
    assert not any(b"CANARY" in p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_the_bundle_copies_an_image_inside_the_campaign(tmp_path: Path) -> None:
    """The other side: an image inside the campaign is copied, with its checksum, unchanged."""
    _, env = scheduled(tmp_path)
    out = tmp_path / "foi"
    assert CliRunner().invoke(main, ["bundle", "guide/lancs-x", "-o", str(out)], env=env).exit_code == 0
    (media,) = json.loads((out / "manifest.json").read_text())["media"]
    assert (media["file"], media["unchanged_since_scheduled"]) == ("media/01-guide.png", True)
    assert (out / "media" / "01-guide.png").read_bytes() == tiny_png()


def test_a_plan_with_an_image_outside_cannot_be_scheduled(tmp_path: Path, outside: Path) -> None:
    """The runner publishes only what `schedule` put in the store, and `schedule` refuses a plan whose image
    leads out: the store stays empty, so the runner never has the outside file to send."""
    env = {"CAMPAIGN_DB": str(tmp_path / "store.db")}
    plan = write_campaign(tmp_path / "campaign", image_post("images/link.png"))
    (plan.parent / "images" / "link.png").symlink_to(outside / "canary.png")
    result = CliRunner().invoke(main, ["schedule", str(plan)], env=env)
    assert result.exit_code == 1 and "leads outside the campaign folder" in result.output
    store = Store.open(env["CAMPAIGN_DB"])
    with store.read_session() as session:
        assert session.scalars(select(Post)).all() == []


def test_what_the_runner_is_given_is_inside_the_campaign(tmp_path: Path, outside: Path) -> None:
    """Every image path `schedule` stores for the runner resolves inside the campaign folder; and if one is
    later swapped for a symlink out, what the runner builds from it (`MediaItem.from_file` with the approved
    checksum) refuses it rather than send it."""
    plan, env = scheduled(tmp_path)
    store = Store.open(env["CAMPAIGN_DB"])
    post = store.post("guide/lancs-x")
    (item,) = json.loads(post.media)
    campaign = (tmp_path / "campaign").resolve()
    assert Path(item["path"]).resolve().is_relative_to(campaign)
    guide = plan.parent / "images" / "guide.png"
    guide.unlink()
    guide.symlink_to(outside / "canary.png")
    with pytest.raises(ImageNotApproved, match="has changed since the post was approved"):
        MediaItem.from_file(Path(item["path"]), item["alt"], item["mime_type"], item["sha256"])


# -- images checked at validate against each platform's limits (data in campaign.platforms) -----------------------


def png_of_size(size: int) -> bytes:
    """A valid 1×1 PNG padded to *size* bytes with a private ancillary chunk, which readers skip."""
    png = tiny_png()
    padding = size - len(png) - 12
    chunk = struct.pack(">I", padding) + b"caNy" + bytes(padding)
    chunk += struct.pack(">I", zlib.crc32(b"caNy" + bytes(padding)))
    return png[:-12] + chunk + png[-12:]


def images_plan(tmp_path: Path, accounts: str, name: str, data: bytes | None = None) -> Path:
    plan = write_campaign(tmp_path / "campaign", image_post(f"images/{name}").replace("[lancs-x]", accounts))
    if data is not None:
        (plan.parent / "images" / name).write_bytes(data)
    return plan


def test_an_image_over_a_platforms_size_limit_fails_validate(tmp_path: Path) -> None:
    """The reported miss: a 7.7 MB image passed `validate` and failed at publish. Now it is an error for each
    platform it is too big for (X 5 MB, Bluesky 2 MB), naming the file, its size and the limit; Mastodon
    (16 MB) takes it."""
    plan = images_plan(tmp_path, "[lancs-x, lancs-bluesky, lancs-mastodon]", "big.png", png_of_size(7_700_000))
    code, problems, output = validate(plan)
    assert code == 1
    line = line_of(plan, "- id: guide") + 2
    assert sorted(problems) == [
        (str(plan), line, "post 'guide' for @LancsPolice (x): the image 'big.png' is 7.7 MB (7,700,000 bytes); "
         "X takes at most 5 MB (5,242,880 bytes) — make it smaller (fewer pixels, or as a JPEG), or give the "
         "post a `variants: {x: {images: …}}` with a smaller file"),
        (str(plan), line, "post 'guide' for lancspolice.bsky.social (bluesky): the image 'big.png' is 7.7 MB "
         "(7,700,000 bytes); Bluesky takes at most 2 MB (2,000,000 bytes) — make it smaller (fewer pixels, or "
         "as a JPEG), or give the post a `variants: {bluesky: {images: …}}` with a smaller file"),
    ], output


def test_a_file_that_is_not_an_image_of_its_declared_type_fails_validate(tmp_path: Path) -> None:
    """`.png` on a JPEG, or on something that is no image at all, is an error naming the file."""
    jpeg = io.BytesIO()
    PIL.Image.new("RGB", (4, 4)).save(jpeg, "JPEG")
    plan = images_plan(tmp_path / "a", "[lancs-x]", "photo.png", jpeg.getvalue())
    (_, _, rest), = validate(plan)[1]
    assert "the image 'photo.png' is named as a PNG but is a JPEG file — rename it to end in .jpg" in rest
    plan = images_plan(tmp_path / "b", "[lancs-x]", "notes.png", b"Meeting notes, not an image")
    (_, _, rest), = validate(plan)[1]
    assert "the image 'notes.png' cannot be used: it is not an image file" in rest


@pytest.mark.parametrize(("accounts", "size", "says"), [
    ("[lancs-x]", (8200, 10), "the image 'wide.png' is 8200×10 pixels; X takes at most 8192×8192"),
    ("[lancs-mastodon]", (8000, 4200), "the image 'wide.png' is 8000×4200 (33,600,000 pixels); Mastodon takes "
     "images of at most 33,177,600 pixels"),
])
def test_an_image_over_a_platforms_pixel_limit_fails_validate(tmp_path: Path, accounts: str, size: tuple[int, int],
                                                               says: str) -> None:
    """Dimensions are read with Pillow and checked against the platform's limits."""
    data = io.BytesIO()
    PIL.Image.new("1", size).save(data, "PNG")
    (_, _, rest), = validate(images_plan(tmp_path, accounts, "wide.png", data.getvalue()))[1]
    assert says in rest


def test_the_platform_limits_are_data() -> None:
    """Image limits sit beside the text limits in each PlatformSpec, where checks and previews read them."""
    assert {name: (spec.max_image_bytes, spec.max_image_side, spec.max_image_pixels)
            for name, spec in PLATFORMS.items()} == {
        "x": (5_242_880, 8192, None), "facebook": (4_000_000, None, None),
        "mastodon": (16_777_216, None, 33_177_600), "bluesky": (2_000_000, None, None),
        "linkedin": (None, None, 36_152_319), "instagram": (8_000_000, None, None),
    }
