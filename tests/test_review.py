"""The fraud review (issue 14, docs/review.md): signals, flags, the review page, voiding a
cluster, and what the public sees of it."""

import io
import random
from datetime import datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.utils import timezone

from ballots import review
from ballots.models import Ballot, Choice, Poll, ReviewSnapshot, VoidReason

from .conftest import text

pytestmark = pytest.mark.django_db

BEIJING = timezone.get_fixed_timezone(8 * 60)


def add_ballots(poll, rows):
    """rows: [(cast_at, network, segment, ua_family, seconds_from_code)], choices entry 1..3."""
    start = Ballot.objects.count()
    reforms = list(poll.reforms.order_by("number")[:3])
    ballots = Ballot.objects.bulk_create(
        Ballot(
            poll=poll,
            citizen_hash=f"c{start + i:010d}".ljust(64, "0"),
            receipt=f"R{start + i:011d}",
            cast_at=cast_at,
            network=network,
            phone_masked=f"{segment}****",
            ua_family=ua,
            seconds_from_code=gap,
        )
        for i, (cast_at, network, segment, ua, gap) in enumerate(rows)
    )
    Choice.objects.bulk_create(
        Choice(ballot=b, reform=reforms[i % 3]) for i, b in enumerate(ballots)
    )
    poll.reset_counts()
    return ballots


def ordinary(poll, n, day, seed=1):
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    rows = []
    for _ in range(n):
        moment = day + timedelta(seconds=rng.randrange(7 * 3600, 23 * 3600))
        rows.append(
            (
                moment,
                f"10.{rng.randrange(50)}.{rng.randrange(200)}.0/24",
                f"13{rng.randrange(10**5):05d}",
                rng.choice(["微信 / Android", "Mobile Safari / iOS", "Chrome / Windows"]),
                rng.randrange(20, 240),
            )
        )
    return rows


def wave(day, size=120):
    """A night burst: one /24, one 号段, automation, the same 7 s from code to ballot."""
    start = day + timedelta(hours=3)
    return [
        (start + timedelta(seconds=10 * i), "203.0.113.0/24", "1700000", review.AUTOMATION, 7)
        for i in range(size)
    ]


