"""The rules under concurrency: real threads, real transactions, the real database.

Run on SQLite (a WAL file, as `make run` uses it) and, in CI, on PostgreSQL.
"""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings

from ballots.models import AlreadyVoted, Ballot, Poll, PollNotOpen
from ballots.tally import discrepancies
from reforms.models import Reform
from verification import sms
from verification.models import CodeCheck, VerificationCode

from .conftest import verify

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(count, work):
    """Run work(i) in `count` threads released together; return results or exceptions."""
    start = threading.Barrier(count)

    def worker(i):
        try:
            start.wait()
            return work(i)
        except Exception as error:  # returned, so the test can assert on it
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def new_poll(slug):
    poll = Poll.objects.create(title=slug, slug=slug)
    poll.reforms.set(Reform.objects.all())
    return poll


# The per-citizen rate limit would answer some of the twenty with 429; this is about the database.
@override_settings(RATE_LIMITS={**settings.RATE_LIMITS, "vote_per_citizen": "100/h"})
def test_twenty_concurrent_ballots_for_one_citizen_make_exactly_one(client, poll):
    verify(client)
    cookie = client.cookies["sessionid"].value

    def submit(i):
        browser = Client()
        browser.cookies["sessionid"] = cookie
        response = browser.post("/vote/", {"choices": str(i % 15 + 1), "confirm": "1"})
        return response.status_code, response.content.decode("utf-8")

    results = run_at_once(20, submit)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    statuses = sorted(status for status, _ in results)
    assert statuses == [302] + [409] * 19
    assert all("您已投票" in html for status, html in results if status == 409)
    assert Ballot.objects.count() == 1
    assert Ballot.objects.get().choices.count() == 1


def test_twenty_concurrent_casts_for_one_citizen_make_exactly_one(poll):
    results = run_at_once(
        20, lambda i: poll.cast_ballot(citizen_hash="c" * 64, numbers=[i % 15 + 1])
    )
    ballots = [r for r in results if isinstance(r, Ballot)]
    refused = [r for r in results if isinstance(r, AlreadyVoted)]
    assert len(ballots) == 1
    assert len(refused) == 19
    assert all(r.ballot.receipt == ballots[0].receipt for r in refused)
    assert Ballot.objects.count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_no_ballot_commits_after_the_close(poll, round_):
    race = new_poll(f"race-{round_}")

    def vote_until_refused(i):
        for accepted in range(100_000):
            try:
                race.cast_ballot(citizen_hash=f"{i}-{accepted}".ljust(64, "x"), numbers=[1])
            except PollNotOpen:
                return accepted
        raise AssertionError("the poll never closed")

    def close_soon(i):
        if i == 0:
            time.sleep(0.05)
            race.close()
            return Ballot.objects.filter(poll=race).count()
        return vote_until_refused(i)

    results = run_at_once(5, close_soon)

    assert not [r for r in results if isinstance(r, Exception)], results
    count_at_close = results[0]
    race.refresh_from_db()
    assert sum(results[1:]) == count_at_close == Ballot.objects.filter(poll=race).count()
    assert count_at_close > 0
    latest = Ballot.objects.filter(poll=race).order_by("-cast_at").first()
    assert latest.cast_at <= race.closed_at


