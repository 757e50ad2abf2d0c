"""`campaign accounts check` against the sandbox: identities, tokens, and clear problems, never secrets."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from campaign.cli import main
from campaign.sandbox import Sandbox, env_names
from tests.instagram_fixtures import S3Server
from tests.plan_fixtures import write_campaign


def sandbox_plan(tmp_path: Path, sandbox: Sandbox) -> Path:
    """A plan whose accounts are the sandbox's demo accounts (one per platform), reached at its base URL."""
    lines = ["campaign:", "  name: Check", "  timezone: Europe/London", "  starts: 2027-03-15",
             "  ends: 2027-03-21", "accounts:"]
    for account in sandbox.accounts():
        lines += [f"  demo-{account.platform}:", f"    platform: {account.platform}",
                  f"    handle: '{account.handle}'", f"    api_base: {sandbox.base_url}", "    credentials:"]
        lines += [f"      {name}: {variable}" for name, variable in env_names(account.platform).items()]
        if account.platform == "instagram":
            lines += [f"    media_host: {{base_url: '{sandbox.base_url}/_sandbox/media/'}}"]
    return write_campaign(tmp_path, "- {id: hello, accounts: all, text: Hello, at: '2027-03-15 09:00'}\n",
                          base="\n".join(lines) + "\n")


def demo_environment(sandbox: Sandbox) -> dict[str, str]:
    environment: dict[str, str] = {}
    for account in sandbox.accounts():
        environment.update(account.env())
    return environment


def test_every_account_is_checked_against_its_platform(tmp_path: Path, sandbox: Sandbox) -> None:
    """With the right variables set, each account reports its identity and permissions, and the exit is 0; Instagram's
    says how many of its 50 posts in a moving 24 hours are left."""
    plan = sandbox_plan(tmp_path, sandbox)
    result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=demo_environment(sandbox))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ACCOUNT", "PLATFORM", "HANDLE", "IDENTITY", "TOKEN", "PERMISSIONS"]
    assert [line.split()[0] for line in lines[1:7]] == ["demo-x", "demo-facebook", "demo-mastodon", "demo-bluesky",
                                                        "demo-linkedin", "demo-instagram"]
    assert all(" ok " in line for line in lines[1:7])
    assert "demo-instagram: 50 of 50 posts left in the moving 24 hours" in lines
    assert lines[-1] == "6 of 6 accounts ready to post"


def test_a_missing_variable_and_a_refused_token_are_explained_without_secrets(tmp_path: Path,
                                                                               sandbox: Sandbox) -> None:
    """An unset variable names the variable; a wrong token says the platform refused it; exit 1; no secret shown."""
    plan = sandbox_plan(tmp_path, sandbox)
    environment = demo_environment(sandbox)
    del environment["SANDBOX_BLUESKY_APP_PASSWORD"]
    environment["SANDBOX_MASTODON_ACCESS_TOKEN"] = "not-the-right-token-1234567"
    result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=environment)
    assert result.exit_code == 1
    assert ("demo-bluesky: the Bluesky credential 'app_password' is read from the environment variable "
            "SANDBOX_BLUESKY_APP_PASSWORD, which is not set") in result.output
    assert "demo-mastodon: " in result.output
    assert result.output.splitlines()[-1] == "4 of 6 accounts ready to post"
    # A Page's id, an organisation's and an Instagram user's are public (part of every post's id or address, or of
    # every request's path); the rest are secrets.
    for variable, secret in environment.items():
        if not variable.endswith(("_PAGE_ID", "_ORGANIZATION_ID", "_IG_USER_ID")):
            assert secret not in result.output
    assert "not-the-right-token-1234567" not in result.output


def test_credentials_of_another_account_are_caught(tmp_path: Path, sandbox: Sandbox) -> None:
    """Credentials that work but belong to a different handle are a problem, not a pass."""
    plan = sandbox_plan(tmp_path, sandbox)
    plan.write_text(plan.read_text().replace("'@LancsPolice'", "'@SomeoneElse'"))
    result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=demo_environment(sandbox))
    assert result.exit_code == 1
    assert "demo-x: the credentials belong to @LancsPolice, not @SomeoneElse" in result.output


def test_an_instagram_accounts_bucket_is_checked_by_doing_what_a_post_does(tmp_path: Path, sandbox: Sandbox,
                                                                           s3_server: S3Server) -> None:
    """With an S3 media host, `accounts check` puts a few bytes of its own in the bucket, presigns and reads them back
    (what each picture goes through): a bucket that works is ready; a bucket that does not exist is the account's
    problem, named, and the exit is 1."""
    settings = s3_server.settings
    host = (f"    media_host: {{bucket: {settings.bucket}, region: {settings.region}, endpoint: '{settings.endpoint}', "
            "credentials: {access_key_id: LANCS_MEDIA_KEY_ID, secret_access_key: LANCS_MEDIA_SECRET}}")
    plan = sandbox_plan(tmp_path, sandbox)
    plan.write_text(re.sub(r"    media_host: \{base_url: [^\n]*", lambda _: host, plan.read_text()))
    environment = demo_environment(sandbox) | s3_server.environ
    result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=environment)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "6 of 6 accounts ready to post"

    plan.write_text(plan.read_text().replace(f"bucket: {settings.bucket}", "bucket: no-such-bucket"))
    result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=environment)
    assert result.exit_code == 1
    assert "demo-instagram: media host: the media host refused to store s3://no-such-bucket/" in result.output
    [row] = [line for line in result.output.splitlines() if line.startswith("demo-instagram ")]
    assert " ok " in row and "PROBLEM" not in row, row  # the token works: the bucket does not
    assert "NoSuchBucket" in result.output and s3_server.environ["LANCS_MEDIA_SECRET"] not in result.output


def test_an_instagram_accounts_base_url_is_checked_for_every_picture_the_plan_gives_it(tmp_path: Path,
                                                                                         sandbox: Sandbox) -> None:
    """With a base URL as media host, `accounts check` fetches each of the plan's pictures for the account where
    the force serves them: one served with other bytes is the account's problem, named (before, the check passed
    and the post failed on the day); served as in the plan, the check says how many it read."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from tests.instagram_fixtures import jpeg_bytes

    served = tmp_path / "served"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plan = sandbox_plan(tmp_path / "campaign", sandbox)
        text = re.sub(r"    media_host: \{base_url: [^\n]*",
                      f"    media_host: {{base_url: 'http://127.0.0.1:{server.server_port}/'}}", plan.read_text())
        text = text.replace("- {id: hello, accounts: all, text: Hello, at: '2027-03-15 09:00'}",
                            "- {id: hello, accounts: [demo-instagram], text: Hello, at: '2027-03-15 09:00', "
                            "images: [{file: images/card.jpg, alt: The helpline card}]}")
        plan.write_text(text)
        (plan.parent / "images" / "card.jpg").write_bytes(jpeg_bytes(colour=(200, 0, 0)))
        (served / "card.jpg").write_bytes(jpeg_bytes(colour=(0, 0, 200)))
        result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=demo_environment(sandbox))
        assert result.exit_code == 1, result.output
        assert "demo-instagram: media host: http://127.0.0.1:" in result.output
        assert "serves other bytes than the approved card.jpg" in result.output

        (served / "card.jpg").write_bytes(jpeg_bytes(colour=(200, 0, 0)))
        result = CliRunner().invoke(main, ["accounts", "check", str(plan)], env=demo_environment(sandbox))
        assert result.exit_code == 0, result.output
        assert "demo-instagram: media host ok: 1 picture served as in the plan" in result.output
    finally:
        server.shutdown()
