"""The record app's log on the database: checkpoints, what enters them, and `verify_record`.

P3 (nothing is removed or rewritten unseen), P5 (no time, no identity, random order), P6
(nothing leaks while voting), and the close and the certification as entries of their own.
"""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ballots.models import Ballot, Choice, PollCertified, VoidReason
from record.closing import write_closing_package
from record.models import Checkpoint, Entry, Log
from record.publish import publish_checkpoint
from tools.verify_record import Failure, Report, canonical_json, receipt_hash, verify_package

from .conftest import cast

pytestmark = pytest.mark.django_db


def entries(poll):
    return [json.loads(bytes(e.data)) for e in Entry.objects.filter(log__poll=poll)]


def verify_record(poll):
    out = io.StringIO()
    call_command("verify_record", "--poll", poll.slug, stdout=out)
    return out.getvalue()


def verify_record_fails(poll):
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verify_record", "--poll", poll.slug, stdout=out)
    return str(caught.value), out.getvalue()


@pytest.fixture
def closed(poll, admin_user, django_capture_on_commit_callbacks):
    """Eleven ballots over two hourly checkpoints, a voiding, the close (its own checkpoint)."""
    poll.max_choices = 2
    poll.save()
    cast(poll, [3], [3], [5, 3], [8], [1])
    publish_checkpoint(poll)
    ballots = cast(poll, [3], [5], [5], [12], [8, 1], [3])
    ballots[3].void(by=admin_user, reason=VoidReason.STUFFING, note="同一网段")
    publish_checkpoint(poll)
    with django_capture_on_commit_callbacks(execute=True):
        poll.close(by=admin_user)
    return poll


def test_a_checkpoint_appends_the_ballots_since_the_last_one(poll):
    cast(poll, [3], [5])
    first = publish_checkpoint(poll)
    assert (first.number, first.size) == (1, 2)
    cast(poll, [8])
    second = publish_checkpoint(poll)
    assert (second.number, second.size) == (2, 3)
    assert second.consistency  # proves that it extends the first
    assert [e["type"] for e in entries(poll)] == ["ballot"] * 3
    assert Log.objects.get(poll=poll).size == 3


def test_ballot_entries_hold_the_receipts_hash_and_choices_but_no_time_or_identity(poll):
    poll.max_choices = 3
    poll.save()
    [ballot] = cast(poll, [8, 1, 15])
    publish_checkpoint(poll)
    [entry] = entries(poll)
    assert entry == {"type": "ballot", "poll": poll.slug, "receipt_hash":
                     receipt_hash(ballot.receipt), "choices": [1, 8, 15]}  # fmt: skip
    line = bytes(Entry.objects.get().data).decode()
    for private in (ballot.citizen_hash, ballot.receipt, str(ballot.cast_at.year)):
        assert private not in line


def test_ballots_enter_a_checkpoint_in_random_order(poll):
    ballots = cast(poll, *[[n % 15 + 1] for n in range(40)])
    publish_checkpoint(poll)
    logged = [e["receipt_hash"] for e in entries(poll)]
    cast_order = [receipt_hash(b.receipt) for b in sorted(ballots, key=lambda b: b.pk)]
    assert sorted(logged) == sorted(cast_order)
    assert logged != cast_order  # the same order by chance: 1 in 40!


def test_the_close_and_a_voiding_afterwards_are_entries(closed, admin_user):
    kinds = [e["type"] for e in entries(closed)]
    assert kinds.count("ballot") == 11 and kinds.count("void") == 1
    assert kinds[-1] == "close" and Checkpoint.objects.count() == 3  # the close's own
    late = Ballot.objects.filter(voided_at__isnull=True).first()
    late.void(by=admin_user, reason=VoidReason.DUPLICATE_IDENTITY)
    publish_checkpoint(closed)
    last = entries(closed)[-1]
    assert last["type"] == "void" and last["reason"] == "duplicate_identity"
    assert last["receipt_hash"] == receipt_hash(late.receipt)


