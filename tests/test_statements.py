"""zibo_vote.statements: queries compiled by the ORM once, run again with other values."""

import pytest
from django.db import connection
from django.db.models import Q

from ballots.models import Ballot, Poll, Receipt, _chosen
from reforms.models import Reform
from zibo_vote.statements import Prepared

from .conftest import compiled_models, text

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
