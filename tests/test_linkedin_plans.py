"""LinkedIn pages in a plan: checked as LinkedIn takes posts, and published through the whole toolkit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from campaign.cli import main
from campaign.engagement import Collector
from campaign.export import ExportFilter, rows
from campaign.publishing.rehearsal import rehearsal
from tests.plan_fixtures import WITH_LINKEDIN, line_of, write_campaign

POSTS = """\
- id: launch
  accounts: [lancs-linkedin, lancs-mastodon]
  at: '2027-03-15 09:00'
  text: 'Our week of action starts today (15-21 March). Worried about someone? Call {{ phones.police }}.'
- id: launch-more
  accounts: [lancs-linkedin, lancs-mastodon]
  reply_to: launch
  at: '2027-03-15 09:05'
  text: 'More: {{ links.advice }}'
"""


def test_a_reply_addressed_to_a_linkedin_page_is_an_error_at_its_line(tmp_path: Path) -> None:
    """LinkedIn has no threads: `validate` names the reply's line and says how to fix it, and nothing else is
    wrong with the plan (the Mastodon reply is fine)."""
    plan = write_campaign(tmp_path, POSTS, base=WITH_LINKEDIN)
    result = CliRunner().invoke(main, ["validate", str(plan)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.output
    line = line_of(plan, "text: 'More:")
    assert (f"{plan}:{line}: post 'launch-more' for lancashire-police (linkedin): LinkedIn has no threads, so this "
            "reply cannot go there — leave the LinkedIn account out of this post's `accounts:` (name the others "
            "instead of `all`)") in result.output
    assert f"{plan}: not ready: 1 error, 0 warnings in 2 plan entries (4 posts to publish)" in result.output


def test_linkedin_counts_a_post_with_its_escapes(tmp_path: Path) -> None:
    """LinkedIn's 3,000 characters are counted on the words as sent, every ( ) _ * escaped: 2,990 characters with
    ten pairs of brackets are 3,010, over the limit, at `validate` time rather than when the post is due."""
    words = "a" * 2970 + "()" * 10
    plan = write_campaign(tmp_path, f"""\
        - id: long
          accounts: [lancs-linkedin]
          at: '2027-03-15 09:00'
          hashtags: false
          text: '{words}'
        """, base=WITH_LINKEDIN)
    result = CliRunner().invoke(main, ["validate", str(plan)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.output
    assert ("it is 3010 characters as LinkedIn counts them (the words as sent: each ( ) [ ] { } < > * _ ~ | @ \\ "
            "counts twice and each hashtag 12 more), over its limit of 3000") in result.output


def test_a_week_with_a_linkedin_page_is_rehearsed_through_the_runner(tmp_path: Path) -> None:
    """`campaign rehearse` plays a plan with a LinkedIn page against the sandbox: its account is made with
    fresh credentials, the runner publishes both posts there (and Mastodon's), and the summary counts them.
    (That LinkedIn's page shows each post's words as written is the contract tests'.)"""
    plan = write_campaign(tmp_path, POSTS.replace("  reply_to: launch\n", ""), base=WITH_LINKEDIN)
    result = CliRunner().invoke(main, ["rehearse", str(plan), "--speed", "3600"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.split()}
    assert rows["linkedin"] == ["2", "0", "0"] and rows["total"] == ["4", "0", "0"]


def test_linkedin_engagement_reaches_the_export_and_the_report(tmp_path: Path) -> None:
    """After a rehearsal and a collection, each LinkedIn post's row in the export carries LinkedIn's numbers
    (impressions as views, unique impressions as reach, likes, comments as replies, shares as reposts, clicks
    as link clicks), and what LinkedIn does not report (quotes) is empty, never 0; the report has a LinkedIn row
    with an engagement rate."""
    plan = write_campaign(tmp_path, POSTS.replace("  reply_to: launch\n", ""), base=WITH_LINKEDIN)
    with rehearsal(plan, speed=200_000, start_in=0.5, workdir=tmp_path) as run:
        assert run.run(timeout=60).totals == {"published": 4}
        Collector(run.store, run.environ, clock=lambda: datetime.now(UTC) + timedelta(days=1)).collect_all()
        linkedin = [row for row in rows(run.store, ExportFilter(latest=True)) if row["platform"] == "linkedin"]
    assert len(linkedin) == 2
    for row in linkedin:
        assert all(isinstance(row[name], int) and row[name] > 0 for name in ("views", "reach", "likes"))
        assert all(isinstance(row[name], int) for name in ("replies", "reposts", "link_clicks"))
        assert row["quotes"] is None
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "rehearsal.db"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    by_platform = page.read_text(encoding="utf-8").split('id="by-platform"', 1)[1].split("</section>", 1)[0]
    [row] = [row for row in by_platform.split("<tr>") if "<td>linkedin</td>" in row]
    assert "not reported" not in row and re.search(r"\d+\.\d\d%</td>", row)


def test_a_linkedin_page_address_pasted_as_the_handle_is_an_error_that_names_the_page(tmp_path: Path) -> None:
    """The handle is the page's name in its address: an address pasted whole is an error at its line whose fix
    is that name, taken from the address (not an example's)."""
    base = WITH_LINKEDIN.replace("    handle: lancashire-police\n",
                                 "    handle: 'https://www.linkedin.com/company/merseyside-police/'\n")
    plan = write_campaign(tmp_path, POSTS.replace("  reply_to: launch\n", ""), base=base)
    result = CliRunner().invoke(main, ["validate", str(plan)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.output
    assert (f"{plan}:{line_of(plan, 'merseyside-police')}: accounts.lancs-linkedin.handle: "
            "'https://www.linkedin.com/company/merseyside-police/' is not a LinkedIn page's name — write the name "
            "in the address only: 'merseyside-police'") in result.output
