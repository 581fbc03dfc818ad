"""P4: a result becomes final once, in public: 确认最终结果 in admin (with its confirmation page)
and `manage.py certify_poll`, refused before the close, logged; nothing changes it afterwards,
even when the certification races 32 writers and a voiding (PostgreSQL, real threads)."""

import io
import logging
import threading
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation

from ballots.models import Ballot, Poll, PollCertified, PollNotClosed, PollNotOpen, VoidReason
from ballots.tally import recount
from record.live import verify_live
from record.models import Entry
from tools.verify_record import Report

from .conftest import cast, text


@pytest.mark.django_db
def test_certifying_before_the_close_is_refused(poll, admin_user):
    cast(poll, [3])
    with pytest.raises(PollNotClosed):
        poll.certify(by=admin_user)
    poll.refresh_from_db()
    assert poll.certified_at is None


@pytest.mark.django_db
def test_certification_happens_once_and_is_logged(poll, admin_user, caplog):
    caplog.set_level(logging.INFO)
    poll.close()
    assert poll.certify(by=admin_user) is True
    assert poll.certify(by=admin_user) is False
    poll.refresh_from_db()
    assert poll.status == "certified"
    with translation.override("zh-hans"):
        assert poll.status_label == "已确认"
    assert poll.certified_by == admin_user
    assert "certified" in caplog.text


@pytest.mark.django_db
def test_admin_certifies_after_a_confirmation_page(moderator, poll, client):
    cast(poll, [3], [5], [3])
    url = f"/admin/ballots/poll/{poll.pk}/certify/"
    page = f"/admin/ballots/poll/{poll.pk}/change/"
    assert f'href="{url}"' not in text(moderator.get(page))  # still open: no button
    assert "尚未结束" in text(moderator.get(url))
    poll.close()
    assert f'href="{url}"' in text(moderator.get(page))
    confirmation = text(moderator.get(url))
    assert "确认后不能撤销" in confirmation and "有效选票3张" in confirmation
    assert "尚未设定公示期截止时间" in confirmation
    poll.refresh_from_db()
    assert poll.certified_at is None  # looking is not certifying
    done = text(moderator.post(url, follow=True))
    assert "最终结果已确认" in done
    poll.refresh_from_db()
    assert poll.certified_by == moderator.user
    assert LogEntry.objects.filter(change_message="确认最终结果", object_id=str(poll.pk)).exists()
    assert f'href="{url}"' not in text(moderator.get(page))


@pytest.mark.django_db
def test_only_staff_allowed_to_certify_may(statistician, poll):
    poll.close()
    assert statistician.post(f"/admin/ballots/poll/{poll.pk}/certify/").status_code == 403
    poll.refresh_from_db()
    assert poll.certified_at is None


@pytest.mark.django_db
def test_staff_set_the_end_of_the_publicity_period(moderator, poll):
    from .conftest import poll_form

    poll.close()
    url = f"/admin/ballots/poll/{poll.pk}/change/"
    form = poll_form(poll, publicity_ends_at_0="2030-01-10", publicity_ends_at_1="17:00:00")
    form.pop("closes_at_0"), form.pop("closes_at_1")
    moderator.post(url, form)
    poll.refresh_from_db()
    assert poll.publicity_ends_at is not None and poll.publicity_ends_at.year == 2030
    too_early = poll_form(poll, publicity_ends_at_0="2001-01-10", publicity_ends_at_1="17:00:00")
    too_early.pop("closes_at_0"), too_early.pop("closes_at_1")
    assert "公示期截止时间必须晚于投票截止时间" in text(moderator.post(url, too_early))


@pytest.mark.django_db
def test_admin_voiding_after_certification_says_why(moderator, poll, admin_user):
    [ballot] = cast(poll, [3])
    poll.close()
    poll.certify(by=admin_user)
    done = moderator.post(
        "/admin/ballots/ballot/",
        {"action": "void_ballots", "_selected_action": [ballot.pk], "apply": "1",
         "reason": "stuffing", "note": ""},
        follow=True,
    )  # fmt: skip
    assert "最终结果已经确认，选票不能再作废" in text(done)
    ballot.refresh_from_db()
    assert not ballot.is_voided


