"""The reform office reviews ballots in admin: read-only, without choices or receipts (P5),
voided with a reason."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.utils import timezone

from ballots.models import Ballot, VoidReason

from .conftest import cast, text

pytestmark = pytest.mark.django_db


def test_nobody_adds_changes_or_deletes_a_ballot(admin_client, poll):
    [ballot] = cast(poll, [3])
    assert admin_client.get("/admin/ballots/ballot/add/").status_code == 403
    change = admin_client.get(f"/admin/ballots/ballot/{ballot.pk}/change/")
    assert change.status_code == 200 and 'type="submit"' not in text(change).split("<form")[-1]
    assert admin_client.post(f"/admin/ballots/ballot/{ballot.pk}/change/", {}).status_code == 403
    assert admin_client.post(f"/admin/ballots/ballot/{ballot.pk}/delete/").status_code == 403
    admin_client.post(
        "/admin/ballots/ballot/",
        {"action": "delete_selected", "_selected_action": [ballot.pk], "post": "yes"},
    )
    assert Ballot.objects.filter(pk=ballot.pk).exists()
    assert "delete_selected" not in text(admin_client.get("/admin/ballots/ballot/"))


def test_ballot_pages_show_masked_phone_and_network_but_no_receipt_or_choices(
    moderator, citizen, poll
):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    ballot = Ballot.objects.get()
    for page in ("/admin/ballots/ballot/", f"/admin/ballots/ballot/{ballot.pk}/change/"):
        html = text(moderator.get(page))
        assert "1381234****" in html
        assert "127.0.0.0/24" in html
        assert f"选票 #{ballot.pk}" in html
        assert "13812345678" not in html
        # P5: the receipt leads to the choices in the public record; neither is shown here.
        assert ballot.receipt not in html and ballot.receipt_display not in html
        assert "张店区“四位一体”" not in html and "所选经验" not in html


def test_ballots_cannot_be_searched_by_receipt(moderator, poll):
    [ballot] = cast(poll, [1])
    html = text(moderator.get("/admin/ballots/ballot/", {"q": ballot.receipt}))
    assert 'name="q"' not in html  # no search box at all


def row(ballot):
    return f'href="/admin/ballots/ballot/{ballot.pk}/change/'


def test_ballots_can_be_filtered(moderator, poll, admin_user):
    first, second = cast(poll, [1], [2])
    second.void(by=admin_user, reason=VoidReason.STUFFING)
    voided = text(moderator.get("/admin/ballots/ballot/", {"status": "voided"}))
    assert row(second) in voided and row(first) not in voided
    start = timezone.localtime(first.cast_at).hour // 6 * 6
    period = f"{start}-{start + 6}"
    this_period = text(moderator.get("/admin/ballots/ballot/", {"hour": period}))
    assert row(first) in this_period
    later = (start + 6) % 24
    other = text(moderator.get("/admin/ballots/ballot/", {"hour": f"{later}-{later + 6}"}))
    assert row(first) not in other
    assert moderator.get("/admin/ballots/ballot/", {"hour": "x"}).status_code == 200
    # Four periods of the day in the sidebar, not twenty-four hours.
    assert "凌晨 00:00–05:59" in this_period and "晚上 18:00–23:59" in this_period
    assert "03:00–03:59" not in this_period and "23:00–23:59" not in this_period


def void(browser, ballots, **form):
    return browser.post(
        "/admin/ballots/ballot/",
        {"action": "void_ballots", "_selected_action": [b.pk for b in ballots], **form},
        follow=True,
    )


def test_voiding_asks_for_a_reason_and_records_it(moderator, poll):
    first, second, _ = cast(poll, [3], [3], [5])

    asked = text(void(moderator, [first, second]))
    assert "作废原因" in asked and "不能撤销" in asked
    assert not Ballot.objects.filter(voided_at__isnull=False).exists()

    no_note = text(void(moderator, [first], apply="1", reason="other", note=" "))
    assert "原因为“其他”时，请填写说明" in no_note
    assert not Ballot.objects.filter(voided_at__isnull=False).exists()

    done = text(
        void(moderator, [first, second], apply="1", reason="stuffing", note="同一网段集中投票")
    )
    assert "已作废2张选票" in done
    first.refresh_from_db()
    assert first.is_voided and first.void_reason == "stuffing"
    assert first.voided_by == moderator.user
    assert first.void_note == "同一网段集中投票"
    log = LogEntry.objects.get(object_id=str(first.pk))
    assert "刷票" in log.change_message and "同一网段集中投票" in log.change_message
    listing = text(moderator.get("/admin/ballots/ballot/"))
    assert row(first) in listing and "已作废" in listing  # still visible
    second.refresh_from_db()
    assert first.voiding.count == 2 and second.voiding == first.voiding

    tally = text(moderator.get(f"/admin/ballots/poll/{poll.pk}/change/"))
    assert "有效1张，已作废2张" in tally


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=40)
def test_voiding_every_ballot_of_a_filtered_list_at_once(moderator, poll):
    # More ballots than a request may carry fields: "select all" must not send their ids.
    cast(poll, *[[n % 15 + 1] for n in range(60)])
    listing = "/admin/ballots/ballot/?status=counted"
    select_all = {"action": "void_ballots", "select_across": "1", "index": "0",
                  "_selected_action": [Ballot.objects.first().pk]}  # fmt: skip
    asked = moderator.post(listing, select_all)
    assert "作废所选的60张选票" in text(asked)
    assert "以上仅列出前50张" in text(asked)
    assert '<input type="hidden" name="select_across" value="1">' in text(asked)
    assert text(asked).count('name="_selected_action"') == 1  # not sixty ids
    confirm = {"action": "void_ballots", "select_across": "1", "index": "0", "apply": "1",
               "_selected_action": [Ballot.objects.first().pk],
               "reason": "stuffing", "note": "同一时段集中投票"}  # fmt: skip
    done = moderator.post(listing, confirm, follow=True)
    assert "已作废60张选票" in text(done)
    assert not Ballot.objects.filter(voided_at__isnull=True).exists()
    poll.refresh_from_db()
    assert poll.counted_ballots == 0 and poll.voided_count == 60


def test_voiding_twice_changes_nothing(moderator, poll, admin_user):
    [ballot] = cast(poll, [3])
    ballot.void(by=admin_user, reason=VoidReason.TEST_DATA, note="第一次")
    void(moderator, [ballot], apply="1", reason="stuffing", note="第二次")
    ballot.refresh_from_db()
    assert ballot.void_note == "第一次" and ballot.voided_by == admin_user


def test_seeing_ballots_is_not_voiding_them(make_staff, poll):
    viewer = make_staff("viewer")
    viewer.user.user_permissions.add(Permission.objects.get(codename="view_ballot"))
    [ballot] = cast(poll, [3])
    listing = text(viewer.get("/admin/ballots/ballot/"))
    assert row(ballot) in listing and "void_ballots" not in listing
    void(viewer, [ballot], apply="1", reason="stuffing", note="x")
    ballot.refresh_from_db()
    assert not ballot.is_voided


def test_the_void_form_preselects_no_reason(moderator, poll):
    first, _ = cast(poll, [3], [5])
    asked = text(void(moderator, [first]))
    select = asked.split('name="reason"', 1)[1].split("</select>", 1)[0]
    assert select.count("selected") == 1 and '<option value="" selected>' in select
    missing = text(void(moderator, [first], apply="1", reason="", note="无"))
    assert "请选择作废原因" in missing
    assert not Ballot.objects.filter(voided_at__isnull=False).exists()


def test_the_ballot_list_is_narrow(moderator, poll, admin_user):
    first, _ = cast(poll, [1], [2])
    first.void(by=admin_user, reason=VoidReason.DUPLICATE_IDENTITY)
    listing = text(moderator.get("/admin/ballots/ballot/"))
    # One poll: no poll column; status, reason and batch in one column.
    assert "column-poll" not in listing and "column-void_reason" not in listing
    assert "column-voiding" not in listing
    assert "已作废：身份重复" in listing
