"""The sign-off desk run for real, for tests: uvicorn serving ``create_app`` on a free port of 127.0.0.1 (in a
thread of the test's process, as ``campaign serve`` would in its own), over a real store holding the bundled
week, with one user per role; and a browser-like HTTP client (httpx, with its cookie jar) that reads each page's
forms the way a person's browser would post them.

A plain module, not a conftest: test modules import what they use (``desk = desk_fixtures.desk``).
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from campaign.example import example_root
from campaign.people import ROLE_ACTIONS, Action, Role
from campaign.render import render_plan
from campaign.store import Store
from campaign.store.models import Post
from campaign.web.app import create_app
from campaign.web.settings import DeskSettings
from tests import store_fixtures

PASSWORD = "correct horse battery staple"
CAMPAIGN = "modern-slavery-week"
SECRET = "a test secret that is long enough to sign desk sessions"


@dataclass(frozen=True)
class User:
    login: str
    name: str
    roles: tuple[str, ...]
    campaigns: tuple[str, ...] | None = None
    accounts: tuple[str, ...] | None = None

    def allows(self, action: Action) -> bool:
        """What :data:`campaign.people.ROLE_ACTIONS` says this user's roles allow (scope aside)."""
        return any(action in ROLE_ACTIONS[Role(role)] for role in self.roles)


USERS = {
    "admin": User("ada", "Ada Admin", ("admin",)),
    "author": User("abe", "Abe Author", ("author",)),
    "approver": User("jo", "Insp. Jo Reviewer", ("approver",)),
    "publisher": User("pat", "Pat Publisher", ("publisher",)),
    "analyst": User("ann", "Ann Analyst", ("analyst",)),
    "x-only": User("xena", "Xena, X account only", ("approver", "publisher"), accounts=("lancs-x",)),
    "other-campaign": User("otto", "Otto, another campaign", ("approver", "publisher"),
                           campaigns=("another-campaign",)),
}
"""One user per role, and two limited in scope: to one account, and to a campaign this store does not hold."""
SERVICE = "runner-1"
"""A service account (a runner's): it never signs in to the desk."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_example(root: Path) -> Path:
    """The bundled campaign copied into *root* (plan, images, templates); returns the plan's path."""
    source = example_root()
    for folder in ("schedules", "posts"):
        shutil.copytree(source / folder, root / folder)
    return root / "schedules" / "modern-slavery-week.yaml"


def add_users(store: Store) -> None:
    for user in USERS.values():
        store.add_user("test-setup", user.login, user.name, user.roles, password=PASSWORD,
                       campaigns=user.campaigns, accounts=user.accounts)
    store.add_user("test-setup", SERVICE, "Runner one", ["publisher"], service=True)


@contextmanager
def serving(url: str, forwarded_allow_ips: str = "127.0.0.1", secure_cookies: bool = False) -> Iterator[str]:
    """The desk over the store at *url*, served by uvicorn on a free port until the block ends; yields its base
    URL. uvicorn's proxy-headers middleware trusts X-Forwarded-* from *forwarded_allow_ips*, and it sends no
    server banner, as ``campaign serve`` configures it."""
    app = create_app(DeskSettings(db=url, secret=SECRET, secure_cookies=secure_cookies))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                            proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the desk did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.desk.store.close()


@dataclass
class DeskRun:
    url: str
    """The desk's base URL."""
    store: Store
    plan: Path
    """The campaign's plan (a copy of the bundled one, which a test may change and schedule again)."""
    store_url: str

    def browser(self, **headers: str) -> Browser:
        return Browser(httpx.Client(base_url=self.url, follow_redirects=False, timeout=60, headers=headers))

    def signed_in(self, login: str, password: str = PASSWORD) -> Browser:
        browser = self.browser()
        answer = browser.sign_in(login, password)
        assert answer.status_code == 303, answer.text
        return browser

    def post(self, key: str) -> Post:
        return self.store.post(key, CAMPAIGN)

    def reschedule(self, old: str, new: str) -> None:
        """Change the plan's words *old* to *new* and schedule it again (as its author would)."""
        text = self.plan.read_text(encoding="utf-8")
        assert old in text, old
        self.plan.write_text(text.replace(old, new, 1), encoding="utf-8")
        rendered = render_plan(self.plan)
        assert rendered.ok, [str(p) for p in rendered.errors]
        self.store.schedule(rendered, "test-setup")

    def audit(self, action: str | None = None) -> list[Any]:
        return [e for e in self.store.audit() if action is None or e.action == action]


