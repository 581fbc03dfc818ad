"""Issue 14, item 4: personal data leaves the ballots once the result is certified and
PERSONAL_DATA_RETENTION_DAYS have passed (`manage.py purge_personal_data`); receipts,
choices, counts and the public record stay and still verify."""

import io
import subprocess
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from ballots import review
from ballots.models import Ballot, Poll, PurgeNotDue, VoidReason
from ballots.tally import recount
from record.publish import publish_checkpoint
from verification.models import VerificationCode
from verification.services import CITIZEN, PENDING

HASHES = [f"{n:064x}" for n in range(0xC1, 0xC1 + 6)]
ID_HASHES = [f"{n:064x}" for n in range(0x1D1, 0x1D1 + 6)]
MASKED = [f"138{n:04d}****" for n in range(6)]
NETWORKS = [f"203.0.{113 + n}.0/24" for n in range(6)]
STRANGER = f"{0x5:064x}"  # a citizen of no ballot of this poll


def cast_with_identity(poll):
    ballots = []
    for i, numbers in enumerate([[3], [5], [3], [8], [1], [3]]):
        ballots.append(
            poll.cast_ballot(
                citizen_hash=HASHES[i],
                id_number_hash=ID_HASHES[i],
                phone_masked=MASKED[i],
                network=NETWORKS[i],
                numbers=numbers,
            )
        )
    return ballots


def code_for(phone_hash):
    now = timezone.now()
    return VerificationCode.objects.create(
        phone_hash=phone_hash,
        session_hash="s" * 64,
        code_hash="c" * 64,
        sent_from="a" * 64,
        expires_at=now + timedelta(minutes=5),
    )


def session_of(key, data):
    store = SessionStore()
    for name, value in data.items():
        store[name] = value
    store.create()
    return store.session_key


@pytest.fixture
def certified(poll, admin_user, django_capture_on_commit_callbacks):
    """Six ballots with every kind of personal data, one voided, in the record, certified."""
    poll.require_id_number = True
    poll.save()
    ballots = cast_with_identity(poll)
    publish_checkpoint(poll)
    ballots[3].void(by=admin_user, reason=VoidReason.STUFFING, note="同一网段")
    with django_capture_on_commit_callbacks(execute=True):
        poll.close(by=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        poll.certify(by=admin_user)
    poll.refresh_from_db()
    return poll


@pytest.fixture
def traces(certified):
    """Codes and sessions of two of the poll's citizens, and of a stranger."""
    code_for(HASHES[0])
    code_for(HASHES[1])
    stranger_code = code_for(STRANGER)
    verified = session_of("citizen", {CITIZEN: {"hash": HASHES[0], "segment": "1381234"}})
    pending = session_of("pending", {PENDING: {"phone_hash": HASHES[2], "nonce": "n"}})
    stranger = session_of("stranger", {CITIZEN: {"hash": STRANGER, "segment": "1390000"}})
    return {"stranger_code": stranger_code, "stranger": stranger, "gone": [verified, pending]}


def due(poll):
    return poll.certified_at + timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS)


def make_due(poll):
    """Move the certification back past the retention period."""
    Poll.objects.filter(pk=poll.pk).update(
        certified_at=timezone.now() - timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS, hours=1)
    )
    poll.refresh_from_db()


def verify_record(poll):
    out = io.StringIO()
    call_command("verify_record", "--poll", poll.slug, stdout=out)
    return out.getvalue()


def purge_command(*args):
    out = io.StringIO()
    call_command("purge_personal_data", *args, stdout=out)
    return out.getvalue()


# --- Refusals ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refuses_before_certification(poll):
    cast_with_identity(poll)
    poll.close()
    with pytest.raises(PurgeNotDue) as refused:
        poll.purge_personal_data()
    assert refused.value.due is None
    with pytest.raises(CommandError, match="尚未确认最终结果"):
        purge_command(poll.slug)
    assert Ballot.objects.filter(poll=poll, citizen_hash__isnull=False).count() == 6


@pytest.mark.django_db
def test_refuses_before_the_retention_period_ends_naming_the_day_in_beijing_time(certified):
    with pytest.raises(PurgeNotDue) as refused:
        certified.purge_personal_data(now=due(certified) - timedelta(seconds=1))
    assert refused.value.due == due(certified)
    beijing = timezone.localtime(due(certified), timezone.get_fixed_timezone(8 * 60))
    with pytest.raises(CommandError) as caught:
        purge_command(certified.slug)
    message = str(caught.value)
    assert beijing.strftime("%Y-%m-%d %H:%M") in message and "北京时间" in message
    assert Ballot.objects.filter(poll=certified, network="").count() == 0