def test_counts_stay_exact_while_voting_voiding_and_closing_at_once(poll, django_user_model):
    staff = django_user_model.objects.create_user("staff")
    race = new_poll("counts")
    race.max_choices = 2
    race.save()
    early = [
        race.cast_ballot(citizen_hash=f"early-{n}".ljust(64, "e"), numbers=[n % 15 + 1])
        for n in range(30)
    ]

    def work(i):
        if i == 0:  # staff void a wave of ballots
            for ballot in early:
                ballot.void(by=staff, reason="stuffing")
            return "voided"
        if i == 1:  # and close the poll while the voting goes on
            time.sleep(0.1)
            race.close(by=staff)
            return "closed"
        for n in range(100_000):  # citizens vote until refused
            try:
                race.cast_ballot(
                    citizen_hash=f"{i}-{n}".ljust(64, "v"), numbers=[n % 15 + 1, (n + 7) % 15 + 1]
                )
            except PollNotOpen:
                return n
        raise AssertionError("never closed")

    results = run_at_once(6, work)

    assert not [r for r in results if isinstance(r, Exception)], results
    race.refresh_from_db()
    assert discrepancies(race) == []
    assert race.voided_count == 30
    assert race.ballot_count == 30 + sum(results[2:])
    assert not Ballot.objects.filter(poll=race, cast_at__gt=race.closed_at).exists()


def test_concurrent_wrong_tries_cannot_exceed_five(poll):
    _, code = VerificationCode.issue(phone_hash="p", nonce="n")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    results = run_at_once(
        12, lambda i: VerificationCode.check_code(phone_hash="p", nonce="n", code=wrong).status
    )
    assert results.count(CodeCheck.WRONG) == 4
    assert results.count(CodeCheck.TOO_MANY_TRIES) == 8
    assert VerificationCode.objects.get().wrong_tries == 5
    right = VerificationCode.check_code(phone_hash="p", nonce="n", code=code)
    assert right.status == CodeCheck.TOO_MANY_TRIES


def test_the_right_code_sent_at_once_from_twelve_requests_verifies_one(poll):
    # The one-statement use of a right code (UPDATE … RETURNING): the others find it used.
    _, code = VerificationCode.issue(phone_hash="p", nonce="n")
    results = run_at_once(
        12, lambda i: VerificationCode.check_code(phone_hash="p", nonce="n", code=code).status
    )
    assert results.count(CodeCheck.OK) == 1, results
    assert results.count(CodeCheck.USED) == 11, results
    assert VerificationCode.objects.get().wrong_tries == 0


def test_concurrent_requests_for_one_phone_send_one_sms(poll):
    def ask(i):
        response = Client().post("/verify/", {"phone": "13812345678"}, follow=True)
        return response.status_code, response.content.decode("utf-8")

    results = run_at_once(10, ask)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(sms.outbox) == 1
    assert sum("该号码刚刚获取过验证码" in html for _, html in results) == 9
    assert VerificationCode.objects.count() == 1


# The poll's lock is shared by ballots (FOR SHARE) and taken alone by what changes the poll
# (FOR UPDATE, once the ballots in progress have committed): ballots are cast side by side, and a
# close, a voiding or a staff edit still gets through promptly while they keep coming.


def sessions_waiting_on_a_lock():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def wait_until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.postgresql
def test_a_ballot_held_up_inside_its_transaction_does_not_hold_up_the_others(poll):
    # A ballot stalls half-way (its app server is slow, its network drops packets); here another
    # session holds entry 1's row, which the ballot's choice must reference. Under FOR UPDATE
    # every other ballot of the city waited behind it; now they go past it.
    locked, release = threading.Event(), threading.Event()

    def hold_entry_one():
        try:
            with transaction.atomic():
                Reform.objects.select_for_update().get(number=1)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    def vote(citizen, number):
        try:
            return poll.cast_ballot(citizen_hash=citizen.ljust(64, "s"), numbers=[number])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        holder = pool.submit(hold_entry_one)
        try:
            assert locked.wait(10)
            stalled = pool.submit(vote, "stalled", 1)
            wait_until(lambda: sessions_waiting_on_a_lock() == 1)  # inside its transaction
            other = pool.submit(vote, "other", 2)
            assert isinstance(other.result(timeout=10), Ballot)
            assert not stalled.done()  # both ballots' transactions were open at once
            assert Ballot.objects.filter(poll=poll).count() == 1
        finally:
            release.set()
        holder.result(timeout=10)
        assert isinstance(stalled.result(timeout=10), Ballot)
    assert Ballot.objects.filter(poll=poll).count() == 2
    assert discrepancies(poll) == []


