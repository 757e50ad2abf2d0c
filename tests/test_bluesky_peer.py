"""The Bluesky adapter against the AT Protocol reference implementation (a real PDS and AppView).

The sandbox is our idea of Bluesky; these tests hold the adapter, and the sandbox, to the real thing:
``@atproto/dev-env`` from npm, started once for the session by the fixture ``atproto_peer`` (tests/atproto_peer.py).
Each test reads what the PDS stored (``getRecord``/``listRecords``), not what the adapter says it sent.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from campaign.platforms.base import MediaItem, Outgoing
from campaign.platforms.bluesky import BlueskyAdapter, record_key
from campaign.platforms.errors import Duplicate, Permanent, Transient
from campaign.sandbox import Sandbox, SandboxAccount, running
from campaign.sandbox.proxy import FaultProxy
from campaign.store import PostState, Store
from tests.atproto_peer import AtprotoPeer, PeerAccount, atproto_peer_fixture  # noqa: F401 - the fixture
from tests.plan_fixtures import write_campaign

# On one pytest-xdist worker: one AT Protocol reference network (a session fixture) serves the whole file.
pytestmark = pytest.mark.xdist_group("atproto-peer")

T = TypeVar("T")
APPVIEW_SECONDS = 20.0
"""How long the AppView may take to show what the PDS has (it reads the PDS's firehose)."""


@pytest.fixture
def account(atproto_peer: AtprotoPeer) -> PeerAccount:
    return atproto_peer.create_account("lancs")


@pytest.fixture
def adapter(atproto_peer: AtprotoPeer, account: PeerAccount) -> Iterator[BlueskyAdapter]:
    with BlueskyAdapter(atproto_peer.account_config(account)) as made:
        yield made


@pytest.fixture
def paused_appview(atproto_peer: AtprotoPeer) -> Iterator[None]:
    """The AppView stops reading the PDS for the test: its reads lag as far behind as they can."""
    atproto_peer.command("pause-appview")
    try:
        yield
    finally:
        atproto_peer.command("resume-appview")


def poll(read: Callable[[], T], done: Callable[[T], bool], seconds: float = APPVIEW_SECONDS) -> T:
    """Read until *done* says so or *seconds* pass; the last reading either way."""
    deadline = time.monotonic() + seconds
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (0, 94, 184)).save(buffer, format="PNG")
    return buffer.getvalue()


def keyed(text: str, key: str, **fields: Any) -> Outgoing:
    """A post as the runner hands it over: with its idempotency key and when its first attempt went out."""
    return Outgoing(text, idempotency_key=key, first_attempt_at=datetime.now(UTC), **fields)


# -- what goes out ------------------------------------------------------------------------------------------


def test_links_tags_and_mentions_are_facets_and_a_handle_that_resolves_to_no_one_is_reported(
    atproto_peer: AtprotoPeer, adapter: BlueskyAdapter
) -> None:
    """The PDS stores a link, a tag and a mention facet (resolved to the account's DID, over the exact bytes of
    ``@handle``); a mention of a handle the PDS cannot resolve is plain text, and the receipt names it."""
    other = atproto_peer.create_account("nca")
    text = (f"Week of action with @{other.handle} and @nobody-here.test #SeeItShareIt "
            "https://www.gov.uk/modern-slavery")
    receipt = adapter.publish(Outgoing(text))

    record = atproto_peer.record(receipt.remote_id)["value"]
    assert record["text"] == text
    encoded = text.encode()
    features = {}
    for facet in record["facets"]:
        (feature,) = facet["features"]
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        features[feature["$type"].rsplit("#", 1)[1]] = (feature, encoded[start:end].decode())
    assert set(features) == {"mention", "tag", "link"}
    assert features["mention"] == ({"$type": "app.bsky.richtext.facet#mention", "did": other.did},
                                   f"@{other.handle}")
    assert features["tag"][0]["tag"] == "SeeItShareIt" and features["tag"][1] == "#SeeItShareIt"
    assert features["link"][0]["uri"] == "https://www.gov.uk/modern-slavery"
    assert len(receipt.warnings) == 1 and "@nobody-here.test" in receipt.warnings[0]
    assert receipt.created_at == datetime.fromisoformat(record["createdAt"])