@pytest.mark.django_db
def test_a_missing_poll_is_named(poll):
    with pytest.raises(CommandError, match="no-such"):
        purge_command("no-such")


@pytest.mark.django_db
def test_neither_slug_nor_due_is_refused_in_chinese(poll):
    with pytest.raises(CommandError, match="请指定"):
        purge_command()


# --- The purge -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_purge_clears_personal_fields_and_keeps_receipts_choices_and_counts(certified):
    before = list(Ballot.objects.filter(poll=certified).order_by("pk").values_list(
        "pk", "receipt", "cast_at", "voided_at", "void_reason"
    ))  # fmt: skip
    counts = recount(certified)
    done = certified.purge_personal_data(now=due(certified))
    assert done.ballots == 6
    for name in Ballot.PERSONAL_FIELDS:
        field = Ballot._meta.get_field(name)
        empty = None if field.null else ""
        assert set(Ballot.objects.filter(poll=certified).values_list(name, flat=True)) == {empty}
    after = list(Ballot.objects.filter(poll=certified).order_by("pk").values_list(
        "pk", "receipt", "cast_at", "voided_at", "void_reason"
    ))  # fmt: skip
    assert after == before
    assert recount(certified) == counts
    certified.refresh_from_db()
    assert certified.personal_data_purged_at == due(certified)


@pytest.mark.django_db
def test_verify_record_and_check_tally_pass_after_the_purge(certified):
    assert "VERIFIED" in verify_record(certified)
    certified.purge_personal_data(now=due(certified))
    assert "VERIFIED" in verify_record(certified)
    call_command("check_tally", "--poll", certified.slug, stdout=io.StringIO())
    out = io.StringIO()
    call_command("export_tally", "--poll", certified.slug, "--ballots", stdout=out)
    assert out.getvalue().count("\n") >= 6


@pytest.mark.django_db
def test_codes_and_sessions_of_the_polls_citizens_go_others_stay(traces, certified):
    done = certified.purge_personal_data(now=due(certified))
    assert (done.codes, done.sessions) == (2, 2)
    assert list(VerificationCode.objects.all()) == [traces["stranger_code"]]
    assert set(Session.objects.values_list("session_key", flat=True)) == {traces["stranger"]}


@pytest.mark.django_db
def test_a_second_purge_changes_nothing_and_says_so(traces, certified):
    make_due(certified)
    first = purge_command(certified.slug)
    assert "6" in first
    logged = LogEntry.objects.filter(object_id=str(certified.pk)).count()
    certified.refresh_from_db()
    purged_at = certified.personal_data_purged_at
    done = certified.purge_personal_data()
    assert (done.ballots, done.codes, done.sessions, done.changed) == (0, 0, 0, False)
    assert "无需清除" in purge_command(certified.slug)
    certified.refresh_from_db()
    assert certified.personal_data_purged_at == purged_at
    assert LogEntry.objects.filter(object_id=str(certified.pk)).count() == logged


@pytest.mark.django_db
def test_the_admin_log_holds_the_counts(traces, certified, admin_user):
    certified.purge_personal_data(by=admin_user, now=due(certified))
    entry = LogEntry.objects.filter(object_id=str(certified.pk)).latest("action_time")
    assert entry.user == admin_user
    assert "清除个人信息" in entry.change_message
    assert "选票6张" in entry.change_message
    assert "验证码2条" in entry.change_message and "会话2个" in entry.change_message


@pytest.mark.django_db
def test_from_the_command_line_the_log_names_the_housekeeping_account(certified):
    make_due(certified)
    purge_command(certified.slug)
    entry = LogEntry.objects.filter(object_id=str(certified.pk)).latest("action_time")
    assert entry.user.username == "housekeeping" and not entry.user.is_active
    assert not entry.user.has_usable_password()


@pytest.mark.django_db
def test_a_stale_admin_copy_does_not_undo_the_purge_mark(certified):
    stale = Poll.objects.get(pk=certified.pk)
    certified.purge_personal_data(now=due(certified))
    stale.title = "新标题"
    stale.save()
    certified.refresh_from_db()
    assert certified.personal_data_purged_at is not None


