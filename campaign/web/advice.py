"""What to do about a post that waits for a person, said for the desk.

The command line's advice (:func:`campaign.store.store.way_forward`) names commands. On the desk, what can be done
on the desk is said as the desk does it: a rejected post, or a draft whose approval was voided, is approved on
its page. What the desk cannot do (give a missed post a new time, send a failed one again, look a post up on its
platform) keeps its command, said as what a publisher can run.
"""

from __future__ import annotations

from campaign.store import PostState
from campaign.store.models import Post
from campaign.store.next_steps import way_forward


def what_to_do(post: Post, may_approve: bool, on_its_page: bool) -> str:
    """What to do about *post*, as a sentence for the desk. *may_approve*: the person reading may approve it;
    *on_its_page*: the sentence is shown on the post's own page, above its buttons (else in a list of posts
    that link to their pages)."""
    key = post.key
    where = ("below" if may_approve else "on this page") if on_its_page else "on its page"
    if post.state == PostState.REJECTED:
        who = f"approve it again {where}" if may_approve else f"an approver can approve it again {where}"
        return f"if the rejection no longer stands, {who}: the record will say it reverses the rejection"
    if post.state == PostState.DRAFT:
        who = f"look at it again and approve it {where}" if may_approve else \
            f"an approver needs to look at it again and approve it {where}"
        return f"it changed after it was approved, so the approval was voided: {who}"
    if post.state == PostState.MISSED:
        return ("its time has passed, and the desk cannot give it a new one: a publisher can, with "
                f"`campaign retry {key} --at 'YYYY-MM-DD HH:MM'` (or by moving it in the plan and scheduling again)")
    if post.state == PostState.FAILED:
        return ("fix the cause; the desk cannot send it again, but a publisher can put it back in the queue with "
                f"`campaign retry {key}` (adding --at TIME once its time has passed)")
    if post.state == PostState.UNKNOWN:
        return ("it may be out, and the desk cannot look: a publisher can, with `campaign reconcile "
                f"{key}`, which looks for it on the platform, then `campaign retry {key}`, which sends it again "
                "only if it is not there")
    return way_forward(post)