def busy_writers(poll, change, writers=32, seconds=30):
    """`writers` threads cast ballots into `poll` until it closes (at most `seconds`), while
    change() runs once they are all voting; returns (change()'s result, ballots each cast)."""
    voting = threading.Barrier(writers + 1)
    deadline = time.monotonic() + seconds

    def work(i):
        if i == 0:
            voting.wait()
            time.sleep(0.3)  # every writer casting
            return change()
        cast = 0
        for n in range(1_000_000):
            if n == 1:
                voting.wait()
            if time.monotonic() > deadline:  # a change that never gets through ends the test
                return cast
            try:
                poll.cast_ballot(citizen_hash=f"{i}-{n}".ljust(64, "w"), numbers=[n % 15 + 1])
                cast += 1
            except PollNotOpen:
                return cast
        raise AssertionError("unreachable")

    results = run_at_once(writers + 1, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results[0], results[1:]


def timed(action):
    began = time.monotonic()
    result = action()
    return result, time.monotonic() - began


@pytest.mark.postgresql
def test_close_gets_through_32_busy_writers_promptly_and_no_ballot_commits_after_it(poll):
    race = new_poll("busy-close")

    def close():
        (closed, seconds) = timed(race.close)
        return closed, seconds, Ballot.objects.filter(poll=race).count()

    (closed, seconds, count_at_close), cast = busy_writers(race, close)

    # Without the lock on the poll table first, PostgreSQL lets each new ballot take the row FOR
    # SHARE past the waiting FOR UPDATE, and the close waits until the ballots stop.
    assert closed and seconds < 5, f"the close took {seconds:.1f} s"
    race.refresh_from_db()
    assert sum(cast) == count_at_close == Ballot.objects.filter(poll=race).count()
    assert min(cast) > 0  # all 32 were voting
    assert not Ballot.objects.filter(poll=race, cast_at__gt=race.closed_at).exists()
    assert race.ballot_count == count_at_close
    assert discrepancies(race) == []


@pytest.mark.postgresql
def test_voiding_and_editing_the_poll_get_through_32_busy_writers_promptly(poll, admin_user):
    race = new_poll("busy-void")
    early = [
        race.cast_ballot(citizen_hash=f"early-{n}".ljust(64, "e"), numbers=[n % 15 + 1])
        for n in range(40)
    ]

    def change():
        voided, void_seconds = timed(
            lambda: Ballot.objects.filter(pk__in=[b.pk for b in early]).void(
                by=admin_user, reason="stuffing"
            )
        )
        edited = Poll.objects.get(pk=race.pk)  # as the admin's form saves it
        edited.title = "改过标题"
        _, save_seconds = timed(edited.save)
        race.close()
        return len(voided), void_seconds, save_seconds

    (voided, void_seconds, save_seconds), cast = busy_writers(race, change)

    assert voided == 40
    assert void_seconds < 5, f"the voiding took {void_seconds:.1f} s"
    assert save_seconds < 5, f"saving the poll took {save_seconds:.1f} s"
    race.refresh_from_db()
    assert race.title == "改过标题"
    assert race.voided_count == 40
    assert race.ballot_count == 40 + sum(cast)
    assert discrepancies(race) == []


def test_a_ballot_writes_no_row_of_the_poll_and_shares_its_lock(poll):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        poll.cast_ballot(citizen_hash="q" * 64, numbers=[3])
    statements = [q["sql"] for q in captured]
    assert not [
        s for s in statements if re.match(r'(UPDATE|INSERT INTO|DELETE FROM) "ballots_poll"', s)
    ]
    if connection.vendor == "postgresql":
        (lock,) = [
            s
            for s in statements
            if s.startswith("SELECT") and '"ballots_poll"' in s.split("WHERE")[0]
        ]
        assert lock.endswith("FOR SHARE")