@pytest.mark.django_db
def test_admin_pages_show_purged_ballots(certified, admin_client):
    certified.purge_personal_data(now=due(certified))
    ballot = Ballot.objects.filter(poll=certified).first()
    assert admin_client.get("/admin/ballots/ballot/").status_code == 200
    assert admin_client.get(f"/admin/ballots/ballot/{ballot.pk}/change/").status_code == 200
    poll_page = admin_client.get(f"/admin/ballots/poll/{certified.pk}/change/")
    assert poll_page.status_code == 200 and "个人信息清除时间" in poll_page.content.decode()
    assert admin_client.get("/results/").status_code == 200


@pytest.mark.django_db
def test_due_picks_only_polls_whose_retention_has_passed(certified, django_user_model):
    recent = Poll.objects.create(title="近期", slug="recent", opens_at=certified.opens_at)
    recent.reforms.set(certified.reforms.all())
    recent.cast_ballot(citizen_hash=STRANGER, network="198.51.100.0/24", numbers=[1])
    recent.close()
    recent.certify()
    open_poll = Poll.objects.create(title="进行中", slug="open-one")
    open_poll.reforms.set(certified.reforms.all())
    open_poll.cast_ballot(citizen_hash=HASHES[0], network="192.0.2.0/24", numbers=[1])
    make_due(certified)
    out = purge_command("--due")
    assert certified.slug in out and "recent" not in out and "open-one" not in out
    assert not Ballot.objects.filter(poll=certified).exclude(network="").exists()
    assert Ballot.objects.filter(poll=recent, network="198.51.100.0/24").exists()
    assert Ballot.objects.filter(poll=open_poll, citizen_hash=HASHES[0]).exists()
    assert "无" in purge_command("--due")  # the second time: nothing is due


# --- A real database dump ------------------------------------------------------------------


def database_dump():
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    name = connection.settings_dict["NAME"]
    params = connection.get_connection_params()
    command = ["pg_dump", "--data-only", "--dbname", name]
    for option, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if params.get(key):
            command += [option, str(params[key])]
    env = {"PATH": "/usr/bin:/bin"}
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]
    return subprocess.run(command, capture_output=True, check=True, env=env, text=True).stdout


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_after_the_purge_holds_no_personal_data(traces, certified):
    personal = HASHES + ID_HASHES + MASKED + NETWORKS
    review.store_review(certified)  # the stored fraud review names networks and 号段 too
    dump = database_dump()
    assert all(value in dump for value in personal)  # the dump sees the data at all
    certified.purge_personal_data(now=due(certified))
    dump = database_dump()
    assert [value for value in personal if value in dump] == []
    assert all(b.receipt in dump for b in Ballot.objects.filter(poll=certified))
    assert STRANGER in dump  # another poll's or nobody's data is not this purge's


def test_the_housekeeping_timer_runs_the_purge_of_due_polls():
    unit = (settings.BASE_DIR / "deploy/systemd/zibo-vote-housekeeping.service").read_text()
    assert "manage.py purge_personal_data --due" in unit


# --- The privacy notice, true to the code ---------------------------------------------------


def page(client, url):
    return client.get(url).content.decode()


@pytest.mark.django_db
def test_the_notice_says_what_goes_when_and_the_polls_own_dates(
    certified, client, django_capture_on_commit_callbacks
):
    html = page(client, "/privacy/")
    assert f"最终结果）后{settings.PERSONAL_DATA_RETENTION_DAYS}天，随后删除" in html
    assert "每天自动清理一次" in html and "短信验证码记录和浏览会话" in html
    due_at = timezone.localtime(due(certified), timezone.get_fixed_timezone(8 * 60))
    assert f"将于北京时间{due_at:%Y-%m-%d %H:%M}起删除" in html
    with django_capture_on_commit_callbacks(execute=True):  # the cached page goes stale
        certified.purge_personal_data(now=due(certified))
    html = page(client, "/privacy/")
    assert f"已于北京时间{due_at:%Y-%m-%d %H:%M}删除" in html


@pytest.mark.django_db
def test_the_notice_of_an_open_poll_names_no_date(poll, client):
    assert "起删除" not in page(client, "/privacy/")


@pytest.mark.django_db
def test_the_notice_and_its_dates_in_english(certified, client, django_capture_on_commit_callbacks):
    from django.utils import translation

    from .test_languages import english

    assert "will be deleted from" in english(client, "/en/privacy/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        certified.purge_personal_data(now=due(certified))
    assert "was deleted at" in english(client, "/en/privacy/").content.decode()
    with translation.override("en"), pytest.raises(CommandError, match="Give a poll"):
        purge_command()
