"""Credentials come from the environment variables a plan names, and never show up in text or logs."""

from __future__ import annotations

import logging

import pytest

from campaign.platforms import PLATFORMS
from campaign.platforms.base import AccountConfig
from campaign.platforms.credentials import (
    MissingCredentialError,
    install_log_redaction,
    redact,
    register_secrets,
    resolve_credentials,
)
from campaign.platforms.errors import Permanent

FACEBOOK_NAMES = {
    "page_id": "LANCS_FB_PAGE",
    "page_access_token": "LANCS_FB_TOKEN",
    "app_secret": "LANCS_FB_SECRET",
}


def test_credentials_are_read_from_the_named_variables() -> None:
    environ = {"LANCS_FB_PAGE": "1000", "LANCS_FB_TOKEN": " EAAtoken \n", "LANCS_FB_SECRET": "shh"}
    assert resolve_credentials(PLATFORMS["facebook"], FACEBOOK_NAMES, environ) == {
        "page_id": "1000",
        "page_access_token": "EAAtoken",
        "app_secret": "shh",
    }


def test_an_optional_credential_is_read_only_when_the_plan_names_it() -> None:
    names = {"page_id": "LANCS_FB_PAGE", "page_access_token": "LANCS_FB_TOKEN"}
    environ = {"LANCS_FB_PAGE": "1000", "LANCS_FB_TOKEN": "EAAtoken", "LANCS_FB_SECRET": "shh"}
    assert "app_secret" not in resolve_credentials(PLATFORMS["facebook"], names, environ)


def test_every_missing_credential_is_reported_at_once_by_name_and_variable() -> None:
    with pytest.raises(MissingCredentialError) as raised:
        resolve_credentials(
            PLATFORMS["x"],
            {"consumer_key": "X_KEY", "consumer_secret": "X_SECRET", "access_token": "X_TOKEN"},
            {"X_KEY": "abc", "X_TOKEN": ""},
        )
    message = str(raised.value)
    assert "'consumer_secret' is read from the environment variable X_SECRET, which is not set" in message
    assert "'access_token' is read from the environment variable X_TOKEN" in message
    assert "no environment variable for the X credential 'access_token_secret'" in message
    assert "export X_SECRET=" in message
    assert "abc" not in message


def test_an_unknown_credential_name_says_which_names_exist() -> None:
    with pytest.raises(MissingCredentialError, match="no credential called 'password'.*app_password"):
        resolve_credentials(PLATFORMS["bluesky"], {"password": "BSKY", "app_password": "BSKY"}, {"BSKY": "p"})


def test_account_config_repr_names_credentials_but_shows_no_value() -> None:
    config = AccountConfig("mastodon", "@lancs@social.example", {"access_token": "tok-very-secret-123"})
    assert "access_token" in repr(config) and "tok-very-secret-123" not in repr(config) + str(config)


def test_registered_secrets_are_redacted_from_text_errors_and_log_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_secrets(["s3cr3t-value-for-redaction", "tiny"])
    install_log_redaction()
    assert (
        redact("token=s3cr3t-value-for-redaction&x=tiny") == "token=[redacted]&x=tiny"
    )  # too short to register
    error = Permanent("x", "refused s3cr3t-value-for-redaction")
    assert "s3cr3t" not in str(error) + repr(error) + error.message
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug(
        '"GET /v25.0/me?access_token=%s" 200', "s3cr3t-value-for-redaction"
    )
    try:
        raise ValueError("boom s3cr3t-value-for-redaction")
    except ValueError:
        logging.getLogger("some.library").exception("failed")
    assert "s3cr3t" not in caplog.text
    assert "[redacted]" in caplog.text
