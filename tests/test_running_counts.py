"""The running counts: split into shards that ballots cast at the same moment add to side by
side, summed on read, exact whatever happens (votes, voiding, recounts, a new shard count, the
migration that introduced them)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count

from ballots.models import Ballot, BallotCount, Choice, VoidReason, VoteCount
from ballots.tally import discrepancies, recount, tally

from .conftest import cast

pytestmark = pytest.mark.django_db


def shards(poll):
    """{shard: (cast, voided)} and {(shard, entry number): votes}, zeros left out."""
    ballots = {
        row.shard: (row.ballots, row.voided)
        for row in BallotCount.objects.filter(poll=poll)
        if row.ballots or row.voided
    }
    votes = {
        (row.shard, row.reform.number): row.votes
        for row in VoteCount.objects.filter(poll=poll).select_related("reform")
        if row.votes
    }
    return ballots, votes


def recounted_shards(poll, count):
    """The same, counted from the ballots: each ballot in the shard its id gives."""
    ballots, votes = {}, {}
    for ballot in Ballot.objects.filter(poll=poll):
        cast_, voided = ballots.get(ballot.pk % count, (0, 0))
        ballots[ballot.pk % count] = (cast_ + 1, voided + ballot.is_voided)
    counted = (
        Choice.objects.filter(ballot__poll=poll, ballot__voided_at__isnull=True)
        .values_list("ballot_id", "reform__number")
        .order_by()
    )
    for ballot_id, number in counted:
        key = (ballot_id % count, number)
        votes[key] = votes.get(key, 0) + 1
    return ballots, votes


def test_ballots_are_counted_in_the_shard_their_id_gives(poll, settings):
    settings.BALLOT_COUNT_SHARDS = 4
    poll.max_choices = 2
    poll.save()
    ballots = cast(poll, *[[n % 15 + 1, (n + 3) % 15 + 1] for n in range(10)])

    assert shards(poll) == recounted_shards(poll, 4)
    # Consecutive ballots land in different rows: four shards, none holding more than its share.
    assert sorted(cast_ for cast_, _ in shards(poll)[0].values()) == [2, 2, 3, 3]
    assert {ballot.pk % 4 for ballot in ballots[:4]} == {0, 1, 2, 3}
    poll.refresh_from_db()
    assert (poll.ballot_count, poll.voided_count, poll.counted_ballots) == (10, 0, 10)
    assert tally(poll) == recount(poll)


def test_voiding_takes_the_votes_from_the_shards_they_were_counted_in(poll, settings, admin_user):
    settings.BALLOT_COUNT_SHARDS = 3
    ballots = cast(poll, *[[n % 4 + 1] for n in range(12)])
    Ballot.objects.filter(pk__in=[b.pk for b in ballots[::3]]).void(
        by=admin_user, reason=VoidReason.STUFFING
    )
    ballots[1].void(by=admin_user, reason=VoidReason.STUFFING)
    ballots[1].void(by=admin_user, reason=VoidReason.STUFFING)  # twice: subtracted once

    assert shards(poll) == recounted_shards(poll, 3)
    assert all(votes > 0 for votes in shards(poll)[1].values())
    poll.refresh_from_db()
    assert (poll.ballot_count, poll.voided_count, poll.counted_ballots) == (12, 5, 7)
    assert discrepancies(poll) == []


def test_reset_counts_sets_every_shard_from_its_own_ballots(poll, settings, admin_user):
    settings.BALLOT_COUNT_SHARDS = 5
    ballots = cast(poll, *[[n % 6 + 1] for n in range(17)])
    ballots[4].void(by=admin_user, reason=VoidReason.TEST_DATA)
    exact = shards(poll)
    VoteCount.objects.filter(poll=poll, reform__number=2).update(votes=40)
    BallotCount.objects.filter(poll=poll).update(ballots=0)
    assert discrepancies(poll) != []

    poll.reset_counts()

    assert shards(poll) == exact == recounted_shards(poll, 5)
    assert discrepancies(poll) == []


def test_counts_stay_exact_when_the_number_of_shards_changes(poll, settings, admin_user):
    settings.BALLOT_COUNT_SHARDS = 2
    before = cast(poll, *[[n % 15 + 1] for n in range(9)])
    settings.BALLOT_COUNT_SHARDS = 7
    cast(poll, *[[n % 15 + 1] for n in range(9)])
    # Voided from the shard the ballot's id gives now, not the one it was counted in: a shard
    # may go below zero, the sums stay exact.
    Ballot.objects.filter(pk__in=[b.pk for b in before]).void(
        by=admin_user, reason=VoidReason.OTHER
    )
    assert discrepancies(poll) == []
    poll.refresh_from_db()
    assert (poll.ballot_count, poll.voided_count) == (18, 9)

    poll.reset_counts()
    assert shards(poll) == recounted_shards(poll, 7)
    assert discrepancies(poll) == []


def test_the_results_page_reads_a_few_rows_whatever_the_ballots(poll, settings):
    settings.BALLOT_COUNT_SHARDS = 32
    cast(poll, *[[n % 15 + 1] for n in range(200)])
    # At most one row per entry and shard, one per shard for the ballots.
    assert VoteCount.objects.filter(poll=poll).count() <= 15 * 32
    assert BallotCount.objects.filter(poll=poll).count() == 32
    assert tally(poll).ballots == 200


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_counts_into_shards_exactly_and_back(poll):
    before, after = ("ballots", "0007_labels"), ("ballots", "0008_sharded_running_counts")
    cast(poll, [3], [3], [5])
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps
        OldPoll, OldVoteCount = (
            old.get_model("ballots", "Poll"),
            old.get_model("ballots", "VoteCount"),
        )
        # Counts as the previous release kept them, one wrong on purpose: moved, not recounted.
        assert dict(OldVoteCount.objects.values_list("reform__number", "votes")) == {3: 2, 5: 1}
        OldPoll.objects.filter(pk=poll.pk).update(ballot_count=3, voided_count=1)
        OldVoteCount.objects.filter(reform__number=5).update(votes=4)

        executor = MigrationExecutor(connection)
        executor.migrate([after])
        # On to the latest schema (later migrations add columns the models read), data as moved.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

        poll.refresh_from_db()
        assert (poll.ballot_count, poll.voided_count) == (3, 1)
        assert shards(poll) == ({0: (3, 1)}, {(0, 3): 2, (0, 5): 4})
        assert {found[0] for found in discrepancies(poll)} == {5, "ballots"}

        poll.cast_ballot(citizen_hash="n" * 64, numbers=[5])  # sharded from now on
        executor = MigrationExecutor(connection)
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps
        counts = old.get_model("ballots", "VoteCount").objects.order_by()
        assert dict(counts.values_list("reform__number").annotate(n=Count("pk"))) == {3: 1, 5: 1}
        assert dict(counts.values_list("reform__number", "votes")) == {3: 2, 5: 5}
        assert old.get_model("ballots", "Poll").objects.values_list(
            "ballot_count", "voided_count"
        ).get(pk=poll.pk) == (4, 1)
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )


@pytest.mark.postgresql
def test_a_ballot_adds_to_both_counts_in_one_statement(poll, django_assert_num_queries):
    """Issue 15: the entries' counts and the ballot count in one round trip (a WITH): the poll
    FOR SHARE, the entries, the ballot, its choices, the counts; savepoint and release."""
    with django_assert_num_queries(7):
        poll.cast_ballot(citizen_hash="c" * 64, numbers=[5])
    assert sum(VoteCount.objects.filter(poll=poll).values_list("votes", flat=True)) == 1
    assert poll.ballot_count == 1
