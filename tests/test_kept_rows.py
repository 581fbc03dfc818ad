"""The poll and its entries are read once a second per worker, not once per request (issue 15),
and nothing that matters waits for that second: staff edits are seen at once by the worker
that made them, and a ballot is decided on the rows read again under the lock."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ballots.models import Ballot, Poll
from reforms.models import Reform

from .conftest import compiled_models, record_calls, text

pytestmark = pytest.mark.django_db


def statements(client, method, path, data=None):
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(path, data or {})
    return response, [query["sql"] for query in queries]


def poll_reads(sqls):
    return [sql for sql in sqls if 'FROM "ballots_poll"' in sql]


def entry_reads(sqls):
    return [sql for sql in sqls if 'FROM "reforms_reform"' in sql]


def test_the_current_poll_is_read_once_for_several_requests(client, poll):
    response, first = statements(client, "get", "/verify/")
    assert response.status_code == 200
    assert len(poll_reads(first)) == 1
    for _ in range(3):
        response, again = statements(client, "get", "/verify/")
        assert response.status_code == 200 and "获取验证码" in text(response)
        assert poll_reads(again) == []


def test_the_ballot_and_its_review_read_the_entries_once(citizen, poll):
    response, ballot = statements(citizen, "get", "/vote/")
    assert len(entry_reads(ballot)) == 1 and 'value="7"' in text(response)
    response, review = statements(citizen, "post", "/vote/", {"choices": "7"})
    assert "请确认您的选择" in text(response)
    assert entry_reads(review) == [] and poll_reads(review) == []


def test_closing_the_poll_is_seen_at_once_by_the_worker_that_closed_it(client, poll):
    assert "获取验证码" in text(client.get("/verify/"))  # the open poll is now kept
    Poll.objects.get(pk=poll.pk).close()
    html = text(client.get("/verify/"))
    assert "获取验证码" not in html and "投票已于" in html


def test_an_entry_unpublished_by_staff_leaves_the_ballot_at_once(citizen, poll):
    assert 'value="7"' in text(citizen.get("/vote/"))
    reform = Reform.objects.get(number=7)
    reform.published = False
    reform.save()  # as the admin does: the signal clears this worker's copies
    assert 'value="7"' not in text(citizen.get("/vote/"))


def test_a_ballot_for_an_entry_withdrawn_within_the_second_is_refused_not_counted(citizen, poll):
    """Another worker's edit reaches this one within a second; the cast does not wait for it:
    it reads the entries again under the poll's lock."""
    assert 'value="7"' in text(citizen.get("/vote/"))
    Reform.objects.filter(number=7).update(published=False)  # no signal: "another worker"
    assert 'value="7"' in text(citizen.get("/vote/"))  # the kept copy, for up to a second
    response = citizen.post("/vote/", {"choices": "7", "confirm": "1"})
    assert "所选经验已有变动，请重新选择。" in text(response)
    assert Ballot.objects.count() == 0


def test_a_ballot_after_another_worker_closed_the_poll_is_refused(citizen, poll):
    assert "提交" in text(citizen.get("/vote/"))
    Poll.objects.filter(pk=poll.pk).update(closed_at=timezone.now())  # no signal, as above
    response = citizen.post("/vote/", {"choices": "7", "confirm": "1"})
    assert response.status_code == 409
    assert Ballot.objects.count() == 0


def test_each_request_gets_its_own_copy_of_the_kept_poll(poll):
    first = Poll.objects.current_kept()
    first.title = "改过的标题"
    first.__dict__["ballot_totals"] = (999, 0)
    second = Poll.objects.current_kept()
    assert second is not first
    assert second.title == poll.title and second.ballot_totals == (0, 0)


def test_no_poll_is_kept_as_an_answer_too(db, django_assert_num_queries):
    with django_assert_num_queries(2):  # no open poll, and no poll at all
        assert Poll.objects.current_kept() is None
    with django_assert_num_queries(0):
        assert Poll.objects.current_kept() is None


def test_the_receipt_is_read_in_one_statement_without_the_entries_texts(citizen, poll):
    poll.max_choices = 3
    poll.save()
    assert citizen.post("/vote/", {"choices": ["9", "2", "5"], "confirm": "1"}).status_code == 302
    response, sqls = statements(citizen, "get", "/vote/done/")
    reads = [sql for sql in sqls if "django_session" not in sql]
    assert len(reads) == 1, reads
    assert '"body"' not in reads[0] and poll_reads(reads) == []
    html = text(response)
    ballot = Ballot.objects.get()
    assert ballot.receipt_display in html
    # The entries chosen, in their numbers' order, whatever order they were ticked in.
    titles = [Reform.objects.get(number=n).title for n in (2, 5, 9)]
    assert [html.index(title) for title in titles] == sorted(html.index(t) for t in titles)
    assert "二、" in html and "五、" in html and "九、" in html


