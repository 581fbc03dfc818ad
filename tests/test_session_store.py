"""The database sessions (zibo_vote/sessions.py): Django's, without the statements that repeat
the primary key, and with the same guarantees (issue 15)."""

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from zibo_vote import sessions

from .conftest import last_code, record_calls

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


def session_statements(client, data):
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/verify/", data)
    assert response.status_code == 302
    found = [query["sql"] for query in queries if '"django_session"' in query["sql"]]
    return [sql.split()[0] for sql in found], found


def test_a_new_session_is_one_insert(client, poll):
    kinds, found = session_statements(client, {"phone": PHONE})
    assert kinds == ["INSERT"], found  # no SELECT 1 before it: the primary key is the check


def test_verification_changes_the_key_in_two_statements_and_the_old_one_opens_nothing(client, poll):
    client.post("/verify/", {"phone": PHONE})
    old_key = client.cookies["sessionid"].value
    kinds, found = session_statements(client, {"code": last_code(PHONE)})
    # The session read, then its row written once under the new key: no SELECT 1, no DELETE
    # and INSERT, no INSERT followed by an UPDATE of the same row.
    assert kinds == ["SELECT", "UPDATE"], found
    new_key = client.cookies["sessionid"].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert "citizen" in Session.objects.get(session_key=new_key).get_decoded()
    # Someone who kept the old cookie has no session, verified or otherwise.
    stranger = Client()
    stranger.cookies["sessionid"] = old_key
    assert stranger.get("/vote/").status_code == 302  # to verification


def test_a_key_already_taken_is_refused_by_the_table_and_another_is_drawn(db, monkeypatch):
    taken = sessions.SessionStore()
    taken["x"] = 1
    taken.save()
    drawn = iter([taken.session_key, "a" * 32])
    monkeypatch.setattr(sessions, "random_string", lambda length, chars: next(drawn))
    store = sessions.SessionStore()
    store["y"] = 2
    store.save()
    assert store.session_key == "a" * 32
    assert Session.objects.get(session_key=taken.session_key).get_decoded() == {"x": 1}


def test_a_duplicate_key_with_must_create_raises_create_error(db):
    taken = sessions.SessionStore()
    taken.save()
    again = sessions.SessionStore(session_key=taken.session_key)
    with pytest.raises(CreateError):
        again.save(must_create=True)


def test_a_session_is_read_and_written_in_one_statement_each_without_a_savepoint(db):
    # Django's engine wraps each write in atomic() (a SAVEPOINT and its RELEASE inside a
    # transaction, BEGIN and COMMIT outside one): a single statement needs neither.
    store = sessions.SessionStore()
    store["x"] = 1
    with CaptureQueriesContext(connection) as queries:
        store.save()  # a new key: the INSERT
    assert [q["sql"].split()[0] for q in queries] == ["INSERT"], queries.captured_queries
    again = sessions.SessionStore(session_key=store.session_key)
    with CaptureQueriesContext(connection) as queries:
        again["y"] = 2  # reads the row first
        again.save()
    assert [q["sql"].split()[0] for q in queries] == ["SELECT", "UPDATE"], queries.captured_queries
    assert Session.objects.get(session_key=store.session_key).get_decoded() == {"x": 1, "y": 2}


def test_a_taken_key_inside_a_transaction_leaves_the_transaction_usable(db):
    # No savepoint around the INSERT: a duplicate key must not abort the transaction it is in
    # (PostgreSQL refuses every later statement of an aborted one).
    taken = sessions.SessionStore()
    taken.save()
    again = sessions.SessionStore(session_key=taken.session_key)
    with pytest.raises(CreateError):
        again.save(must_create=True)
    assert Session.objects.filter(session_key=taken.session_key).count() == 1


def test_a_session_whose_row_has_gone_is_not_written_again(db):
    store = sessions.SessionStore()
    store["x"] = 1
    store.save()
    Session.objects.filter(session_key=store.session_key).delete()  # the purge, meanwhile
    store["x"] = 2
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.exists()


def test_an_expired_session_opens_nothing_and_a_live_one_opens_its_data(db):
    store = sessions.SessionStore()
    store["citizen"] = "someone"
    store.save()
    assert sessions.SessionStore(session_key=store.session_key).load() == {"citizen": "someone"}
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = sessions.SessionStore(session_key=store.session_key)
    assert expired.load() == {}
    assert expired.session_key is None  # a new key at the next save, not the expired one's
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() + timedelta(seconds=60)
    )
    assert sessions.SessionStore(session_key=store.session_key).load() == {"citizen": "someone"}


