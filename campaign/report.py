"""The engagement report: totals and engagement rate by day, platform, account, language and hashtag, the top
posts, and engagement over the campaign as charts — one self-contained HTML page, and a terminal summary."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from campaign.export import ExportFilter, rows
from campaign.plan.languages import describe_language
from campaign.platforms import PLATFORMS
from campaign.store import Store


@dataclass
class Tally:
    """Sums over posts. Views are summed only where the platform reports them (Mastodon and Bluesky do not),
    and the engagement rate uses only the posts whose views are known — never a guess."""

    posts: int = 0
    engagements: int = 0
    views: int | None = None
    engagements_with_views: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.posts += 1
        self.engagements += row["engagements"] or 0
        if row["views"] is not None:
            self.views = (self.views or 0) + row["views"]
            self.engagements_with_views += row["engagements"] or 0

    @property
    def rate(self) -> float | None:
        return self.engagements_with_views / self.views if self.views else None


@dataclass
class Report:
    campaign: str
    """The campaign's id."""
    name: str = ""
    """The campaign's name, for people (from the store's campaign row)."""
    total: Tally = field(default_factory=Tally)
    by: dict[str, dict[str, Tally]] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    """Platform -> (time, total engagements of its posts by then), from every snapshot."""


DIMENSIONS = ("day", "platform", "account", "language", "hashtag")


def dimensions(report: Report) -> tuple[str, ...]:
    """The breakdowns worth showing: by language only where the campaign's posts are in more than one (Welsh
    and English side by side)."""
    return tuple(d for d in DIMENSIONS if d != "language" or len(report.by["language"]) > 1)


def build(store: Store, campaign: str, top: int = 10) -> Report:
    report = Report(campaign, store.campaign_row(campaign).name)
    for dimension in DIMENSIONS:
        report.by[dimension] = defaultdict(Tally)
    latest = list(rows(store, ExportFilter(campaign=campaign, latest=True)))
    for row in latest:
        report.total.add(row)
        report.by["day"][row["day"]].add(row)
        report.by["platform"][row["platform"]].add(row)
        report.by["account"][f"{row['account']} ({row['handle']})"].add(row)
        report.by["language"][f"{describe_language(row['language'])} ({row['language']})"].add(row)
        for tag in row["hashtags"].split():
            report.by["hashtag"][tag].add(row)
    report.top = sorted(latest, key=lambda r: r["engagements"] or 0, reverse=True)[:top]
    report.series = _series(rows(store, ExportFilter(campaign=campaign)))
    return report


def _series(snapshots: Iterable[dict[str, Any]]) -> dict[str, list[tuple[datetime, int]]]:
    ordered = sorted((r for r in snapshots if r["collected_at"]), key=lambda r: r["collected_at"])
    current: dict[str, dict[str, int]] = defaultdict(dict)
    series: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for row in ordered:
        platform = row["platform"]
        current[platform][row["post"]] = row["engagements"] or 0
        when = datetime.fromisoformat(row["collected_at"].replace("Z", "+00:00"))
        series[platform].append((when, sum(current[platform].values())))
    return dict(series)


def summary_lines(report: Report) -> list[str]:
    total = report.total
    lines = [f"{report.campaign}: {total.posts} posts published, {_count(total.views)} views, "
             f"{total.engagements:,} engagements, engagement rate {_percent(total.rate)}"]
    shown = [d for d in ("platform", "day", "language") if d in dimensions(report)]
    width = max([12, *(len(key) for dimension in shown for key in report.by[dimension])])
    for dimension in shown:
        lines.append(f"by {dimension}:")
        for key, tally in sorted(report.by[dimension].items()):
            lines.append(f"  {key:<{width}} {tally.posts:>4} posts {_count(tally.views):>10} views "
                         f"{tally.engagements:>8,} engagements  {_percent(tally.rate):>7}")
    if report.top:
        best = report.top[0]
        lines.append(f"top post: {best['post']} ({best['engagements'] or 0:,} engagements) {best['url'] or ''}")
    return lines


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.2%}"


NOT_REPORTED = "not reported"
"""What the HTML report shows where a platform reports no figure (Mastodon and Bluesky report no views)."""


def _reported_count(value: int | None) -> str:
    return NOT_REPORTED if value is None else f"{value:,}"


def _reported_rate(rate: float | None, views: int | None) -> str:
    """The engagement rate; "not reported" when no views are, "—" when the views reported are none."""
    if rate is not None:
        return f"{rate:.2%}"
    return NOT_REPORTED if views is None else "—"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(report: Report) -> dict[str, str]:
    """The report's charts as PNG data URIs (matplotlib, drawn off-screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result: dict[str, str] = {}
    figure, axis = plt.subplots(figsize=(8, 3.2))
    for platform, points in sorted(report.series.items()):
        times: Any = [p[0] for p in points]
        axis.step(times, [p[1] for p in points], where="post", label=platform,
                  color=PLATFORMS[platform].colour)
    axis.set_title("Engagement over the campaign")
    axis.set_ylabel("engagements")
    if report.series:  # nothing collected yet: no lines, so no legend (matplotlib would warn)
        axis.legend(loc="upper left", fontsize=8)
    figure.autofmt_xdate()
    result["over_time"] = _png(figure)
    plt.close(figure)

    days = sorted(report.by["day"])
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.bar(days, [report.by["day"][d].engagements for d in days], color="#0b2545")
    axis.set_title("Engagements by day")
    figure.autofmt_xdate()
    result["by_day"] = _png(figure)
    plt.close(figure)

    platforms = sorted(report.by["platform"])
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.bar(platforms, [100 * (report.by["platform"][p].rate or 0) for p in platforms],
             color=[PLATFORMS[p].colour for p in platforms])
    for position, platform in enumerate(platforms):
        if report.by["platform"][platform].views is None:  # no bar: say why, rather than draw a zero
            axis.text(position, 0, NOT_REPORTED, rotation=90, ha="center", va="bottom", fontsize=8,
                      color="#5b6470")
    axis.set_title("Engagement rate by platform (%)")
    result["rate_by_platform"] = _png(figure)
    plt.close(figure)
    return result


def html(report: Report) -> str:
    env = Environment(loader=PackageLoader("campaign", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["percent"] = _percent
    env.filters["count"] = _count
    env.filters["reported"] = _reported_count
    env.globals["reported_rate"] = _reported_rate
    return env.get_template("report.html.j2").render(report=report, charts=charts(report),
                                                      dimensions=dimensions(report))