def test_an_image_goes_out_with_its_alt_text_and_aspect_ratio(
    atproto_peer: AtprotoPeer, adapter: BlueskyAdapter
) -> None:
    """The uploaded blob is the image's exact bytes and type; the record has its alt text and its width and
    height (read from the bytes), so the app lays it out without cropping."""
    data = png(1200, 675)
    alt = "The pocket guide's cover: the helpline number 08000 121 700 in white on blue"
    receipt = adapter.publish(Outgoing("Our pocket guide", images=(MediaItem("guide.png", data, alt, "image/png"),)))

    (image,) = atproto_peer.record(receipt.remote_id)["value"]["embed"]["images"]
    assert image["alt"] == alt
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (1200, 675)
    assert (image["image"]["mimeType"], image["image"]["size"]) == ("image/png", len(data))
    blob = atproto_peer.http.get(f"{atproto_peer.pds}/xrpc/com.atproto.sync.getBlob",
                                 params={"did": receipt.remote_id.split("/")[2], "cid": image["image"]["ref"]["$link"]})
    assert blob.content == data


def test_the_language_is_recorded_and_none_is_claimed_when_unknown(
    atproto_peer: AtprotoPeer, adapter: BlueskyAdapter
) -> None:
    """``langs`` is the post's language as given (Welsh: ``cy``); a post without one claims none (the SDK
    alone would say ``en``)."""
    welsh = adapter.publish(Outgoing("Wythnos weithredu yn erbyn caethwasiaeth fodern", language="cy"))
    plain = adapter.publish(Outgoing("No language given"))
    assert atproto_peer.record(welsh.remote_id)["value"]["langs"] == ["cy"]
    assert "langs" not in atproto_peer.record(plain.remote_id)["value"]


def test_a_thread_links_each_post_to_its_parent_and_to_the_first_post(
    atproto_peer: AtprotoPeer, adapter: BlueskyAdapter
) -> None:
    """Each reply's ``reply.parent`` is the post before it and ``reply.root`` the first, with their CIDs."""
    first = adapter.publish(Outgoing("Thread 1/3: the signs of modern slavery"))
    second = adapter.publish(Outgoing("Thread 2/3: what to look for", reply_to=first.remote_id))
    third = adapter.publish(Outgoing("Thread 3/3: call 08000 121 700", reply_to=second.remote_id))
    records = {r.remote_id: atproto_peer.record(r.remote_id) for r in (first, second, third)}
    for reply, parent in ((second, first), (third, second)):
        links = records[reply.remote_id]["value"]["reply"]
        assert links["parent"]["uri"] == parent.remote_id
        assert links["parent"]["cid"] == records[parent.remote_id]["cid"]
        assert links["root"]["uri"] == first.remote_id
        assert links["root"]["cid"] == records[first.remote_id]["cid"]


def test_a_reply_sent_right_after_its_parent_finds_it_on_the_pds_while_the_appview_lags(
    atproto_peer: AtprotoPeer, adapter: BlueskyAdapter, paused_appview: None
) -> None:
    """With the AppView not yet showing the parent (its reads lag the PDS), the reply still goes out, threaded
    to it: the parent is read from the PDS. A parent the PDS does not have stays a permanent error."""
    parent = adapter.publish(Outgoing("Training in Preston today"))
    assert adapter.metrics([parent.remote_id]) == []  # the AppView does not know the parent yet
    reply = adapter.publish(Outgoing("Booking details below", reply_to=parent.remote_id))
    assert atproto_peer.record(reply.remote_id)["value"]["reply"]["parent"]["uri"] == parent.remote_id

    gone = parent.remote_id.rsplit("/", 1)[0] + "/" + record_key(datetime(2027, 1, 1, tzinfo=UTC), "never-sent")
    with pytest.raises(Permanent, match="no longer exists"):
        adapter.publish(Outgoing("A reply to nothing", reply_to=gone))