def test_a_scheduled_closing_time_is_noticed_by_the_next_checkpoint(poll):
    from datetime import timedelta

    from django.utils import timezone

    type(poll).objects.filter(pk=poll.pk).update(opens_at=timezone.now() - timedelta(hours=2))
    cast(poll, [3])
    type(poll).objects.filter(pk=poll.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    poll.refresh_from_db()
    publish_checkpoint(poll)
    close = entries(poll)[-1]
    assert close["type"] == "close" and close["at"].startswith(str(poll.closes_at.year))


def test_certification_is_the_last_entry_with_the_counts(
    closed, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert closed.certify(by=admin_user)
    last = entries(closed)[-1]
    assert last["type"] == "certification" and (last["ballots"], last["voided"]) == (10, 1)
    votes = {v["number"]: v["votes"] for v in last["votes"]}
    assert votes[3] == 5 and votes[5] == 3 and votes[12] == 0
    assert publish_checkpoint(closed) is None  # nothing follows the certification
    assert "VERIFIED" in verify_record(closed)


def test_a_scheduled_poll_publishes_nothing(poll):
    from datetime import timedelta

    from django.utils import timezone

    type(poll).objects.filter(pk=poll.pk).update(opens_at=timezone.now() + timedelta(days=1))
    poll.refresh_from_db()
    assert publish_checkpoint(poll) is None
    assert not Checkpoint.objects.exists()


def test_publish_checkpoint_command(poll):
    cast(poll, [3])
    out = io.StringIO()
    call_command("publish_checkpoint", stdout=out)
    assert "reform-experiences: checkpoint 1, 1 entries" in out.getvalue()


def test_publish_checkpoint_refuses_without_a_key(poll, settings):
    settings.RECORD_SIGNING_KEY = ""
    cast(poll, [3])
    with pytest.raises(CommandError, match="RECORD_SIGNING_KEY is not set"):
        call_command("publish_checkpoint", stdout=io.StringIO())
    assert not Entry.objects.exists()


# --- verify_record on the live database (P3) ------------------------------------------------


def test_verify_record_passes_on_an_untouched_record(closed):
    output = verify_record(closed)
    assert "[通过] 3 个检查点签名有效" in output
    assert "数据库中的选票与公开记录逐条相符（10 张有效，1 张作废）" in output


def sql(statement, *params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def ballot_in_second_checkpoint(poll):
    log = Log.objects.get(poll=poll)
    first = log.checkpoints.get(number=1)
    for ballot in Ballot.objects.filter(poll=poll, voided_at__isnull=True):
        entry = Entry.objects.get(receipt_hash=receipt_hash(ballot.receipt), type="ballot")
        if entry.index >= first.size:
            return ballot
    raise AssertionError


def test_a_ballot_deleted_in_sql_is_named_by_its_checkpoint(closed):
    ballot = ballot_in_second_checkpoint(closed)
    sql("DELETE FROM ballots_choice WHERE ballot_id = %s", ballot.pk)
    sql("DELETE FROM ballots_ballot WHERE id = %s", ballot.pk)
    message, output = verify_record_fails(closed)
    assert "checkpoint 2 (" in message and "its ballot was deleted" in message
    assert "[未通过] 第 2 个检查点" in output and "该选票已从数据库中删除" in output


def test_a_choice_changed_in_sql_is_named_by_its_checkpoint(closed):
    ballot = ballot_in_second_checkpoint(closed)
    sql("UPDATE ballots_choice SET reform_id = (SELECT id FROM reforms_reform WHERE number = 15) "
        "WHERE ballot_id = %s", ballot.pk)  # fmt: skip
    message, _ = verify_record_fails(closed)
    assert "checkpoint 2 (" in message and "choices changed" in message


def test_a_voiding_undone_in_sql_is_named_by_its_checkpoint(closed):
    sql("UPDATE ballots_ballot SET voided_at = NULL, void_reason = '', voiding_id = NULL")
    message, _ = verify_record_fails(closed)
    assert "checkpoint 2 (" in message and "voiding was undone" in message


def test_a_log_entry_rewritten_in_sql_is_named_by_its_checkpoint(closed):
    log = Log.objects.get(poll=closed)
    index = log.checkpoints.get(number=1).size  # the first entry of the second checkpoint
    entry = Entry.objects.get(log=log, index=index)
    changed = json.loads(bytes(entry.data))
    changed["choices"] = [15]
    Entry.objects.filter(pk=entry.pk).update(
        data=json.dumps(changed, sort_keys=True, separators=(",", ":")).encode()
    )
    message, _ = verify_record_fails(closed)
    assert "checkpoint 2 (" in message and "no longer holds" in message


def test_a_checkpoint_dropped_in_sql_is_named(closed):
    Checkpoint.objects.filter(log__poll=closed, number=2).delete()
    message, _ = verify_record_fails(closed)
    assert "Checkpoint 2 was deleted" in message


def test_the_last_checkpoint_dropped_leaves_unsigned_entries(closed):
    Checkpoint.objects.filter(log__poll=closed, number=3).delete()
    message, _ = verify_record_fails(closed)
    assert "entries after the last checkpoint" in message


# --- The standalone verifier on a package built after tampering -----------------------------


@pytest.fixture
def certified(closed, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        closed.certify(by=admin_user)
    return closed


def package_failure(poll, **options):
    data = io.BytesIO()
    write_closing_package(poll, data)
    data.seek(0)
    with pytest.raises(Failure) as caught:
        verify_package(data, report=Report(lambda text: None), **options)
    return caught.value


def test_a_package_built_after_a_ballot_was_deleted_fails_at_the_recount(certified):
    ballot = ballot_in_second_checkpoint(certified)
    Choice.objects.filter(ballot=ballot).delete()
    sql("DELETE FROM ballots_ballot WHERE id = %s", ballot.pk)
    failure = package_failure(certified)
    assert "tally.csv" in failure.en and "the recount gives" in failure.en


def test_a_package_built_after_a_log_entry_was_rewritten_names_the_checkpoint(certified):
    log = Log.objects.get(poll=certified)
    entry = Entry.objects.get(log=log, index=0)
    changed = json.loads(bytes(entry.data))
    changed["choices"] = [2] if changed["choices"] != [2] else [4]
    Entry.objects.filter(pk=entry.pk).update(data=canonical_json(changed))
    failure = package_failure(certified)
    assert failure.en.startswith("checkpoint 1 (") and "no longer holds" in failure.en


def test_a_package_built_after_a_checkpoint_was_dropped_refuses_the_saved_one(certified):
    saved = Checkpoint.objects.get(log__poll=certified, number=2).published(certified.slug)
    Checkpoint.objects.filter(log__poll=certified, number=2).delete()
    failure = package_failure(certified, saved=saved)
    assert "the office dropped a checkpoint" in failure.en


def test_a_ballot_deleted_before_the_certification_is_named_by_the_certifications_checkpoint(
    closed, admin_user, django_capture_on_commit_callbacks
):
    ballot = ballot_in_second_checkpoint(closed)
    Choice.objects.filter(ballot=ballot).delete()
    sql("DELETE FROM ballots_ballot WHERE id = %s", ballot.pk)
    with django_capture_on_commit_callbacks(execute=True):
        closed.certify(by=admin_user)
    failure = package_failure(closed)
    assert "checkpoint 4 (" in failure.en and "certifies" in failure.en


# --- P4: voiding after the certification -----------------------------------------------------


def test_voiding_after_the_certification_raises_and_changes_nothing(certified, admin_user):
    ballot = Ballot.objects.filter(voided_at__isnull=True).first()
    with pytest.raises(PollCertified):
        ballot.void(by=admin_user, reason=VoidReason.STUFFING)
    with pytest.raises(PollCertified):
        Ballot.objects.all().void(by=admin_user, reason=VoidReason.OTHER, note="x")
    assert Ballot.objects.filter(voided_at__isnull=False).count() == 1
    certified.refresh_from_db()
    assert certified.voided_count == 1


# --- The closing package (P1) -----------------------------------------------------------------


def test_the_stored_package_is_the_commands_rebuild_byte_for_byte(certified, tmp_path):
    from record.models import ClosingPackage

    stored = b"".join(ClosingPackage.objects.get(log__poll=certified).chunks())
    output = tmp_path / "package.zip"
    call_command("closing_package", certified.slug, "--output", str(output), stdout=io.StringIO())
    assert output.read_bytes() == stored
    lines = []
    _, result = verify_package(io.BytesIO(stored), report=Report(lines.append))
    assert (result.ballots, result.voided) == (10, 1)
    assert "tally.csv 与重新计票逐字节相同" in "\n".join(lines)


def test_result_pdf_is_an_a4_document_with_a_builtin_chinese_font(certified):
    import zipfile

    from record.models import ClosingPackage

    stored = b"".join(ClosingPackage.objects.get(log__poll=certified).chunks())
    pdf = zipfile.ZipFile(io.BytesIO(stored)).read("result.pdf")
    assert pdf.startswith(b"%PDF-")
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf  # A4 in points
    assert b"STSong-Light" in pdf and b"FontFile" not in pdf  # named, not embedded


def test_closing_package_refuses_a_poll_not_yet_certified(closed, tmp_path):
    with pytest.raises(CommandError, match="certify_poll"):
        call_command("closing_package", closed.slug, "--output", str(tmp_path / "x.zip"))
