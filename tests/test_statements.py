"""zibo_vote.statements: queries compiled by the ORM once, run again with other values."""

import pytest
from django.db import connection
from django.db.models import Q

from ballots.models import Ballot, Poll, Receipt, _chosen
from reforms.models import Reform
from zibo_vote.statements import Prepared

from .conftest import compiled_models, record_calls, text

pytestmark = pytest.mark.django_db


def test_a_prepared_query_answers_as_its_queryset_for_other_values(poll):
    published = list(poll.reforms.published().order_by("number"))
    for numbers in ([3], [1, 15], [2, 7, 9]):
        rows = _chosen(len(numbers)).rows(connection.alias, poll.pk, *numbers)
        expected = set(poll.reforms.published().filter(number__in=numbers).values_list("pk"))
        assert set(rows) == expected and len(rows) == len(numbers)
    # An unpublished entry, or a number of no entry, is not among them.
    Reform.objects.filter(pk=published[4].pk).update(published=False)
    assert _chosen(2).rows(connection.alias, poll.pk, published[4].number, 99) == []


def test_the_ballot_and_the_review_compile_nothing_to_find_a_ballot(citizen, poll, compiled):
    assert "提交选票" in text(citizen.get("/vote/"))
    assert "请确认您的选择" in text(citizen.post("/vote/", {"choices": "4"}))
    compiled.clear()
    assert "提交选票" in text(citizen.get("/vote/"))
    assert "请确认您的选择" in text(citizen.post("/vote/", {"choices": "4"}))
    assert Ballot not in compiled_models(compiled)
    # And the answer is the same as the ORM's once there is a ballot.
    citizen.post("/vote/", {"choices": "4", "confirm": "1"})
    ballot = Ballot.objects.get()
    assert poll.receipt_of(ballot.citizen_hash) == ballot.receipt
    assert poll.receipt_of("someone else") is None
    # The time comes back as the ORM gives it (SQLite keeps text): the same aware datetime.
    receipt = Receipt.of(ballot.receipt)
    assert receipt.cast_at == ballot.cast_at and receipt.cast_at.tzinfo is not None
    assert receipt.entries == (("四", Reform.objects.get(number=4).title),)
    assert Receipt.of("NOSUCHCODE00") is None
    assert "您已投票" in text(citizen.get("/vote/"))


def test_a_query_compiled_once_is_compiled_once(poll, compiled):
    prepared = Prepared(lambda pk: Poll.objects.filter(pk=pk).values_list("slug"), 30001)
    for _ in range(3):
        assert prepared.rows(connection.alias, poll.pk) == [(poll.slug,)]
    assert compiled_models(compiled).count(Poll) == 1


def test_a_placeholder_that_is_not_one_parameter_is_refused(poll):
    twice = Prepared(lambda pk: Poll.objects.filter(Q(pk=pk) | Q(max_choices=pk)), 30001)
    with pytest.raises(RuntimeError, match="2 parameters"):
        twice.rows(connection.alias, poll.pk)
    unused = Prepared(lambda pk: Poll.objects.all(), 30001)
    with pytest.raises(RuntimeError, match="0 parameters"):
        unused.rows(connection.alias, poll.pk)
    # A placeholder out of its field's range: the ORM leaves its condition out altogether.
    out_of_range = Prepared(lambda pk: Poll.objects.filter(Q(pk=1) | Q(max_choices=pk)), -1)
    with pytest.raises(RuntimeError, match="0 parameters"):
        out_of_range.rows(connection.alias, poll.pk)


def cast_for(poll, n, numbers, **extra):
    return poll.cast_ballot(citizen_hash=f"{n:064x}", numbers=numbers, **extra)


def test_a_ballot_is_cast_with_nothing_compiled_after_the_first(poll, compiled, monkeypatch):
    from django.db.models.sql.compiler import SQLInsertCompiler

    inserts = record_calls(monkeypatch, SQLInsertCompiler, "as_sql")
    cast_for(poll, 1, [3])
    compiled.clear()
    inserts.clear()
    ballot = cast_for(poll, 3, [7])
    assert compiled == [] and inserts == []  # the poll, the entries, the ballot, its choice
    assert Ballot.objects.get(pk=ballot.pk).choices.get().reform.number == 7
    assert not ballot._state.adding and ballot._state.db == connection.alias