# -- exactly once -------------------------------------------------------------------------------------------


def test_a_second_create_of_the_same_post_is_refused_and_the_lookup_finds_the_first(
    atproto_peer: AtprotoPeer, account: PeerAccount, adapter: BlueskyAdapter
) -> None:
    """The post's record key is fixed by its first attempt and idempotency key: sending it again is refused by
    the PDS (500 InternalServerError, read back as Duplicate), the lookup finds the one post, and the
    repository holds it once. A post never sent is not found."""
    post = keyed("Helpline: 08000 121 700 #SeeItShareIt", "runner-proof:e001/lancs:abc123")
    receipt = adapter.publish(post)
    assert receipt.remote_id.endswith("/" + record_key(post.first_attempt_at, post.idempotency_key))  # type: ignore[arg-type]

    with pytest.raises(Duplicate) as refused:
        adapter.publish(post)
    assert (refused.value.status, refused.value.code) == (500, "InternalServerError")

    since = post.first_attempt_at - timedelta(seconds=5)  # type: ignore[operator]
    [found] = adapter.find(post, since)
    assert (found.remote_id, found.text, found.created_at) == (receipt.remote_id, post.text, receipt.created_at)
    assert [r["value"]["text"] for r in atproto_peer.posts(account)].count(post.text) == 1
    assert adapter.find(keyed(post.text, "runner-proof:e002/lancs:abc123"), since) == []


def test_the_lookup_reads_the_pds_while_the_appview_lags(
    adapter: BlueskyAdapter, paused_appview: None
) -> None:
    """Right after publishing, the author feed (the AppView) does not show the post, but the lookup by record
    key does: an empty lookup means the PDS has no such post, not that the AppView has not caught up."""
    post = keyed("Victims' suite opens today", "runner-proof:e003/lancs:def456")
    receipt = adapter.publish(post)
    since = post.first_attempt_at - timedelta(seconds=5)  # type: ignore[operator]
    assert adapter.find(Outgoing(post.text), since) == []  # the author feed: not there yet
    assert [found.remote_id for found in adapter.find(post, since)] == [receipt.remote_id]


def test_the_sandbox_answers_record_keys_and_get_record_as_the_pds_does(
    atproto_peer: AtprotoPeer, account: PeerAccount
) -> None:
    """The same requests to the reference PDS and to the sandbox get the same status, error name and message:
    a taken record key, record keys the PDS refuses, and getRecord for a missing record or a bad key."""

    def exchange(base: str, did: str, headers: dict[str, str]) -> list[tuple[int, Any]]:
        answers = []
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        taken = record_key(datetime.now(UTC), "parity")
        for rkey in (taken, taken, "notatid", "kaaaaaaaaaaaa", "..", "", "x" * 513, None, 7):
            body = {"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey,
                    "record": {"$type": "app.bsky.feed.post", "text": "Parity", "createdAt": now}}
            answer = httpx.post(f"{base}/xrpc/com.atproto.repo.createRecord", json=body, headers=headers, timeout=10)
            answers.append((answer.status_code, None if answer.status_code == 200 else answer.json()))
        for rkey in (record_key(datetime(2027, 1, 1, tzinfo=UTC), "missing"), "bad key"):
            answer = httpx.get(f"{base}/xrpc/com.atproto.repo.getRecord", timeout=10,
                               params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})
            answers.append((answer.status_code, answer.json()))
        return [(status, _without_did(body, did)) for status, body in answers]

    from_pds = exchange(atproto_peer.pds, account.did, account.headers())
    assert from_pds[1] == (500, {"error": "InternalServerError", "message": "Internal Server Error"})
    with running(Sandbox(accounts=[SandboxAccount("bluesky", "lancs.bsky.social", "did:plc:parity",
                                                  "Lancashire Police", {"app_password": "a-b-c-d"})])) as sandbox:
        session = httpx.post(f"{sandbox.base_url}/xrpc/com.atproto.server.createSession", timeout=10,
                             json={"identifier": "lancs.bsky.social", "password": "a-b-c-d"}).json()
        from_sandbox = exchange(str(sandbox.base_url), session["did"],
                                {"Authorization": f"Bearer {session['accessJwt']}"})
    assert from_sandbox == from_pds


