"""The reform office runs the poll in admin: its page and tally, closing, the rules once open."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from ballots.models import PollNotOpen, VoidReason
from reforms.models import Reform

from .conftest import cast, poll_form, text

pytestmark = pytest.mark.django_db


def test_poll_page_shows_status_counts_and_the_tally(moderator, poll, admin_user):
    cast(poll, [3], [3], [5])
    cast(poll, [7])[0].void(by=admin_user, reason=VoidReason.TEST_DATA)
    listing = text(moderator.get("/admin/ballots/poll/"))
    assert "投票中" in listing
    assert re.search(r'field-ballots_counted">3<', listing)
    assert re.search(r'field-ballots_voided">1<', listing)

    page = text(moderator.get(f"/admin/ballots/poll/{poll.pk}/change/"))
    assert "有效3张，已作废1张" in page
    assert '<progress max="100" value="66.67"' in page
    assert "张店区“四位一体”创新推进社会治理" in page
    assert "66.67%" in page and "33.33%" in page
    assert "结束投票" in page and "导出计票结果（CSV）" in page


def test_closing_from_admin_asks_first_and_refuses_later_ballots(moderator, poll, client):
    url = f"/admin/ballots/poll/{poll.pk}/close/"
    confirmation = text(moderator.get(url))
    assert "结束投票后不能恢复" in confirmation
    poll.refresh_from_db()
    assert poll.closed_at is None  # looking is not closing

    response = moderator.post(url, follow=True)
    assert "投票已结束" in text(response)
    poll.refresh_from_db()
    assert poll.closed_at is not None
    assert poll.closed_by == moderator.user
    assert LogEntry.objects.filter(change_message="结束投票", object_id=str(poll.pk)).exists()
    with pytest.raises(PollNotOpen):
        cast(poll, [1])
    assert "公示中" in text(client.get("/"))


def test_close_action_leads_to_the_confirmation(moderator, poll):
    response = moderator.post(
        "/admin/ballots/poll/", {"action": "close_selected", "_selected_action": [poll.pk]}
    )
    assert response["Location"] == f"/admin/ballots/poll/{poll.pk}/close/"
    poll.refresh_from_db()
    assert poll.closed_at is None


def test_rules_of_an_open_poll_cannot_change(moderator, poll):
    url = f"/admin/ballots/poll/{poll.pk}/change/"
    changes = {
        "title": "新标题",
        "max_choices": 3,
        "reforms": [Reform.objects.get(number=1).pk],
        "require_id_number": "on",
        "id_region_prefixes": "3703",
        "opens_at_0": "2030-01-01",
    }
    response = moderator.post(url, poll_form(poll, **changes))
    assert response.status_code == 302
    poll.refresh_from_db()
    assert poll.title == "新标题"  # wording may change
    # The rules may not.
    assert poll.max_choices == 1
    assert poll.reforms.count() == 15
    assert not poll.require_id_number and poll.id_region_prefixes == ""
    assert poll.opens_at < timezone.now()


def test_saving_a_poll_keeps_the_counts_and_the_close(moderator, poll):
    stale = type(poll).objects.get(pk=poll.pk)  # loaded, say, when the form was opened
    cast(poll, [3], [5])
    stale.title = "改过标题"
    stale.save()
    poll.refresh_from_db()
    assert poll.title == "改过标题" and poll.ballot_count == 2

    page = moderator.get(f"/admin/ballots/poll/{poll.pk}/change/")  # the form, then a vote
    assert page.status_code == 200
    cast(poll, [8])
    poll.close()
    response = moderator.post(f"/admin/ballots/poll/{poll.pk}/change/", poll_form(poll))
    assert response.status_code == 302
    poll.refresh_from_db()
    assert poll.ballot_count == 3 and poll.closed_at is not None
    stale.save()
    poll.refresh_from_db()
    assert poll.ballot_count == 3 and poll.closed_at is not None


@pytest.mark.parametrize("field, value", [("closed_at", None), ("closed_by", None)])
def test_saving_a_poll_refuses_to_change_the_close(poll, admin_user, field, value):
    # Left out of save() so stale copies cannot undo them (above); asked for, it is an error,
    # not a save that quietly writes everything else.
    cast(poll, [3])
    poll.close(by=admin_user)
    poll.refresh_from_db()
    setattr(poll, field, value)
    poll.title = "改过标题"
    with pytest.raises(ValueError, match=field):
        poll.save()
    poll.refresh_from_db()
    assert poll.title != "改过标题"
    assert poll.closed_at is not None and poll.closed_by == admin_user
    assert poll.ballot_count == 1 and poll.voided_count == 0


@pytest.mark.parametrize("name", ["ballot_count", "voided_count", "counted_ballots"])
def test_a_polls_counts_are_read_not_written(poll, name):
    # They are the sums of the running counts' shards, not columns a save could write back.
    cast(poll, [3])
    with pytest.raises(AttributeError):
        setattr(poll, name, 0)
    poll.refresh_from_db()
    assert poll.ballot_count == 1 and poll.counted_ballots == 1


def test_a_poll_cannot_be_closed_by_its_dates(moderator, poll, admin_client):
    scheduled = type(poll).objects.create(
        title="第二轮", slug="second", opens_at=timezone.now() + timezone.timedelta(days=1)
    )
    scheduled.reforms.set(poll.reforms.all())
    url = f"/admin/ballots/poll/{scheduled.pk}/change/"
    past = {"opens_at_0": "2024-01-01", "opens_at_1": "00:00", "closes_at_0": "2024-01-02",
            "closes_at_1": "00:00"}  # fmt: skip
    response = moderator.post(url, poll_form(scheduled, **past))
    assert "截止时间须至少在10分钟之后" in text(response)
    scheduled.refresh_from_db()
    assert scheduled.status == "scheduled"

    soon = timezone.localtime() + timezone.timedelta(minutes=2)
    response = moderator.post(
        f"/admin/ballots/poll/{poll.pk}/change/",
        poll_form(poll, closes_at_0=f"{soon:%Y-%m-%d}", closes_at_1=f"{soon:%H:%M:%S}"),
    )
    assert "截止时间须至少在10分钟之后" in text(response)

    added = admin_client.post(
        "/admin/ballots/poll/add/",
        poll_form(poll, slug="already-over", max_choices=1, **past),
    )
    assert "截止时间须至少在10分钟之后" in text(added)
    assert not type(poll).objects.filter(slug="already-over").exists()


def test_out_of_range_dates_get_a_message(moderator, poll):
    scheduled = type(poll).objects.create(
        title="第二轮", slug="second", opens_at=timezone.now() + timezone.timedelta(days=1)
    )
    response = moderator.post(
        f"/admin/ballots/poll/{scheduled.pk}/change/",
        poll_form(scheduled, opens_at_0="0001-01-01", opens_at_1="00:00"),
    )
    assert response.status_code == 200
    assert "请填写2000年至2100年之间的时间" in text(response)


def test_closing_time_cannot_be_moved_into_the_past(moderator, poll):
    url = f"/admin/ballots/poll/{poll.pk}/change/"
    response = moderator.post(url, poll_form(poll, closes_at_0="2020-01-01", closes_at_1="00:00"))
    assert response.status_code == 200
    assert "截止时间须至少在10分钟之后" in text(response)
    poll.refresh_from_db()
    assert poll.closes_at is None


def test_a_closed_poll_cannot_be_reopened(moderator, poll):
    poll.close()
    url = f"/admin/ballots/poll/{poll.pk}/change/"
    response = moderator.post(url, poll_form(poll, closes_at_0="2099-01-01", closes_at_1="00:00"))
    assert response.status_code == 302
    poll.refresh_from_db()
    assert poll.closes_at is None and poll.closed_at is not None
    assert poll.status == "closed"


def test_a_poll_closed_by_its_schedule_cannot_be_reopened(moderator, poll):
    type(poll).objects.filter(pk=poll.pk).update(
        opens_at=timezone.now() - timezone.timedelta(days=2),
        closes_at=timezone.now() - timezone.timedelta(days=1),
    )
    poll.refresh_from_db()
    url = f"/admin/ballots/poll/{poll.pk}/change/"
    moderator.post(url, poll_form(poll, closes_at_0="2099-01-01", closes_at_1="00:00"))
    poll.refresh_from_db()
    assert poll.status == "closed"
    assert poll.closes_at < timezone.now()


def test_an_open_polls_fixed_rules_read_yes_or_no_in_words(moderator, poll):
    """需填写身份证号码 of an open poll is fixed: shown as 否/是, not Django's red ✖ icon."""
    page = moderator.get(f"/admin/ballots/poll/{poll.pk}/change/").content.decode()
    assert "icon-no.svg" not in page and "icon-yes.svg" not in page
    field = re.search(r"需填写身份证号码.*?<div class=\"readonly\">(.*?)</div>", page, re.S)
    assert field and field.group(1).strip() in {"是", "否"}


def test_tally_headers_do_not_wrap(moderator, poll):
    from django.conf import settings

    page = text(moderator.get(f"/admin/ballots/poll/{poll.pk}/change/"))
    # A class in the admin's own static CSS (the CSP forbids style attributes).
    assert 'href="/static/css/admin.css"' in page
    assert '<th scope="col" class="nowrap">名次</th>' in page
    css = (settings.BASE_DIR / "static" / "css" / "admin.css").read_text()
    assert re.search(r"\.tally th[^{]*\{[^}]*white-space:\s*nowrap", css)
