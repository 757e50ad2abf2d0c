"""Everything done on the desk is on the record under the person's own login, and the desk's audit page reads
the record back: filtered, paged, and limited to what the person's work covers."""

from __future__ import annotations

import json
import re

from tests import desk_fixtures
from tests.desk_fixtures import CAMPAIGN, DeskRun

sqlite_desk = desk_fixtures.sqlite_desk

POST = "launch-what-is/lancs-x"
OTHER = "week-launch/lancs-facebook"


def test_every_desk_action_is_audited_with_the_persons_login(sqlite_desk: DeskRun) -> None:
    """Login, failed login, logout, approve, reject, pause and resume done on the desk each appear in the audit
    trail with the login of the person who did them (and logins with the client's address)."""
    desk = sqlite_desk
    assert desk.browser().sign_in("jo", "not my password at all").status_code == 401
    jo = desk.signed_in("jo")
    jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN})
    assert jo.submit("approve-form").status_code == 303
    jo.get(f"/posts/{OTHER}", params={"campaign": CAMPAIGN})
    assert jo.submit("reject-form", reason="The photo credit is missing").status_code == 303
    jo.get("/", params={"campaign": CAMPAIGN})
    assert jo.submit("sign-out-form").status_code == 303

    pat = desk.signed_in("pat")
    pat.get("/status", params={"campaign": CAMPAIGN})
    assert pat.submit("pause-form", reason="Critical incident in Preston").status_code == 303
    pat.get("/status", params={"campaign": CAMPAIGN})
    assert pat.submit("resume-form-campaign").status_code == 200

    trail = [(e.actor, e.action, e.post_key, json.loads(e.details)) for e in desk.audit()
             if e.actor in ("jo", "pat")]
    actions = [(actor, action) for actor, action, _, _ in trail]
    for expected in [("jo", "login_failed"), ("jo", "login"), ("jo", "approved"), ("jo", "rejected"),
                     ("jo", "logout"), ("pat", "login"), ("pat", "paused"), ("pat", "resumed")]:
        assert expected in actions, expected
    by_action = {(actor, action): (key, details) for actor, action, key, details in trail}
    assert by_action[("jo", "approved")][0] == POST
    assert by_action[("jo", "rejected")][0] == OTHER
    assert by_action[("jo", "rejected")][1]["reason"] == "The photo credit is missing"
    assert by_action[("pat", "paused")][1]["reason"] == "Critical incident in Preston"
    assert by_action[("jo", "login")][1]["source"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{16}", by_action[("jo", "logout")][1]["session"])


def test_the_audit_page_filters_by_post_person_and_action_and_pages_newest_first(sqlite_desk: DeskRun) -> None:
    """The audit page lists the campaign's trail newest first, 50 entries a page with a link to older ones, and
    filters by post (key or plan entry), by who and by what."""
    desk = sqlite_desk
    jo = desk.signed_in("jo")
    jo.get(f"/posts/{POST}", params={"campaign": CAMPAIGN})
    jo.submit("approve-form")

    first = jo.get("/audit", params={"campaign": CAMPAIGN}).text
    rows = re.findall(r'<tr data-action="([^"]+)" data-actor="([^"]+)"', first)
    assert len(rows) == 50 and rows[0] == ("approved", "jo") and 'id="older"' in first
    last = jo.get("/audit", params={"campaign": CAMPAIGN, "page": 3}).text
    assert 'id="older"' not in last and 'id="newer"' in last

    mine = jo.get("/audit", params={"campaign": CAMPAIGN, "actor": "jo"}).text
    assert re.findall(r'<tr data-action="([^"]+)" data-actor="([^"]+)"', mine) == [("approved", "jo")]
    entry = jo.get("/audit", params={"campaign": CAMPAIGN, "post": "launch-what-is"}).text
    assert {a for a, _ in re.findall(r'<tr data-action="([^"]+)" data-actor="([^"]+)"', entry)} == {"added",
                                                                                                  "approved"}
    assert "launch-what-is/lancs-mastodon" in entry
    added = jo.get("/audit", params={"campaign": CAMPAIGN, "action": "added"}).text
    assert {a for a, _ in re.findall(r'<tr data-action="([^"]+)" data-actor="([^"]+)"', added)} == {"added"}


def test_the_audit_page_shows_only_what_the_persons_work_covers(sqlite_desk: DeskRun) -> None:
    """A person limited to one account sees the trail of that account's posts (and the campaign's own entries),
    not the others'; the store-wide entries — logins, users — are shown to admins only."""
    desk = sqlite_desk
    xena = desk.signed_in("xena")
    page = xena.get("/audit", params={"campaign": CAMPAIGN, "action": "added"}).text
    keys = set(re.findall(r'<a href="/posts/[^"]+">([^<]+)</a>', page))
    assert keys and all(key.endswith("/lancs-x") for key in keys)
    assert "data-action=\"login\"" not in xena.get("/audit", params={"campaign": CAMPAIGN}).text
    ada = desk.signed_in("ada")
    logins = ada.get("/audit", params={"campaign": CAMPAIGN, "action": "login"}).text
    assert 'data-action="login" data-actor="xena"' in logins
