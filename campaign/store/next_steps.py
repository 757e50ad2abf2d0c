"""What a person can do about a post that waits for one, said with the command to use (the desk says it its own
way: campaign/web/advice.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from campaign.store.models import Post, PostState
from campaign.store.sql import utcnow
from campaign.times import as_utc


def way_forward(post: Post, now: datetime | None = None, pair: Sequence[str] = ()) -> str:
    """What a person can do about a post that waits for one (at *now*), as a sentence with the command to use
    (*pair*: the keys of the posts it is paired with, rejected with it)."""
    key = post.key
    if post.state == PostState.MISSED:
        return (f"its time has passed; give it a new time with `campaign retry {key} --at 'YYYY-MM-DD HH:MM'` "
                "(or move it in the plan and schedule again)")
    if post.state == PostState.FAILED:
        return (f"fix the cause, then put it back in the queue with `campaign retry {key}` (add --at TIME once its "
                "time has passed)")
    if post.state == PostState.UNKNOWN:
        return (f"it may be out: `campaign reconcile {key}` looks for it on the platform now, and `campaign retry "
                f"{key}` sends it again only if it is not there")
    if post.state == PostState.REJECTED and pair:
        return (f"if the rejection no longer stands, approve it and its pair by their own keys (`campaign approve "
                f"{key} {' '.join(pair)}`): the record will say the approval reverses the rejection")
    if post.state == PostState.REJECTED:
        return (f"if the rejection no longer stands, approve it by its own key (`campaign approve {key}`): the record "
                "will say the approval reverses the rejection")
    if post.state == PostState.APPROVED:
        return (f"its time and grace window have passed (while paused, or with no `campaign run` running): it will not "
                f"go out by itself; once it is marked missed, give it a new time with `campaign retry {key} --at "
                "'YYYY-MM-DD HH:MM'`")
    if post.state == PostState.DRAFT and as_utc(post.late_after) < (now or utcnow()):
        return ("its time and grace window passed without sign-off: it did not go out; give it a time to come in the "
                "plan and schedule again, then approve it")
    if post.state == PostState.DRAFT:
        return (f"it changed after it was approved, so the approval was voided: preview it and approve it again "
                f"(`campaign approve {key}`)")
    return "nothing to do"
