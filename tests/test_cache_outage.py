"""A hung Redis costs each request milliseconds: the breaker stops asking it for a while.

The test starts a Redis of its own and stops it with SIGSTOP: the process keeps its port, the
kernel still accepts connections, and nothing ever answers, as with a Redis swapping to death
or a network that drops packets. (A refused connection is the easy case, tests/test_rate_limits.py.)
The shared Redis of the other tests is never touched.
"""

import os
import shutil
import signal
import statistics
import time

import pytest
from django.conf import settings
from django.test import Client, override_settings

from ballots.models import Ballot
from verification import sms
from zibo_vote import page_cache
from zibo_vote.cache_breaker import shared_cache

from . import servers
from .conftest import text, verify

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

PAGES = ["/", "/reforms/3/", "/results/", "/en/"]


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own; yields (pause, resume)."""
    with servers.own_redis(tmp_path) as server:
        try:
            yield (
                lambda: os.kill(server.pid, signal.SIGSTOP),
                lambda: os.kill(server.pid, signal.SIGCONT),
            )
        finally:
            os.kill(server.pid, signal.SIGCONT)


def timed(send):
    started = time.perf_counter()
    response = send()
    return response, (time.perf_counter() - started) * 1000


def test_with_redis_hung_pages_answer_in_milliseconds_and_ballots_are_cast(own_redis, poll):
    pause, resume = own_redis
    citizen = Client()
    verify(citizen)
    for path in PAGES:
        Client().get(path)  # in the page cache before the hang
    pause()
    page_cache.clear_local()  # no copy in this worker's memory: every page needs the cache

    times = []
    for _ in range(5):
        for path in PAGES:
            response, ms = timed(lambda path=path: Client().get(path))
            assert response.status_code == 200
            times.append(ms)
    # One call waited for the socket timeout (REDIS_TIMEOUT_MS); then nobody asked.
    assert max(times) >= settings.REDIS_TIMEOUT_SECONDS * 1000 * 0.9
    assert statistics.median(times) < 100, times
    assert shared_cache.is_open

    response, ms = timed(lambda: citizen.post("/vote/", {"choices": "3", "confirm": "1"}))
    assert response.status_code == 302 and ms < 1000
    assert Ballot.objects.count() == 1

    stranger = Client()
    response, ms = timed(lambda: stranger.post("/verify/", {"phone": "13912345678"}))
    assert ms < 1000
    assert "系统繁忙，暂时无法发送验证码" in text(stranger.get(response["Location"]))
    assert not [message for message in sms.outbox if message["phone"] == "13912345678"]
    resume()


@override_settings(CACHE_BREAKER_SECONDS=1)
def test_when_redis_answers_again_the_site_uses_it_again(own_redis, poll):
    pause, resume = own_redis
    pause()
    assert Client().get("/").status_code == 200  # pays the timeout; the breaker opens
    assert shared_cache.is_open
    resume()
    time.sleep(1.1)
    browser = Client()
    response = browser.post("/verify/", {"phone": "13912345678"}, follow=True)
    assert "验证码已发送至" in text(response)
    assert not shared_cache.is_open
