"""The count: counted (not voided) votes per entry, ranked, with shares."""

from dataclasses import dataclass

from django.db.models import Count, Q

from reforms.models import Reform

from .models import Ballot, Choice


@dataclass(frozen=True)
class TallyRow:
    reform: Reform
    votes: int
    share: float  # of all counted votes, 0…1
    rank: int  # ties share a rank: 1, 2, 2, 4


@dataclass(frozen=True)
class Tally:
    rows: list
    votes: int  # counted votes (a ballot with three choices is three votes)
    ballots: int  # counted ballots
    voided: int  # voided ballots, left out of everything above


def tally(poll):
    """One aggregate query for the votes, one for the entries, one for the ballot counts."""
    counts = dict(
        Choice.objects.filter(ballot__poll=poll, ballot__voided_at__isnull=True)
        .order_by()
        .values_list("reform_id")
        .annotate(votes=Count("pk"))
    )
    # The entries the poll offers, and any that received votes before staff took them off it.
    reforms = Reform.objects.filter(Q(pk__in=poll.reforms.values("pk")) | Q(pk__in=counts))
    ranked = sorted(reforms, key=lambda reform: (-counts.get(reform.pk, 0), reform.number))
    total = sum(counts.values())

    rows, rank, previous = [], 0, None
    for position, reform in enumerate(ranked, start=1):
        votes = counts.get(reform.pk, 0)
        if votes != previous:
            rank, previous = position, votes
        rows.append(TallyRow(reform, votes, votes / total if total else 0.0, rank))

    ballots = Ballot.objects.filter(poll=poll).aggregate(
        counted=Count("pk", filter=Q(voided_at__isnull=True)),
        voided=Count("pk", filter=Q(voided_at__isnull=False)),
    )
    return Tally(rows, total, ballots["counted"], ballots["voided"])