def _without_did(body: Any, did: str) -> Any:
    return None if body is None else {k: str(v).replace(did, "DID") for k, v in body.items()}


# -- engagement -----------------------------------------------------------------------------------------------


def test_engagement_is_read_back_through_the_appview(
    atproto_peer: AtprotoPeer, adapter: BlueskyAdapter
) -> None:
    """Another account likes, reposts, replies to and quotes a post; the adapter's metrics (getPosts, proxied
    by the PDS to the AppView) show each once the AppView has caught up (polled, with a deadline)."""
    receipt = adapter.publish(Outgoing("Know the signs of modern slavery #SeeItShareIt"))
    cid = atproto_peer.record(receipt.remote_id)["cid"]
    fan = atproto_peer.create_account("resident")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    subject = {"uri": receipt.remote_id, "cid": cid}
    atproto_peer.create(fan, "app.bsky.feed.like", {"subject": subject, "createdAt": now})
    atproto_peer.create(fan, "app.bsky.feed.repost", {"subject": subject, "createdAt": now})
    atproto_peer.create(fan, "app.bsky.feed.post",
                        {"text": "Shared with our street", "createdAt": now, "reply": {"root": subject, "parent": subject}})
    atproto_peer.create(fan, "app.bsky.feed.post",
                        {"text": "Worth reading", "createdAt": now,
                         "embed": {"$type": "app.bsky.embed.record", "record": subject}})

    wanted = {"likes": 1, "reposts": 1, "replies": 1, "quotes": 1}

    def counts() -> dict[str, int | None]:
        readings = adapter.metrics([receipt.remote_id])
        return {name: readings[0].measures[name] for name in wanted} if readings else {}

    assert poll(counts, lambda seen: seen == wanted) == wanted
    (reading,) = adapter.metrics([receipt.remote_id])
    assert reading.measures["views"] is None  # Bluesky reports no views: empty, never 0


# -- an outage ------------------------------------------------------------------------------------------------


def test_a_reply_lost_then_an_outage_leaves_one_post_found_by_its_lookup(
    atproto_peer: AtprotoPeer, account: PeerAccount
) -> None:
    """Through a fault proxy, the PDS creates the post but the reply is lost, then the PDS is unreachable for a
    few seconds: the publish is Transient with its outcome unknown, a lookup during the outage raises (a failed
    lookup is never "not found"), the lookup afterwards finds the post, and sending it again is refused."""
    with FaultProxy(atproto_peer.pds) as proxy:
        proxy.add_fault("bluesky:POST /xrpc/com.atproto.repo.createRecord:lose_reply:times=1,down=2")
        with BlueskyAdapter(atproto_peer.account_config(account, api_base=proxy.base_url, timeout=3)) as adapter:
            post = keyed("Modern slavery helpline: 08000 121 700", "runner-proof:e004/lancs:0a0b0c")
            with pytest.raises(Transient) as lost:
                adapter.publish(post)
            assert lost.value.outcome_unknown
            since = post.first_attempt_at - timedelta(seconds=5)  # type: ignore[operator]
            with pytest.raises(Transient):
                adapter.find(post, since)  # the PDS is down: the lookup could not ask
            found = poll(lambda: _find_or_none(adapter, post, since), lambda seen: seen is not None, seconds=10)
            assert found is not None and len(found) == 1
            with pytest.raises(Duplicate):
                adapter.publish(post)
    assert [r["value"]["text"] for r in atproto_peer.posts(account)].count(post.text) == 1
    assert found[0].remote_id == atproto_peer.posts(account)[0]["uri"]


