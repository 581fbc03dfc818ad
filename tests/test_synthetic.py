"""The benchmark's loader: synthetic ballots only where no real ballot is, counts kept exact."""

import io

import pytest
from django.core.management import CommandError, call_command

from ballots.models import Ballot
from ballots.tally import discrepancies, recount

from .conftest import cast

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("benchmark_mode")]


@pytest.fixture
def benchmark_mode(settings):
    settings.BENCHMARK_VIEWS = True


def test_loads_synthetic_ballots_with_exact_counts(poll):
    call_command("load_synthetic_ballots", "--count", "2000", stdout=io.StringIO())
    call_command("load_synthetic_ballots", "--count", "500", stdout=io.StringIO())
    assert Ballot.objects.count() == 2500
    assert len(set(Ballot.objects.values_list("receipt", flat=True))) == 2500
    poll.refresh_from_db()
    assert poll.ballot_count == 2500
    assert recount(poll).votes == 2500
    assert discrepancies(poll) == []
    # Votes and voiding go on as usual on top of them.
    cast(poll, [3])
    poll.refresh_from_db()
    assert discrepancies(poll) == []


def test_refuses_unless_benchmarking(poll, settings):
    settings.BENCHMARK_VIEWS = False
    with pytest.raises(CommandError, match="DJANGO_BENCHMARK=1"):
        call_command("load_synthetic_ballots", "--count", "10")
    assert Ballot.objects.count() == 0


def test_refuses_a_closed_poll(poll):
    poll.close()
    with pytest.raises(CommandError, match="closed"):
        call_command("load_synthetic_ballots", "--count", "10")


def test_refuses_a_poll_with_real_ballots(poll):
    cast(poll, [3])
    with pytest.raises(CommandError, match="real ballots"):
        call_command("load_synthetic_ballots", "--count", "10")
    assert Ballot.objects.count() == 1
