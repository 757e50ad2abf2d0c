"""Fault injection: make the sandbox fail the way the platforms do, on purpose.

A fault rule names a platform, a request (method and path pattern), a kind of failure and when it
fires. As text (``campaign sandbox serve --faults SPEC``, repeatable)::

    PLATFORM:[METHOD ]PATH:KIND[:OPTION,OPTION...]

    x:POST /2/tweets:rate_limit:every=3
    facebook:GET /v*/*:expired_token
    mastodon:POST /api/v1/statuses:hang:times=1
    bluesky:*:error503:probability=0.2
    *:*:error500:every=10,after=2

- ``PLATFORM`` is ``x``, ``facebook``, ``mastodon``, ``bluesky``, ``linkedin``, ``instagram`` or ``*``.
- ``METHOD`` is optional (any method when left out, or ``*``).
- ``PATH`` is a glob over the request path without its query (``*`` matches anything, ``/`` too).
- ``KIND`` is one of :data:`FAULT_KINDS`:

  ``rate_limit``    429 with the platform's reset headers (Facebook: its rate-limit error JSON and usage headers)
  ``error500``      500 Internal Server Error, in the platform's error shape
  ``error503``      503 Service Unavailable, in the platform's error shape
  ``hang``          accept the request and never answer (until the client gives up or the server stops)
  ``expired_token`` X 401, Facebook code 190 subcode 463, Mastodon 401, Bluesky 400 ExpiredToken
  ``duplicate``     X 403 duplicate content, Facebook code 506 (Mastodon and Bluesky have no such error)
  ``lose_reply``    handle the request (a post is created), then drop the connection without answering
  ``slow_reply``    handle the request, then answer only after ``seconds`` (default 15: past a 10 s timeout)
  ``down``          refuse connections for ``seconds`` from the moment it fires (the server is down)
  ``ignore_idempotency``  handle the request as if it carried no ``Idempotency-Key`` (as some servers do)
  ``bad_appsecret`` Facebook code 100: invalid ``appsecret_proof`` (the app secret is wrong)
  ``no_scope``      the token may not post: X 403 app permissions, Mastodon 403 outside the authorized scopes
  ``bad_token``     a Mastodon-API server answering a refused token with 400 and its own message

- ``OPTION``\\s: ``every=N`` (the Nth, 2Nth... matching call; the default is every call),
  ``probability=P`` (each matching call with probability P, from the sandbox's seeded generator),
  ``after=N`` (let the first N matching calls through), ``times=N`` (fire at most N times),
  ``reset=SECONDS`` (rate limits: when the limit resets, default 60), ``code=N`` (Facebook rate
  limits: 4, 17, 32 or 613; default 32), ``seconds=S`` (``slow_reply``, ``down``: how long), ``down=S``
  (any kind: once it fires, the server refuses connections for S seconds, as one that died would).
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from campaign.exceptions import CampaignError

FAULT_KINDS = (
    "rate_limit",
    "error500",
    "error503",
    "hang",
    "expired_token",
    "duplicate",
    "lose_reply",
    "slow_reply",
    "down",
    "ignore_idempotency",
    "bad_appsecret",
    "no_scope",
    "bad_token",
)
TRANSPORT_FAULTS = ("lose_reply", "slow_reply", "down", "ignore_idempotency")
ONLY_ON = {
    "bad_appsecret": ("facebook",),
    "no_scope": ("x", "facebook", "mastodon", "linkedin", "instagram"),
    "bad_token": ("mastodon",),
}
"""Faults that are one platform's own answer, and the platforms that give it."""
"""Faults of the connection rather than of the platform's answer: the same for every platform."""
PLATFORM_NAMES = ("x", "facebook", "mastodon", "bluesky", "linkedin", "instagram")
NO_DUPLICATE_ERROR = ("mastodon", "bluesky", "instagram")
FACEBOOK_RATE_LIMIT_CODES = (4, 17, 32, 613)

_SPEC = re.compile(
    r"^(?P<platform>[a-z*]+):(?:(?P<method>[A-Za-z]+|\*)\s+)?(?P<path>/[^:]*|\*):(?P<kind>[a-z_0-9]+)"
    r"(?::(?P<options>.*))?$"
)


class FaultSpecError(CampaignError):
    """A fault rule that cannot be understood."""


