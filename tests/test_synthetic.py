"""The benchmark (bench/): synthetic ballots only where no real ballot is, counts kept exact, and
nothing of it on a production server."""

import pytest
from django.test import Client

from ballots.models import Ballot
from ballots.tally import discrepancies, recount
from bench import synthetic

from .conftest import cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def benchmark_mode(settings):
    settings.ROOT_URLCONF = "bench.urls"  # as bench/settings.py, which bench/run.py serves


def test_loads_synthetic_ballots_with_exact_counts(poll, benchmark_mode):
    synthetic.load(poll, 2000)
    synthetic.load(poll, 500)
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


def test_columns_the_loader_does_not_set_get_the_models_defaults(poll, benchmark_mode):
    synthetic.load(poll, 10)
    loaded = Ballot.objects.values().first()
    made = Ballot(poll=poll)
    for name in ("id_number_hash", "phone_masked", "voided_at", "voided_by_id", "void_reason"):
        assert loaded[name] == getattr(made, name), name
    assert loaded["network"] == "synthetic"
    [real] = cast(poll, [3])  # the id sequence was moved past the loaded ballots
    assert real.pk > loaded["id"]


def test_refuses_unless_benchmarking(poll):
    with pytest.raises(synthetic.Refused, match=r"bench\.settings"):
        synthetic.load(poll, 10)
    assert Ballot.objects.count() == 0


def test_refuses_a_closed_poll(poll, benchmark_mode):
    poll.close()
    with pytest.raises(synthetic.Refused, match="closed"):
        synthetic.load(poll, 10)


def test_refuses_a_poll_with_real_ballots(poll, benchmark_mode):
    cast(poll, [3])
    with pytest.raises(synthetic.Refused, match="real ballots"):
        synthetic.load(poll, 10)
    assert Ballot.objects.count() == 1


def test_the_baseline_view_is_served_only_by_the_benchmarks_urls(poll, settings):
    assert Client().get("/bench/baseline").status_code == 404
    settings.ROOT_URLCONF = "bench.urls"
    response = Client().get("/bench/baseline")
    assert response.status_code == 200 and response.content == b"ok\n"
    assert Client().get("/en/results/").status_code == 200  # the site's own pages as well
