"""The benchmark (bench/): synthetic ballots only where no real ballot is, counts kept exact,
nothing of it on a production server, and a latency proxy that delays without reordering."""

import socket
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
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
    for name in ("id_number_hash", "voided_at", "voided_by_id", "void_reason"):
        assert loaded[name] == getattr(made, name), name
    assert loaded["network"].endswith(".0/24") and loaded["phone_masked"].endswith("****")
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


@pytest.fixture
def echo_server():
    """A TCP server on loopback that sends back whatever it receives."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        try:
            connection, _ = listener.accept()
        except OSError:  # closed without a client
            return
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def start_proxy(port, *arguments):
    proxy = subprocess.Popen(
        [sys.executable, "bench/latency_proxy.py", "--upstream", f"127.0.0.1:{port}", *arguments],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return proxy, int(proxy.stdout.readline().rpartition(":")[2])


def test_the_latency_proxy_delays_each_way_and_keeps_the_bytes_in_order(echo_server):
    proxy, port = start_proxy(echo_server, "--delay-ms", "20")
    try:
        with socket.create_connection(("127.0.0.1", port)) as client:
            began = time.monotonic()
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
            assert time.monotonic() - began >= 0.040  # 20 ms there, 20 ms back
            chunks = [str(n).encode() + b"," for n in range(200)]
            for chunk in chunks:
                client.sendall(chunk)
            expected, received = b"".join(chunks), b""
            while len(received) < len(expected):
                received += client.recv(65536)
            assert received == expected
    finally:
        proxy.terminate()
        proxy.communicate(timeout=10)
    assert proxy.returncode == 0  # SIGTERM: a clean stop


def test_the_latency_proxy_stops_by_itself(echo_server):
    proxy, _ = start_proxy(echo_server, "--delay-ms", "1", "--seconds", "0.5")
    _, said = proxy.communicate(timeout=10)
    assert proxy.returncode == 0
    assert "stopping after 0.5 s" in said


def test_a_wave_mixed_into_the_load_is_flagged_with_its_true_size(poll, benchmark_mode):
    from ballots import review

    synthetic.load(poll, 3000, wave=150)
    found = {(c.rule, c.key): c.size for c in review.flags(poll, with_details=False)}
    assert found[("automation", synthetic.WAVE_NETWORK)] == 150
    assert found[("same_gap", synthetic.WAVE_NETWORK)] == 150
    assert found[("night", synthetic.WAVE_SEGMENT)] == 150
    assert {key for _rule, key in found} == {synthetic.WAVE_NETWORK, synthetic.WAVE_SEGMENT}