@pytest.mark.django_db
def test_certify_poll_command(poll):
    with pytest.raises(CommandError, match="请在投票结束后确认结果"):
        call_command("certify_poll", poll.slug, stdout=io.StringIO())
    poll.close()
    out = io.StringIO()
    call_command("certify_poll", poll.slug, stdout=out)
    assert "Certified the result of reform-experiences" in out.getvalue()
    out = io.StringIO()
    call_command("certify_poll", poll.slug, stdout=out)
    assert "already certified" in out.getvalue()


@pytest.mark.django_db
def test_a_saved_poll_form_cannot_undo_a_certification(poll, admin_user):
    stale = Poll.objects.get(pk=poll.pk)
    poll.close()
    poll.certify(by=admin_user)
    stale.title = "新标题"
    stale.save()
    poll.refresh_from_db()
    assert poll.certified_at is not None and poll.title == "新标题"


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_certification_racing_32_writers_and_a_voiding_changes_nothing_after(poll, admin_user):
    """32 threads vote until refused; meanwhile staff close, certify and void a batch, and the
    hourly checkpoint runs. Whatever the order, the certified numbers are the recount, nothing
    changes after the certification, and the record verifies."""
    poll.max_choices = 2
    poll.save()
    cast(poll, *[[n % 15 + 1] for n in range(40)])  # ballots for the voiding to take
    stop = threading.Event()
    outcome = {"cast": 0, "refused": 0, "voiding": None}

    def writer(i):
        n = 0
        try:
            while not stop.is_set():
                try:
                    poll.cast_ballot(citizen_hash=f"racer-{i:02d}-{n:05d}".ljust(64, "0"),
                                     numbers=[i % 15 + 1])  # fmt: skip
                    outcome["cast"] += 1
                except PollNotOpen:
                    outcome["refused"] += 1
                    return
                n += 1
        finally:
            connection.close()

    def voider():
        try:
            time.sleep(0.15)
            try:
                targets = Ballot.objects.filter(citizen_hash__startswith="citizen-")[:10]
                ids = list(targets.values_list("pk", flat=True))
                outcome["voiding"] = Ballot.objects.filter(pk__in=ids).void(
                    by=admin_user, reason=VoidReason.STUFFING
                )
            except PollCertified:
                outcome["voiding"] = "refused"
        finally:
            connection.close()

    def staff():
        try:
            time.sleep(0.1)
            call_command("publish_checkpoint", stdout=io.StringIO())
            poll.close(by=admin_user)
            poll.certify(by=admin_user)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(32)]
    threads += [threading.Thread(target=voider), threading.Thread(target=staff)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stop.set()
    assert outcome["refused"] == 32  # every writer ended at the close
    poll.refresh_from_db()
    assert poll.certified_at is not None
    assert not Ballot.objects.filter(cast_at__gt=poll.closed_at).exists()

    # The certification's entry holds the recount, and nothing changes it afterwards.
    final = recount(poll)
    certification = Entry.objects.get(log__poll=poll, type="certification").content
    assert (certification["ballots"], certification["voided"]) == (final.ballots, final.voided)
    assert {v["number"]: v["votes"] for v in certification["votes"]} == final.votes_by_number()
    with pytest.raises(PollCertified):
        Ballot.objects.filter(voided_at__isnull=True).void(by=admin_user, reason="other", note="x")
    with pytest.raises(PollNotOpen):
        cast(poll, [1])
    assert recount(poll).votes_by_number() == final.votes_by_number()
    if outcome["voiding"] != "refused":
        assert final.voided == len(outcome["voiding"]) == 10
    verify_live(poll, Report(lambda line: None))