@dataclass
class FaultRule:
    """When and how the sandbox fails a request on purpose."""

    platform: str
    kind: str
    path: str = "*"
    method: str = "*"
    every: int | None = None
    probability: float | None = None
    after: int = 0
    times: int | None = None
    reset: int = 60
    code: int | None = None
    seconds: float | None = None
    down: float | None = None
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.platform != "*" and self.platform not in PLATFORM_NAMES:
            raise FaultSpecError(
                f"unknown platform {self.platform!r} in a fault rule; use one of {', '.join(PLATFORM_NAMES)} or *"
            )
        if self.kind not in FAULT_KINDS:
            raise FaultSpecError(f"unknown fault {self.kind!r}; the faults are: {', '.join(FAULT_KINDS)}")
        if self.kind == "duplicate" and self.platform in NO_DUPLICATE_ERROR:
            raise FaultSpecError(
                f"{self.platform} accepts identical posts, so it has no duplicate error to inject; "
                "use the fault on x or facebook"
            )
        played_by = ONLY_ON.get(self.kind)
        if played_by is not None and self.platform not in played_by:
            where = "every platform (*)" if self.platform == "*" else self.platform
            raise FaultSpecError(
                f"the {self.kind} fault is an answer only {', '.join(played_by)} give{'s' * (len(played_by) == 1)}; "
                f"name {'it' if len(played_by) == 1 else 'one of them'} instead of {where}"
            )
        if self.every is not None and self.every < 1:
            raise FaultSpecError(f"every={self.every} must be 1 or more")
        for name in ("seconds", "down"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 3600:
                raise FaultSpecError(f"{name}={value:g} must be more than 0 and at most 3600 seconds")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise FaultSpecError(f"probability={self.probability} must be between 0 and 1")
        if self.code is not None and self.code not in FACEBOOK_RATE_LIMIT_CODES:
            codes = ", ".join(map(str, FACEBOOK_RATE_LIMIT_CODES))
            raise FaultSpecError(f"code={self.code} is not a Facebook rate-limit code; use one of {codes}")

    def spec(self) -> str:
        """The rule as text, in the grammar :func:`parse_fault` reads."""
        options = []
        for name in ("every", "probability", "times", "code", "seconds", "down"):
            value = getattr(self, name)
            if value is not None:
                options.append(f"{name}={value}")
        if self.after:
            options.append(f"after={self.after}")
        if self.kind == "rate_limit" and self.reset != 60:
            options.append(f"reset={self.reset}")
        method = "" if self.method == "*" else f"{self.method} "
        text = f"{self.platform}:{method}{self.path}:{self.kind}"
        return f"{text}:{','.join(options)}" if options else text

    def matches(self, platform: str, method: str, path: str) -> bool:
        return (
            self.platform in ("*", platform)
            and self.method in ("*", method.upper())
            and fnmatch.fnmatchcase(path, self.path)
        )


def parse_fault(text: str) -> FaultRule:
    """Read one fault rule; see the module docstring for the grammar."""
    match = _SPEC.match(text.strip())
    if match is None:
        raise FaultSpecError(
            f"cannot read the fault rule {text!r}: write PLATFORM:[METHOD ]PATH:KIND[:OPTIONS], "
            "for example 'x:POST /2/tweets:rate_limit:every=3'"
        )
    values: dict[str, object] = {}
    for option in filter(None, (match["options"] or "").split(",")):
        name, _, value = option.strip().partition("=")
        try:
            if name in ("every", "after", "times", "reset", "code"):
                values[name] = int(value)
            elif name in ("seconds", "down"):
                values[name] = float(value)
            elif name in ("probability", "p"):
                values["probability"] = float(value)
            else:
                raise FaultSpecError(
                    f"unknown option {name!r} in the fault rule {text!r}; "
                    "the options are every, probability, after, times, reset, code, seconds, down"
                )
        except ValueError:
            raise FaultSpecError(f"the option {option!r} in the fault rule {text!r} needs a number") from None
    return FaultRule(
        platform=match["platform"],
        method=match["method"] or "*",
        path=match["path"],
        kind=match["kind"],
        **values,  # type: ignore[arg-type]
    )


class FaultPlan:
    """The active fault rules, thread-safe; the first rule that fires wins."""

    def __init__(self, rules: Iterable[FaultRule | str] = (), seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rules: list[FaultRule] = []
        self._random = random.Random(f"faults:{seed}")
        self.set(rules)

    def set(self, rules: Iterable[FaultRule | str]) -> None:
        """Replace every rule (and restart their counters)."""
        parsed = [parse_fault(rule) if isinstance(rule, str) else rule for rule in rules]
        with self._lock:
            self._rules = parsed
            self._random = random.Random(f"faults:{self._seed}")

    def add(self, rule: FaultRule | str) -> FaultRule:
        parsed = parse_fault(rule) if isinstance(rule, str) else rule
        with self._lock:
            self._rules.append(parsed)
        return parsed

    def clear(self) -> None:
        self.set(())

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, platform: str, method: str, path: str) -> FaultRule | None:
        """The rule that fails this request, if any (and count the request against every matching rule)."""
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(platform, method, path):
                    continue
                rule.seen += 1
                if chosen is None and self._fires(rule):
                    rule.fired += 1
                    chosen = rule
        return chosen

    def _fires(self, rule: FaultRule) -> bool:
        if rule.times is not None and rule.fired >= rule.times:
            return False
        position = rule.seen - rule.after
        if position < 1:
            return False
        if rule.probability is not None:
            return self._random.random() < rule.probability
        return position % (rule.every or 1) == 0