def test_the_prepared_insert_writes_what_create_writes(poll):
    from django.utils import timezone

    sent = timezone.now() - timezone.timedelta(seconds=95)
    extra = {"network": "10.1.2.0/24", "phone_masked": "138****5678", "ua_family": "Chrome"}
    ballot = cast_for(poll, 4, [5], code_sent_at=sent, **extra)
    created = Ballot.objects.create(
        poll=poll,
        citizen_hash="f" * 64,
        cast_at=ballot.cast_at,
        receipt="X" * len(ballot.receipt),
        seconds_from_code=ballot.seconds_from_code,
        **extra,
    )
    ours, theirs = (Ballot.objects.values().get(pk=pk) for pk in (ballot.pk, created.pk))
    different = {key for key in ours if ours[key] != theirs[key]}
    assert different == {"id", "citizen_hash", "receipt"}
    assert ours["seconds_from_code"] == 95 and ours["cast_at"] == ballot.cast_at


def test_several_choices_are_one_insert_of_as_many_rows(poll):
    from django.test.utils import CaptureQueriesContext

    Poll.objects.filter(pk=poll.pk).update(max_choices=3)
    poll.refresh_from_db()
    for n, numbers in enumerate([[2], [4, 9], [1, 8, 15], [6, 3]]):
        with CaptureQueriesContext(connection) as queries:
            ballot = cast_for(poll, 10 + n, numbers)
        inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "ballots_choice"')]
        assert len(inserts) == 1, inserts
        assert sorted(ballot.choices.values_list("reform__number", flat=True)) == sorted(numbers)


def test_an_instance_that_has_a_key_or_a_model_that_saves_itself_is_not_inserted_here(
    poll, monkeypatch
):
    from zibo_vote.statements import PreparedInsert

    insert = PreparedInsert(Ballot, returning=True, as_save=True)
    with pytest.raises(ValueError, match="primary key"):
        insert.insert(connection.alias, [Ballot(pk=5, poll=poll, citizen_hash="d" * 64)])
    # Poll has its own save(): an INSERT standing in for save() calls it instead.
    saved = record_calls(monkeypatch, Poll, "save")
    new = Poll(title="另一次评选", slug="another")
    PreparedInsert(Poll, returning=True, as_save=True).insert(connection.alias, [new])
    assert len(saved) == 1 and Poll.objects.filter(slug="another").exists()


def test_what_listens_to_a_ballot_s_save_is_still_told(poll):
    from django.db.models.signals import post_save

    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    post_save.connect(receiver, sender=Ballot)
    try:
        ballot = cast_for(poll, 20, [2])
    finally:
        post_save.disconnect(receiver, sender=Ballot)
    assert heard == [(ballot.pk, True)]
    assert Ballot.objects.get(pk=ballot.pk).choices.get().reform.number == 2


def test_an_expression_is_not_a_value_a_prepared_insert_takes(poll):
    from django.db.models.functions import Now

    from zibo_vote.statements import PreparedInsert

    insert = PreparedInsert(Ballot, returning=True)
    with pytest.raises(ValueError, match="cast_at: an expression"):
        insert.insert(connection.alias, [Ballot(poll=poll, citizen_hash="e" * 64, cast_at=Now())])
    assert not Ballot.objects.exists()


def test_the_poll_a_ballot_is_cast_in_is_the_orm_s_poll(poll):
    ours = Poll.objects.get_for_ballot(poll.pk)
    theirs = Poll.objects.get(pk=poll.pk)
    fields = [field.attname for field in Poll._meta.concrete_fields]
    assert [getattr(ours, name) for name in fields] == [getattr(theirs, name) for name in fields]
    assert ours.opens_at.tzinfo is not None and ours._state.db == connection.alias
    with pytest.raises(Poll.DoesNotExist):
        Poll.objects.get_for_ballot(poll.pk + 1000)


@pytest.mark.django_db(transaction=True)  # the other thread's connection sees the poll
def test_a_statement_compiled_for_a_thread_s_connection_goes_with_it(poll):
    import gc
    import threading

    prepared = Prepared(lambda pk: Poll.objects.filter(pk=pk).values_list("slug"), 30001)
    answers = []

    def in_a_thread():
        answers.append(prepared.rows(connection.alias, poll.pk))
        from django.db import connections

        connections.close_all()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert answers == [[(poll.slug,)]]
    assert prepared.rows(connection.alias, poll.pk) == [(poll.slug,)]
    gc.collect()
    assert len(prepared._compiled) == 1  # this thread's; the other thread's went with it
