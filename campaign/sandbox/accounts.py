"""The accounts the sandbox accepts, and the demo set it starts with.

A sandbox account holds exactly the credentials an adapter is given (the names in
``PlatformSpec.credentials``), so a test or a rehearsal can hand the same mapping to both sides.
The demo values below are public on purpose: they only ever open the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from campaign.platforms import PLATFORMS


@dataclass(frozen=True)
class SandboxAccount:
    """One account on one sandbox platform."""

    platform: str
    handle: str
    """As the plan writes it: ``@LancsPolice`` (X), ``LancashirePolice`` (Facebook page username),
    ``@lancspolice@social.sandbox`` (Mastodon), ``lancspolice.bsky.social`` (Bluesky), ``lancashire-police``
    (LinkedIn: the page's name in its address), ``lancspolice`` (Instagram: the username, without ``@``)."""
    user_id: str
    """X user id, Facebook page id, Mastodon account id, Bluesky DID, LinkedIn organisation id, Instagram user id."""
    display_name: str
    credentials: dict[str, str] = field(repr=False)
    app_bearer_token: str | None = field(default=None, repr=False)
    """X only: an app-only bearer token the sandbox accepts on read endpoints."""
    scopes: tuple[str, ...] = ()
    """What the token may do, as the platform names it."""

    @property
    def username(self) -> str:
        """The handle without ``@`` and without a Mastodon domain."""
        return self.handle.lstrip("@").split("@")[0]

    def env(self, prefix: str = "SANDBOX") -> dict[str, str]:
        """Environment variable names and values for this account's credentials."""
        return {env_name(self.platform, name, prefix): value for name, value in self.credentials.items()}


def env_name(platform: str, credential: str, prefix: str = "SANDBOX") -> str:
    """The environment variable the demo plan uses for one credential: ``SANDBOX_X_CONSUMER_KEY``."""
    return f"{prefix}_{platform}_{credential}".upper()


def env_names(platform: str, prefix: str = "SANDBOX") -> dict[str, str]:
    """Credential name -> environment variable name, for a plan's account entry."""
    spec = PLATFORMS[platform]
    return {name: env_name(platform, name, prefix) for name in spec.credentials + spec.optional_credentials}


def demo_accounts() -> list[SandboxAccount]:
    """The accounts ``campaign sandbox serve`` accepts when given no others."""
    return [
        SandboxAccount(
            platform="x",
            handle="@LancsPolice",
            user_id="1199887766554433221",
            display_name="Lancashire Police",
            credentials={
                "consumer_key": "sandbox-x-consumer-key",
                "consumer_secret": "sandbox-x-consumer-secret",
                "access_token": "1199887766554433221-sandbox-x-access-token",
                "access_token_secret": "sandbox-x-access-token-secret",
            },
            app_bearer_token="sandbox-x-app-bearer-token",
            scopes=("read-write",),
        ),
        SandboxAccount(
            platform="facebook",
            handle="LancashirePolice",
            user_id="100064581234567",
            display_name="Lancashire Police",
            credentials={
                "page_id": "100064581234567",
                "page_access_token": "EAAsandboxFacebookPageAccessToken",
                "app_secret": "sandbox-facebook-app-secret",
            },
            scopes=("pages_manage_posts", "pages_read_engagement", "pages_show_list", "read_insights"),
        ),
        SandboxAccount(
            platform="mastodon",
            handle="@lancspolice@social.sandbox",
            user_id="109876543210987654",
            display_name="Lancashire Police",
            credentials={"access_token": "sandbox-mastodon-access-token"},
            scopes=("read", "write"),
        ),
        SandboxAccount(
            platform="bluesky",
            handle="lancspolice.bsky.social",
            user_id="did:plc:lancspolicesandbox2345ab",
            display_name="Lancashire Police",
            credentials={"app_password": "sand-boxa-ppps-wrd2"},
            scopes=("com.atproto.appPass",),
        ),
        SandboxAccount(
            platform="linkedin",
            handle="lancashire-police",
            user_id="2414183",
            display_name="Lancashire Police",
            credentials={"organization_id": "2414183", "access_token": "AQsandboxLinkedInAccessToken"},
            scopes=("w_organization_social", "r_organization_social", "rw_organization_admin"),
        ),
        SandboxAccount(
            platform="instagram",
            handle="lancspolice",
            user_id="17841400000012345",
            display_name="Lancashire Police",
            credentials={"ig_user_id": "17841400000012345", "access_token": "EAAsandboxInstagramUserAccessToken"},
            scopes=("instagram_basic", "instagram_content_publish", "instagram_manage_insights"),
        ),
    ]