@pytest.fixture
def desk(tmp_path: Path, store_url: str) -> Iterator[DeskRun]:
    """The desk, served for real over a new store (SQLite, and PostgreSQL when $CAMPAIGN_TEST_POSTGRES_URL is
    set) holding the bundled week (all drafts) and one user per role."""
    plan = copy_example(tmp_path / "campaign")
    store = Store.open(store_url)
    try:
        rendered = render_plan(plan)
        assert rendered.ok
        store.schedule(rendered, "test-setup")
        add_users(store)
        with serving(store_url) as url:
            yield DeskRun(url, store, plan, store_url)
    finally:
        store.close()


@pytest.fixture
def sqlite_desk(tmp_path: Path) -> Iterator[DeskRun]:
    """As :func:`desk`, on SQLite only (for what does not depend on the database)."""
    with desk_over(copy_example(tmp_path / "campaign"), store_fixtures.sqlite_url(tmp_path)) as run:
        yield run


@contextmanager
def desk_over(plan: Path, url: str) -> Iterator[DeskRun]:
    """The desk, served for real over the store at *url* holding *plan* (all drafts) and one user per role."""
    store = Store.open(url)
    try:
        store.schedule(render_plan(plan), "test-setup")
        add_users(store)
        with serving(url) as base:
            yield DeskRun(base, store, plan, url)
    finally:
        store.close()


# -- a browser, as far as forms go -----------------------------------------------------------------


class _Forms(HTMLParser):
    """Every form of a page: its id, action, and the values its hidden inputs (and named buttons) send."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, dict[str, Any]] = {}
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._current = {"action": attributes.get("action") or "", "method": attributes.get("method") or "get",
                             "fields": []}
            self.forms[attributes.get("id") or f"form-{len(self.forms)}"] = self._current
        elif (tag == "input" and self._current is not None and attributes.get("name")
              and attributes.get("type") in ("hidden", None, "text")):
            self._current["fields"].append((attributes["name"], attributes.get("value") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(page: str) -> dict[str, dict[str, Any]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def as_form(data: dict[str, Any] | list[tuple[str, str]]) -> dict[str, Any]:
    """*data* as httpx takes a form: a name given several times maps to the list of its values."""
    if isinstance(data, dict):
        return data
    form: dict[str, Any] = {}
    for name, value in data:
        if name in form:
            form[name] = [*(form[name] if isinstance(form[name], list) else [form[name]]), value]
        else:
            form[name] = value
    return form


@dataclass
class Browser:
    http: httpx.Client
    last_page: str = ""
    pages: list[str] = field(default_factory=list)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.http.get(path, **kwargs)
        self.last_page = answer.text
        return answer

    def token(self) -> str:
        """This session's CSRF token, as the last page's forms carry it."""
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.last_page)
        assert found is not None, "the page has no form with a CSRF token"
        return found.group(1)

    def sign_in(self, login: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
        self.get("/login")
        return self.http.post("/login", data={"csrf_token": self.token(), "login": login, "password": password,
                                              "next": "/"}, headers=headers)

    def submit(self, form_id: str, page: str | None = None, **values: str) -> httpx.Response:
        """Post the form *form_id* of *page* (default: the last page read) with its hidden fields, and *values*."""
        form = forms_of(page if page is not None else self.last_page)[form_id]
        data: list[tuple[str, str]] = [(name, value) for name, value in form["fields"] if name not in values]
        data += list(values.items())
        answer = self.http.post(form["action"], data=as_form(data))
        self.last_page = answer.text
        return answer

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> httpx.Response:
        answer = self.http.post(path, data=as_form(data))
        self.last_page = answer.text
        return answer
