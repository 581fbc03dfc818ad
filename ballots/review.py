"""The fraud review of a poll (issue 14, docs/review.md): counts over time, top sources, flags.

Pure queries, aggregated in the database: nothing here loads the ballots one by one. A flag is a
cluster of counted ballots that one rule picked out; it voids nothing by itself (PIPL Art. 24):
a person looks at it and may void it with a reason and a note (ballots.admin.review).

Only staff see a cluster's key (a network or a 号段). What the public sees of a voided cluster
is its size, time span, reason category and rule (Voiding).
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import Count, F, Max, Min, Q
from django.db.models.functions import (
    ExtractHour,
    ExtractMinute,
    Floor,
    Substr,
    TruncHour,
    TruncMinute,
)
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from .models import Ballot, Choice, ReviewSnapshot

AUTOMATION = "自动化工具"
# Substrings of a user agent that no citizen's browser sends: scripts, headless browsers.
AUTOMATION_MARKERS = (
    "headless",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl/",
    "wget/",
    "selenium",
    "webdriver",
    "phantomjs",
    "puppeteer",
    "playwright",
    "okhttp",
    "go-http-client",
    "java/",
    "scrapy",
    "bot",
    "spider",
)

RULES = {
    "burst": _("短时集中投票"),
    "night": _("夜间集中投票"),
    "same_gap": _("验证时间间隔相同"),
    "automation": _("自动化工具"),
}


@lru_cache(maxsize=4096)
def ua_family(user_agent):
    """A coarse family, "微信 / Android", "Chrome / Windows" or "自动化工具": never the raw string.

    Cached: a city's citizens send a few hundred distinct user agents, and parsing costs ~1 ms.
    """
    user_agent = (user_agent or "")[:1000]
    if not user_agent.strip():
        return AUTOMATION
    lowered = user_agent.lower()
    if any(marker in lowered for marker in AUTOMATION_MARKERS):
        return AUTOMATION
    from ua_parser import parse

    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    system = parsed.os.family if parsed.os else "Other"
    if "micromessenger" in lowered or browser == "WeChat Browser":
        browser = "微信"
    elif browser.lower().startswith(("python", "curl", "wget", "go-http", "java")):
        return AUTOMATION
    return f"{browser} / {system}"[:40]


@dataclass
class Cluster:
    """A flag: ballots of one poll that one rule picked out, described by a filter."""

    rule: str
    kind: str  # "network" or "segment"
    key: str  # the network, or the 号段 (seven digits): staff only
    size: int
    first_cast_at: datetime | None = None
    last_cast_at: datetime | None = None
    start: datetime | None = None  # the burst's window, [start, end)
    end: datetime | None = None
    night: bool = False
    seconds_from_code: int | None = None
    automation: bool = False
    choices: list = field(default_factory=list)  # [(number, title, votes)] when size >= 10

    @property
    def rule_label(self):
        return RULES[self.rule]

    _MOMENTS = ("first_cast_at", "last_cast_at", "start", "end")

    def as_dict(self):
        """The cluster as JSON for the stored review (ReviewSnapshot)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in self._MOMENTS:
            data[name] = data[name].isoformat() if data[name] else None
        data["choices"] = [list(choice) for choice in self.choices]
        return data

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        for name in cls._MOMENTS:
            data[name] = datetime.fromisoformat(data[name]) if data[name] else None
        return cls(**data)

    @property
    def id(self):
        parts = [
            self.rule,
            self.kind,
            self.key,
            self.start.isoformat() if self.start else "",
            self.end.isoformat() if self.end else "",
            str(self.seconds_from_code),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def q(self):
        """The cluster as a filter on counted ballots."""
        if self.kind == "network":
            query = Q(network=self.key)
        else:
            query = Q(phone_masked__startswith=self.key)
        if self.start is not None:
            query &= Q(cast_at__gte=self.start, cast_at__lt=self.end)
        if self.night:
            query &= Q(cast_at__hour__lt=settings.REVIEW_NIGHT_END_HOUR)
        if self.seconds_from_code is not None:
            query &= Q(seconds_from_code=self.seconds_from_code)
        if self.automation:
            query &= Q(ua_family=AUTOMATION)
        return query


def counted(poll):
    return Ballot.objects.filter(poll=poll, voided_at__isnull=True).order_by()


def _keyed(queryset, kind):
    """The queryset annotated with `key`: the network, or the 号段 (phone_masked[:7])."""
    if kind == "network":
        return queryset.exclude(network="").values(key=F("network"))
    return queryset.exclude(phone_masked="").values(key=Substr("phone_masked", 1, 7))


def _bursts(poll, kind):
    """Aligned 10-minute windows in which one key cast more than REVIEW_BURST_BALLOTS ballots;
    consecutive windows of one key are one cluster."""
    limit = settings.REVIEW_BURST_BALLOTS
    rows = (
        _keyed(counted(poll), kind)
        .annotate(hour=TruncHour("cast_at"), tenth=Floor(ExtractMinute("cast_at") / 10.0))
        .values("key", "hour", "tenth")
        .annotate(n=Count("pk"))
        .filter(n__gt=limit)
        .order_by("key", "hour", "tenth")
    )
    clusters = []
    for row in rows:
        start = row["hour"] + timedelta(minutes=10 * int(row["tenth"]))
        end = start + timedelta(minutes=10)
        last = clusters[-1] if clusters else None
        if last is not None and last.key == row["key"] and last.end == start:
            last.end = end
            last.size += row["n"]
            continue
        clusters.append(Cluster("burst", kind, row["key"], row["n"], start=start, end=end))
    return clusters


def _night(poll, kind):
    end_hour = settings.REVIEW_NIGHT_END_HOUR
    rows = (
        _keyed(counted(poll), kind)
        .annotate(
            total=Count("pk"),
            night=Count("pk", filter=Q(cast_at__hour__lt=end_hour)),
        )
        .filter(total__gte=settings.REVIEW_NIGHT_MIN_BALLOTS)
        .order_by("key")
    )
    share = settings.REVIEW_NIGHT_SHARE
    return [
        Cluster("night", kind, row["key"], row["night"], night=True)
        for row in rows
        if row["night"] > share * row["total"]
    ]


def _same_gap(poll):
    rows = (
        _keyed(counted(poll).filter(seconds_from_code__isnull=False), "network")
        .annotate(gap=F("seconds_from_code"))
        .values("key", "gap")
        .annotate(n=Count("pk"))
        .filter(n__gte=settings.REVIEW_SAME_GAP_BALLOTS)
        .order_by("key", "gap")
    )
    return [
        Cluster("same_gap", "network", row["key"], row["n"], seconds_from_code=row["gap"])
        for row in rows
    ]


def _automation(poll):
    rows = (
        _keyed(counted(poll).filter(ua_family=AUTOMATION), "network")
        .annotate(n=Count("pk"))
        .filter(n__gte=settings.REVIEW_AUTOMATION_BALLOTS)
        .order_by("key")
    )
    return [Cluster("automation", "network", row["key"], row["n"], automation=True) for row in rows]


def flags(poll, with_details=True):
    """Every cluster the rules find among the poll's counted ballots."""
    clusters = [
        *_bursts(poll, "network"),
        *_bursts(poll, "segment"),
        *_night(poll, "network"),
        *_night(poll, "segment"),
        *_same_gap(poll),
        *_automation(poll),
    ]
    if with_details:
        for cluster in clusters:
            ballots = counted(poll).filter(cluster.q())
            span = ballots.aggregate(first=Min("cast_at"), last=Max("cast_at"))
            cluster.first_cast_at, cluster.last_cast_at = span["first"], span["last"]
            if cluster.size >= settings.REVIEW_CHOICES_MIN_BALLOTS:
                cluster.choices = list(
                    Choice.objects.filter(ballot__in=ballots.values("pk"))
                    .order_by()
                    .values_list("reform__number", "reform__title")
                    .annotate(n=Count("pk"))
                    .order_by("-n", "reform__number")
                )
    return clusters


def find_cluster(poll, cluster_id):
    """The cluster of the poll's review as staff saw it (the stored review), or None.

    A cluster describes its ballots by a filter (Cluster.q), applied to the ballots counted at
    the moment it is used: one voided since, or cast since, is treated as it is now.
    """
    for cluster in stored_review(poll)["clusters"]:
        if cluster.id == cluster_id:
            return cluster
    return None


def compute(poll):
    """Everything the review page shows, as JSON (for ReviewSnapshot)."""

    def series(rows):
        return [[moment.isoformat(), n] for moment, n in rows]

    return {
        "hours": series(per_hour(poll)),
        "minutes": series(per_minute(poll)),
        "top_networks": top(poll, "network"),
        "top_segments": top(poll, "segment"),
        "top_ua": top(poll, "ua"),
        "clusters": [cluster.as_dict() for cluster in flags(poll)],
    }


def store_review(poll, now=None):
    """Compute the poll's review and keep it (manage.py review_poll, or the page)."""
    now = now or timezone.now()
    data = compute(poll)
    ReviewSnapshot.objects.update_or_create(poll=poll, defaults={"computed_at": now, "data": data})
    return now, data


def stored_review(poll, now=None):
    """The poll's review as last computed, or computed here when there is none or it is older
    than REVIEW_SNAPSHOT_SECONDS: {"computed_at", "hours", "minutes", "top_*", "clusters"},
    moments as datetimes and clusters as Cluster."""
    now = now or timezone.now()
    snapshot = ReviewSnapshot.objects.filter(poll=poll).first()
    fresh = timedelta(seconds=settings.REVIEW_SNAPSHOT_SECONDS)
    if snapshot is None or now - snapshot.computed_at > fresh:
        computed_at, data = store_review(poll, now)
    else:
        computed_at, data = snapshot.computed_at, snapshot.data

    def series(rows):
        return [(datetime.fromisoformat(moment), n) for moment, n in rows]

    return {
        **data,
        "computed_at": computed_at,
        "hours": series(data["hours"]),
        "minutes": series(data["minutes"]),
        "clusters": [Cluster.from_dict(cluster) for cluster in data["clusters"]],
    }


def top(poll, kind, limit=10):
    """[(key, ballots, share)] of the sources with the most counted ballots."""
    total = counted(poll).count()
    if kind == "ua":
        rows = counted(poll).exclude(ua_family="").values(key=F("ua_family"))
    else:
        rows = _keyed(counted(poll), kind)
    rows = rows.annotate(n=Count("pk")).order_by("-n", "key")[:limit]
    return [(row["key"], row["n"], row["n"] / total if total else 0) for row in rows]


def per_hour(poll):
    """[(hour, ballots)] in Beijing time, every counted ballot."""
    rows = (
        counted(poll)
        .annotate(hour=TruncHour("cast_at"))
        .values("hour")
        .annotate(n=Count("pk"))
        .order_by("hour")
    )
    return [(row["hour"], row["n"]) for row in rows]


def per_minute(poll, hours=24):
    """[(minute, ballots)] over the last `hours` hours with ballots."""
    latest = counted(poll).aggregate(last=Max("cast_at"))["last"]
    if latest is None:
        return []
    rows = (
        counted(poll)
        .filter(cast_at__gt=latest - timedelta(hours=hours))
        .annotate(minute=TruncMinute("cast_at"))
        .values("minute")
        .annotate(n=Count("pk"))
        .order_by("minute")
    )
    return [(row["minute"], row["n"]) for row in rows]


def night_hour_count(poll):
    return (
        counted(poll)
        .annotate(h=ExtractHour("cast_at"))
        .filter(h__lt=settings.REVIEW_NIGHT_END_HOUR)
        .count()
    )


def svg_bars(series, width=720, height=160, label=""):
    """A bar chart as SVG markup (server-rendered; no script). series: [(moment, count)]."""
    if not series:
        return ""
    peak = max(n for _moment, n in series) or 1
    first, last = series[0][0], series[-1][0]
    step = series[1][0] - series[0][0] if len(series) > 1 else timedelta(hours=1)
    span = max((last - first) / step, 0) + 1 if step else len(series)
    bar = width / span
    bars = []
    for moment, n in series:
        x = ((moment - first) / step) * bar if step else 0
        h = n / peak * (height - 20)
        local = timezone.localtime(moment).strftime("%m-%d %H:%M")
        bars.append(
            f'<rect x="{x:.2f}" y="{height - h:.2f}" width="{max(bar * 0.9, 0.5):.2f}" '
            f'height="{h:.2f}"><title>{escape(local)}: {n}</title></rect>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="review-chart" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><text x="2" y="12" font-size="11">{escape(label)} '
        f"(max {peak})</text>{''.join(bars)}</svg>"
    )
