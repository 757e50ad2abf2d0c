"""A local stand-in for X, Facebook, Mastodon and Bluesky that speaks their wire formats.

The sandbox answers on the platforms' real paths with their real request and response shapes,
checks credentials the way they do (OAuth 1.0a signatures, bearer tokens, Graph API tokens with
``appsecret_proof``, atproto JWTs), records everything posted, grows engagement numbers over time
from a seed, and fails on purpose when told to (:mod:`campaign.sandbox.faults`).

It powers the tests (the adapters are exercised through their real client libraries over real
HTTP), the demo and rehearsals (``campaign sandbox serve``)::

    from campaign.sandbox import Sandbox, running

    with running(Sandbox(seed=1)) as sandbox:
        adapter = XAdapter(sandbox.account_config("x"))
        adapter.publish(Outgoing("Hello"))
        assert sandbox.posts("x")[0].text == "Hello"
"""

from campaign.sandbox.accounts import SandboxAccount, demo_accounts, env_name, env_names
from campaign.sandbox.core import RecordedMedia, RecordedPost, RequestRecord, Sandbox
from campaign.sandbox.faults import FAULT_KINDS, FaultRule, FaultSpecError, parse_fault
from campaign.sandbox.runner import SandboxServer, running

__all__ = [
    "FAULT_KINDS",
    "FaultRule",
    "FaultSpecError",
    "RecordedMedia",
    "RecordedPost",
    "RequestRecord",
    "Sandbox",
    "SandboxAccount",
    "SandboxServer",
    "demo_accounts",
    "env_name",
    "env_names",
    "parse_fault",
    "running",
]