def test_delete_removes_the_row(db):
    store = sessions.SessionStore()
    store.save()
    with CaptureQueriesContext(connection) as queries:
        store.delete()
    assert [q["sql"].split()[0] for q in queries] == ["DELETE"]
    assert not Session.objects.exists()


def cycled(store):
    """The store's key changed, as verification changes it, and the data marked."""
    store.cycle_key()
    store["verified"] = True
    return store


def test_a_changed_key_moves_the_row_and_the_old_key_never_holds_the_new_data(db):
    store = sessions.SessionStore()
    store["x"] = 1
    store.save()
    old_key = store.session_key
    cycled(store)
    # Until the response writes it, the old key still holds what it held, never the new state.
    assert Session.objects.get(session_key=old_key).get_decoded() == {"x": 1}
    store.save()
    assert not Session.objects.filter(session_key=old_key).exists()
    assert Session.objects.get(session_key=store.session_key).get_decoded() == {
        "x": 1,
        "verified": True,
    }


def test_a_session_ended_while_its_key_changed_stays_ended(db):
    store = sessions.SessionStore()
    store["x"] = 1
    store.save()
    other_tab = sessions.SessionStore(session_key=store.session_key)
    cycled(store)
    other_tab.flush()  # 结束验证 with the old cookie, meanwhile (or the purge)
    with pytest.raises(UpdateError):  # Django's middleware answers it 400
        store.save()
    assert not Session.objects.exists()  # not back under a new key, verified


def test_a_request_with_the_old_cookie_after_the_change_writes_nothing(db):
    store = sessions.SessionStore()
    store["x"] = 1
    store.save()
    old_tab = sessions.SessionStore(session_key=store.session_key)
    assert old_tab["x"] == 1  # read before the change, as a request in flight would
    cycled(store).save()
    old_tab["x"] = 2
    with pytest.raises(UpdateError):
        old_tab.save()
    assert Session.objects.get().get_decoded() == {"x": 1, "verified": True}


def test_a_verification_that_fails_after_the_key_changed_leaves_the_old_session_unverified(
    client, poll, monkeypatch
):
    from verification import services

    client.post("/verify/", {"phone": PHONE})
    old_key = client.cookies["sessionid"].value
    cycled_now = record_calls(monkeypatch, sessions.SessionStore, "cycle_key")

    class Clock:
        @staticmethod
        def time():
            if cycled_now:
                raise RuntimeError("a failure after the key changed")
            return time.time()

    monkeypatch.setattr(services, "time", Clock)
    failing = Client(raise_request_exception=False)
    failing.cookies["sessionid"] = old_key
    response = failing.post("/verify/", {"code": last_code(PHONE)})
    assert response.status_code == 500 and cycled_now
    assert [row.session_key for row in Session.objects.all()] == [old_key]
    assert "citizen" not in Session.objects.get().get_decoded()


def test_a_changed_key_already_taken_is_refused_and_another_is_drawn(db, monkeypatch):
    taken = sessions.SessionStore()
    taken["x"] = 1
    taken.save()
    store = sessions.SessionStore()
    store.save()
    old_key = store.session_key
    drawn = iter([taken.session_key, "b" * 32])
    monkeypatch.setattr(sessions, "random_string", lambda length, chars: next(drawn))
    cycled(store).save()
    assert store.session_key == "b" * 32
    assert Session.objects.get(session_key=taken.session_key).get_decoded() == {"x": 1}
    assert Session.objects.get(session_key="b" * 32).get_decoded() == {"verified": True}
    assert not Session.objects.filter(session_key=old_key).exists()


def test_a_session_flushed_after_its_key_changed_leaves_no_row(db):
    store = sessions.SessionStore()
    store["x"] = 1
    store.save()
    cycled(store).flush()  # ended at once, as 结束验证 ends it
    assert not Session.objects.exists()


def test_a_verification_whose_session_ended_meanwhile_is_answered_400_and_verifies_nothing(
    client, poll, monkeypatch
):
    client.post("/verify/", {"phone": PHONE})
    old_key = client.cookies["sessionid"].value
    cycle_key = sessions.SessionStore.cycle_key

    def ended_in_another_tab(store):
        cycle_key(store)
        Session.objects.filter(session_key=old_key).delete()  # 退出, with the old cookie

    monkeypatch.setattr(sessions.SessionStore, "cycle_key", ended_in_another_tab)
    response = client.post("/verify/", {"code": last_code(PHONE)})
    assert response.status_code == 400
    assert not Session.objects.exists()
    assert client.get("/vote/").status_code == 302  # to verification: nobody is verified
