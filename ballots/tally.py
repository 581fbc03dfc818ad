"""The count: counted (not voided) votes per entry, ranked, with shares.

Two ways to the same numbers. `tally()` reads the running counts (VoteCount and BallotCount, a
few shards each, added up), a few hundred rows whatever the number of ballots: for the public
results page. `recount()` counts the ballots
themselves in one aggregate query: for the official export, the admin and `check_tally`.
"""

from collections import Counter
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from reforms.models import Reform

from .models import Ballot, BallotCount, Choice, VoteCount


@dataclass(frozen=True)
class TallyRow:
    reform: Reform
    votes: int
    share: float  # of all counted votes, 0…1
    rank: int  # ties share a rank: 1, 2, 2, 4
    tied: bool  # another entry has the same rank
    bar: float  # bar length in percent, the leading entry's being 100

    @property
    def percent(self):
        return round(self.share * 100, 2)


@dataclass(frozen=True)
class Tally:
    rows: list
    votes: int  # counted votes (a ballot with three choices is three votes)
    ballots: int  # counted ballots
    voided: int  # voided ballots, left out of everything above

    @property
    def unvoted(self):
        """The rows of entries that received no vote (the results page lists them apart)."""
        return [row for row in self.rows if not row.votes]

    def votes_by_number(self):
        return {row.reform.number: row.votes for row in self.rows}


def _ranked(poll, counts, ballots, voided):
    # The entries the poll offers, and any that received votes before staff took them off it.
    reforms = Reform.objects.filter(Q(pk__in=poll.reforms.values("pk")) | Q(pk__in=counts))
    ordered = sorted(reforms, key=lambda reform: (-counts.get(reform.pk, 0), reform.number))
    total = sum(counts.values())
    most = max(counts.values(), default=0)
    ranks, rank, previous = [], 0, None
    for position, reform in enumerate(ordered, start=1):
        votes = counts.get(reform.pk, 0)
        if votes != previous:
            rank, previous = position, votes
        ranks.append((reform, votes, rank))
    shared = Counter(rank for _, _, rank in ranks)
    rows = [
        TallyRow(
            reform,
            votes,
            share=votes / total if total else 0.0,
            rank=rank,
            tied=shared[rank] > 1,
            bar=100 * votes / most if most else 0.0,
        )
        for reform, votes, rank in ranks
    ]
    return Tally(rows, total, ballots, voided)


def tally(poll):
    """From the running counts: constant cost, exact (they move with each ballot)."""
    counts = dict(
        VoteCount.objects.filter(poll=poll)
        .order_by()
        .values_list("reform_id")
        .annotate(votes=Sum("votes"))
    )
    cast, voided = BallotCount.totals(poll)
    return _ranked(poll, counts, cast - voided, voided)


def recount(poll):
    """From the ballots themselves: one aggregate query for the votes, one for the ballots."""
    counts = dict(
        Choice.objects.filter(ballot__poll=poll, ballot__voided_at__isnull=True)
        .order_by()
        .values_list("reform_id")
        .annotate(votes=Count("pk"))
    )
    ballots = Ballot.objects.filter(poll=poll).aggregate(
        counted=Count("pk", filter=Q(voided_at__isnull=True)),
        voided=Count("pk", filter=Q(voided_at__isnull=False)),
    )
    return _ranked(poll, counts, ballots["counted"], ballots["voided"])


def audit(poll):
    """(the recount, where the running counts differ from it): empty when they agree, as they
    must.

    Both are read from one snapshot of the database (REPEATABLE READ on PostgreSQL), so votes
    arriving meanwhile cannot make them look different.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        fast, exact = tally(poll), recount(poll)
    counted, recounted = fast.votes_by_number(), exact.votes_by_number()
    found = [
        (number, counted.get(number, 0), recounted.get(number, 0))
        for number in sorted(counted.keys() | recounted.keys())
        if counted.get(number, 0) != recounted.get(number, 0)
    ]
    if (fast.ballots, fast.voided) != (exact.ballots, exact.voided):
        found.append(("ballots", (fast.ballots, fast.voided), (exact.ballots, exact.voided)))
    return exact, found


def discrepancies(poll):
    return audit(poll)[1]