def campus(day, n=600, seed=2):
    """One big NAT: many citizens, one /24, spread over the day, ordinary gaps and browsers."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    return [
        (
            day + timedelta(seconds=rng.randrange(7 * 3600, 23 * 3600)),
            "59.64.0.0/24",
            f"13{rng.randrange(10**5):05d}",
            rng.choice(["微信 / Android", "Mobile Safari / iOS", "Chrome / Windows"]),
            rng.randrange(15, 300),
        )
        for _ in range(n)
    ]


@pytest.fixture
def day(poll):
    moment = datetime(2026, 11, 20, tzinfo=BEIJING)
    Poll.objects.filter(pk=poll.pk).update(opens_at=moment - timedelta(days=1))
    return moment


def test_ua_family_is_coarse_and_knows_automation():
    wechat = (
        "Mozilla/5.0 (Linux; Android 13; V2148A) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.40"
    )
    assert review.ua_family(wechat) == "微信 / Android"
    assert review.ua_family("python-requests/2.31") == review.AUTOMATION
    assert review.ua_family("Mozilla/5.0 HeadlessChrome/120.0") == review.AUTOMATION
    assert review.ua_family("") == review.AUTOMATION


def test_the_cast_keeps_the_ua_family_and_the_seconds_from_code(citizen, poll):
    citizen.post(
        "/vote/",
        {"choices": "3", "confirm": "1"},
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
    )
    ballot = Ballot.objects.get()
    assert ballot.ua_family == "Chrome / Windows"
    assert ballot.seconds_from_code is not None and ballot.seconds_from_code < 60


def test_a_wave_mixed_into_ordinary_ballots_is_flagged_with_its_true_size(poll, day):
    add_ballots(poll, ordinary(poll, 2000, day) + wave(day, 120))
    clusters = review.flags(poll)
    rules = {(c.rule, c.key): c for c in clusters}
    assert {key for _rule, key in rules} == {"203.0.113.0/24", "1700000"}
    for rule in ("night", "same_gap", "automation"):
        assert rules[(rule, "203.0.113.0/24")].size == 120
    assert rules[("night", "1700000")].size == 120
    burst = rules[("burst", "203.0.113.0/24")]
    assert burst.size == 120
    assert burst.first_cast_at == day + timedelta(hours=3)
    assert burst.last_cast_at == day + timedelta(hours=3, seconds=1190)
    assert sum(n for _number, _title, n in burst.choices) == 120


def test_a_campus_nat_with_ordinary_timing_is_not_flagged(poll, day):
    add_ballots(poll, ordinary(poll, 1000, day) + campus(day))
    assert review.flags(poll) == []


def test_the_review_page_has_an_svg_chart_no_script_and_the_flags(moderator, poll, day):
    add_ballots(poll, ordinary(poll, 300, day) + wave(day, 60))
    change = text(moderator.get(f"/admin/ballots/poll/{poll.pk}/change/"))
    assert f"/admin/ballots/poll/{poll.pk}/review/" in change
    response = moderator.get(f"/admin/ballots/poll/{poll.pk}/review/")
    html = text(response)
    assert response.status_code == 200
    assert "<svg" in html and "<rect" in html
    assert "<script>" not in html.split("<svg")[1].split("</svg>")[0]
    assert "203.0.113.0/24" in html and "自动化工具" in html
    [cluster] = [c for c in review.flags(poll) if c.rule == "automation"]
    listed = moderator.get(review_link(poll, cluster))
    assert listed.context["cl"].result_count == 60  # exactly the cluster's ballots


def review_link(poll, cluster):
    from ballots.admin.review import cluster_changelist_url

    return cluster_changelist_url(poll, cluster)


def test_only_staff_who_may_void_see_the_review(make_staff, statistician, client, poll):
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    assert statistician.get(url).status_code == 403
    assert client.get(url).status_code == 302  # to the login


def test_voiding_a_cluster_updates_counts_log_and_public_review(moderator, poll, day):
    add_ballots(poll, ordinary(poll, 300, day) + wave(day, 60))
    [cluster] = [c for c in review.flags(poll) if c.rule == "automation"]
    before = poll.counted_ballots
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    assert "203.0.113.0/24" in text(moderator.get(url))  # the review is stored now
    response = moderator.post(
        url, {"cluster": cluster.id, "reason": VoidReason.STUFFING, "note": "接码平台号段"}
    )
    assert response.status_code == 302
    poll.refresh_from_db()
    assert poll.counted_ballots == before - 60
    voiding = poll.voidings.get()
    assert voiding.count == 60 and voiding.rule == "automation"
    assert voiding.first_cast_at == day + timedelta(hours=3)
    assert voiding.last_cast_at == day + timedelta(hours=3, seconds=590)
    assert LogEntry.objects.filter(change_message__contains="作废可疑群组").exists()
    assert review.flags(poll) == []
    assert "203.0.113.0/24" not in text(moderator.get(url))  # not the stored review of before
    poll.close()
    results = text(moderator.get("/results/"))
    assert "疑似刷票" in results and "60" in results
    assert "203.0.113.0" not in results and "1700000" not in results


def test_bad_cluster_or_missing_note_is_refused_in_chinese(moderator, poll, day):
    add_ballots(poll, ordinary(poll, 50, day) + wave(day, 40))
    [cluster] = [c for c in review.flags(poll) if c.rule == "automation"]
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    page = moderator.post(url, {"cluster": cluster.id, "reason": "stuffing", "note": " "})
    assert page.status_code == 200 and "请填写作废说明" in text(page)
    page = moderator.post(url, {"cluster": cluster.id, "reason": "", "note": "x"})
    assert page.status_code == 200 and "未作废" in text(page)
    page = moderator.post(url, {"cluster": "nope", "reason": "stuffing", "note": "x"}, follow=True)
    assert "该可疑群组已不存在" in text(page)
    assert not Ballot.objects.filter(voided_at__isnull=False).exists()
    assert moderator.get("/admin/ballots/ballot/", {"cluster": "x:y"}).status_code == 200


def test_the_closing_package_carries_the_voided_batches_and_still_verifies(
    client, poll, admin_user, django_capture_on_commit_callbacks
):
    import io
    import json
    import zipfile

    from record.publish import publish_checkpoint
    from tools.verify_record import Report, verify_package

    from .conftest import cast

    with django_capture_on_commit_callbacks(execute=True):
        ballots = cast(poll, [1], [2], [3], [1])
        publish_checkpoint(poll)
        Ballot.objects.filter(pk__in=[b.pk for b in ballots[:2]]).void(
            by=admin_user, reason=VoidReason.STUFFING, note="号段1700000", rule="automation"
        )
        poll.close()
        poll.certify(by=admin_user)
    data = b"".join(client.get("/record/reform-experiences/package.zip").streaming_content)
    lines = []
    verify_package(io.BytesIO(data), report=Report(lines.append))
    assert "最终结果（已于" in "\n".join(lines)
    facts = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("poll.json"))
    [batch] = facts["voidings"]
    assert batch["count"] == 2 and batch["reason"] == "stuffing" and batch["rule"] == "automation"
    assert batch["first_cast_at"] and batch["last_cast_at"]
    assert b"1700000" not in data


def another_wave(day, size=40):
    start = day + timedelta(hours=4)
    return [
        (start + timedelta(seconds=5 * i), "198.51.100.0/24", "1710000", review.AUTOMATION, 9)
        for i in range(size)
    ]


def test_the_review_page_reads_the_stored_review_until_it_is_stale(moderator, poll, day, settings):
    add_ballots(poll, ordinary(poll, 300, day) + wave(day, 60))
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    assert "203.0.113.0/24" in text(moderator.get(url))
    add_ballots(poll, another_wave(day))
    page = text(moderator.get(url))
    assert "198.51.100.0/24" not in page and "统计时间" in page  # as computed a moment ago
    stale = timezone.now() - timedelta(seconds=settings.REVIEW_SNAPSHOT_SECONDS + 1)
    ReviewSnapshot.objects.filter(poll=poll).update(computed_at=stale)
    assert "198.51.100.0/24" in text(moderator.get(url))


def test_a_cluster_is_voided_as_its_ballots_are_now(moderator, poll, day):
    """The stored cluster is a filter: ballots voided since are not voided twice."""
    ballots = add_ballots(poll, ordinary(poll, 100, day) + wave(day, 60))
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    moderator.get(url)
    [cluster] = [c for c in review.stored_review(poll)["clusters"] if c.rule == "automation"]
    Ballot.objects.filter(pk__in=[b.pk for b in ballots[-5:]]).void(
        by=None, reason=VoidReason.STUFFING, note="先行作废"
    )
    review.store_review(poll)  # the stored review as it was before that voiding
    ReviewSnapshot.objects.filter(poll=poll).update(
        data={**ReviewSnapshot.objects.get(poll=poll).data, "clusters": [cluster.as_dict()]}
    )
    moderator.post(url, {"cluster": cluster.id, "reason": VoidReason.STUFFING, "note": "接码"})
    assert [v.count for v in poll.voidings.order_by("pk")] == [5, 55]


def test_review_poll_stores_the_review_of_polls_under_review(poll, day):
    add_ballots(poll, ordinary(poll, 200, day) + wave(day, 60))
    out = io.StringIO()
    call_command("review_poll", stdout=out)
    assert "可疑群组" in out.getvalue()
    stored = ReviewSnapshot.objects.get(poll=poll)
    assert {c["key"] for c in stored.data["clusters"]} == {"203.0.113.0/24", "1700000"}
    poll.close()
    poll.certify()
    ReviewSnapshot.objects.all().delete()
    call_command("review_poll", stdout=io.StringIO())
    assert not ReviewSnapshot.objects.exists()  # certified: its review no longer changes


def test_the_review_timer_runs_review_poll():
    from django.conf import settings as django_settings

    unit = django_settings.BASE_DIR / "deploy/systemd/zibo-vote-review.service"
    assert "manage.py review_poll" in unit.read_text()