def _find_or_none(adapter: BlueskyAdapter, post: Outgoing, since: datetime) -> list[Any] | None:
    try:
        return list(adapter.find(post, since))
    except Transient:
        return None


def test_the_runner_publishes_each_post_once_through_a_pds_outage(
    atproto_peer: AtprotoPeer, account: PeerAccount, tmp_path: Path
) -> None:
    """A runner publishes four posts due a second apart to the PDS through a fault proxy; the first create's
    reply is lost and the PDS is unreachable for three seconds. Every post ends ``published`` in the store,
    with the PDS's own record of it as its remote id, and each text is in the repository exactly once."""
    from campaign.publishing.events import EventBus
    from campaign.publishing.runner import Runner, RunnerSettings
    from tests.runner_fixtures import CAMPAIGN, put_on_real_time, schedule_and_approve, states, wait_until
    from tests.runner_fixtures import posts as stored_posts

    texts = [f"Runner through an outage {n}: report the signs on 101." for n in range(4)]
    with FaultProxy(atproto_peer.pds) as proxy:
        proxy.add_fault("bluesky:POST /xrpc/com.atproto.repo.createRecord:lose_reply:times=1,down=3")
        base = "\n".join([
            "campaign:", "  name: Runner proof", f"  id: {CAMPAIGN}", "  timezone: Europe/London",
            "  starts: 2027-03-15", "  ends: 2027-03-21", "  grace: 10m",
            "facts:", "  phones:", "    police: {label: Lancashire Police, number: '101'}",
            "accounts:", "  lancs-bsky:", "    platform: bluesky", f"    handle: '{account.handle}'",
            f"    api_base: {proxy.base_url}", "    credentials:", "      app_password: PEER_BSKY_APP_PASSWORD", "",
        ])
        posts_yaml = "".join(f"- {{id: e{n:03d}, accounts: [lancs-bsky], at: '2027-03-15 09:{n:02d}', "
                             f"text: '{text}'}}\n" for n, text in enumerate(texts))
        store = Store.open(f"sqlite:///{tmp_path / 'campaign.db'}")
        try:
            schedule_and_approve(store, write_campaign(tmp_path, posts_yaml, base=base))
            put_on_real_time(store, datetime.now(UTC) + timedelta(seconds=1), timedelta(seconds=1),
                             timedelta(minutes=10))
            settings = RunnerSettings(campaign=CAMPAIGN, refresh=0.5, horizon=timedelta(minutes=5), backoff=0.2,
                                      backoff_cap=1.0, timeout=3.0, read_lag=0.0)
            runner = Runner(store, settings, EventBus([]), environ={"PEER_BSKY_APP_PASSWORD": account.app_password},
                            name="peer-runner")
            runner.start()
            try:
                settled = wait_until(lambda: set(states(store).values()) == {PostState.PUBLISHED}, timeout=40)
            finally:
                runner.stop(wait=True)
            final = stored_posts(store)
        finally:
            store.close()
        lost = [r for r in proxy.requests("bluesky", "POST", "/xrpc/com.atproto.repo.createRecord") if r.fault]
    assert settled, {key: (post.state, post.last_error) for key, post in final.items()}
    assert [r.fault for r in lost] == ["lose_reply"]
    records = {r["value"]["text"]: r["uri"] for r in atproto_peer.posts(account)}
    assert sorted(r["value"]["text"] for r in atproto_peer.posts(account)) == sorted(texts)
    for post in final.values():
        assert post.remote_id == records[post.text], post.key