def test_the_already_voted_page_shows_the_receipt_with_its_entries(citizen, poll):
    citizen.post("/vote/", {"choices": "4", "confirm": "1"})
    response = citizen.get("/vote/")
    html = text(response)
    assert "您已投票" in html
    assert Ballot.objects.get().receipt_display in html
    assert "四、" + Reform.objects.get(number=4).title in html


def test_a_ballot_reads_only_the_ids_of_the_entries_it_counts(citizen, poll):
    response, sqls = statements(citizen, "post", "/vote/", {"choices": "6", "confirm": "1"})
    assert response.status_code == 302
    # The form checks the choices against the kept entries; the cast reads them again under
    # the poll's lock, and needs no more of them than their ids.
    reads = [sql for sql in entry_reads(sqls) if '"number" IN' in sql]
    assert len(reads) == 1 and '"body"' not in reads[0] and '"title"' not in reads[0]
    assert Ballot.objects.get().choices.get().reform.number == 6


@pytest.mark.postgresql
def test_a_ballot_compiles_no_statement_for_the_polls_lock(citizen, poll, compiled):
    citizen.post("/vote/", {"choices": "2"})  # the review, so the form's reads are kept
    compiled.clear()
    response, sqls = statements(citizen, "post", "/vote/", {"choices": "2", "confirm": "1"})
    assert response.status_code == 302
    assert any(sql.endswith("FOR SHARE") for sql in poll_reads(sqls))
    assert Poll not in compiled_models(compiled)


def test_the_kept_rows_are_copied_not_unpickled(poll, monkeypatch):
    import pickle

    from zibo_vote import page_cache

    first = poll.published_entries()
    loads = record_calls(monkeypatch, pickle, "loads")
    again, third = poll.published_entries(), poll.published_entries()
    assert loads == []  # a cache's copy is a pickle's: about 0.1 ms for the fifteen entries
    assert [e.pk for e in first] == [e.pk for e in again] == [e.pk for e in third]
    assert all(a is not b and a._state is not b._state for a, b in zip(again, third, strict=True))
    # A related row cached on one request's copy does not reach the next.
    again[0].__dict__["note"] = "这个请求的"
    again[0]._state.fields_cache["poll"] = poll
    assert "note" not in third[0].__dict__ and third[0]._state.fields_cache == {}
    assert page_cache.copy_rows(None) is None


def test_the_kept_poll_is_copied_without_a_deep_copy(poll, monkeypatch):
    import copy

    Poll.objects.current_kept()
    deep = record_calls(monkeypatch, copy, "deepcopy")
    first, second = Poll.objects.current_kept(), Poll.objects.current_kept()
    assert deep == []
    # The record of the guarded fields as loaded is each copy's own (Poll.save() reads it).
    first._guarded_as_loaded["closed_at"] = timezone.now()
    assert second._guarded_as_loaded["closed_at"] is None
    assert first._state is not second._state


def test_a_kept_row_holding_a_value_that_changes_in_place_is_copied_deep(poll):
    from zibo_vote import page_cache

    kept = Poll.objects.get(pk=poll.pk)
    kept.__dict__["_prefetched_objects_cache"] = {"reforms": ["一"]}
    copied = page_cache.copy_rows(kept)
    copied._prefetched_objects_cache["reforms"].append("二")
    assert kept._prefetched_objects_cache == {"reforms": ["一"]}
    assert copied.title == kept.title and copied._state.db == kept._state.db


def test_the_ballots_choices_are_not_normalised_again_at_each_request(citizen, poll, monkeypatch):
    from django.forms import fields, widgets

    normalised = record_calls(monkeypatch, fields, "normalize_choices")
    again = record_calls(monkeypatch, widgets, "normalize_choices")
    assert 'value="7"' in text(citizen.get("/vote/"))
    response = citizen.post("/vote/", {"choices": "16"})
    assert "所选经验不在本次评选范围内" in text(response)
    assert "请确认您的选择" in text(citizen.post("/vote/", {"choices": "7"}))
    # Django's field and widget each turned the fifteen pairs into a new list (and each label
    # through the same function again) for every ballot form; the copies of the class's empty
    # choices that every form makes are not the fifteen.
    assert [args for args in normalised + again if isinstance(args[0], list) and args[0]] == []
