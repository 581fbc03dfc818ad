"""Rate limits (django-ratelimit on the shared cache): 429 in Chinese where the limits say."""

import shutil
import time

import pytest
import redis.client
from django.conf import settings
from django.core.cache import caches
from django.test import Client, RequestFactory, override_settings
from django_ratelimit.core import get_usage

from ballots.models import Ballot
from verification import limits as limits_table
from verification import sms
from verification.identity import phone_hash
from zibo_vote.settings import redis_cache

from . import servers
from .conftest import last_code, record_calls, resend_wait_passes, verify

pytestmark = pytest.mark.django_db


def limits(**changes):
    return override_settings(RATE_LIMITS={**settings.RATE_LIMITS, **changes})


def phone(n):
    return f"139{n:08d}"


def text(response):
    return response.content.decode("utf-8")


def assert_limited(response):
    assert response.status_code == 429
    assert "操作过于频繁" in text(response)
    assert '<html lang="zh-Hans">' in text(response)


@limits(unverified_sends_per_ip=5)
def test_one_address_cycling_through_numbers_is_stopped(poll):
    for n in range(5):
        assert Client().post("/verify/", {"phone": phone(n)}).status_code == 302
    assert_limited(Client().post("/verify/", {"phone": phone(99)}))
    assert len(sms.outbox) == 5


@limits(unverified_sends_per_ip=5)
def test_refused_requests_do_not_use_up_the_allowance(poll):
    browsers = [Client() for _ in range(5)]
    for n, browser in enumerate(browsers):
        browser.post("/verify/", {"phone": phone(n)})
    for n in range(20):  # an abuser keeps hammering after the refusal
        assert_limited(Client().post("/verify/", {"phone": phone(50 + n)}))
    # One of the five verifies its code, which gives the address exactly one send back.
    browsers[0].post("/verify/", {"code": last_code(phone(0))})
    assert Client().post("/verify/", {"phone": phone(90)}).status_code == 302
    assert_limited(Client().post("/verify/", {"phone": phone(91)}))
    assert len(sms.outbox) == 6


@limits(send_per_phone="2/h")
def test_failed_sends_do_not_use_up_the_allowance(poll, tmp_path):
    broken = override_settings(SMS_BACKEND="file", SMS_FILE=str(tmp_path / "no" / "such.jsonl"))
    with broken:
        for _ in range(5):
            assert "短信发送失败" in text(
                Client().post("/verify/", {"phone": phone(1)}, follow=True)
            )
    for _ in range(2):
        assert Client().post("/verify/", {"phone": phone(1)}).status_code == 302
        resend_wait_passes(phone(1))
    assert len(sms.outbox) == 2


@limits(check_per_session="3/h")
def test_nobody_can_use_up_a_strangers_code_checks(poll):
    attacker = Client()
    attacker.post("/verify/", {"phone": phone(66)})  # a code for the attacker's own number
    for _ in range(10):
        attacker.post("/verify/", {"phone": phone(1), "code": "000000"})
    victim = Client()
    victim.post("/verify/", {"phone": phone(1)})
    assert victim.post("/verify/", {"code": last_code(phone(1))}).status_code == 302


@limits(unverified_sends_per_ip=5)
def test_a_campus_behind_one_address_keeps_voting(poll):
    # Forty citizens from one NAT address, eight times the unverified allowance: each one
    # verifies the code they asked for, so none of them is stopped.
    for n in range(40):
        browser = Client()
        verify(browser, phone(n))
        assert (
            browser.post("/vote/", {"choices": str(n % 15 + 1), "confirm": "1"}).status_code == 302
        )
    assert Ballot.objects.count() == 40


@limits(send_per_phone="2/h")
def test_one_phone_gets_a_limited_number_of_codes(poll):
    for _ in range(2):
        assert Client().post("/verify/", {"phone": phone(1)}).status_code == 302
        resend_wait_passes(phone(1))  # the minute has passed
    assert_limited(Client().post("/verify/", {"phone": phone(1)}))
    assert len(sms.outbox) == 2


@limits(check_per_session="3/h")
def test_code_checks_are_limited_per_session(client, poll):
    client.post("/verify/", {"phone": phone(1)})
    for _ in range(3):
        assert client.post("/verify/", {"code": "000000"}).status_code == 302  # shown again
    assert_limited(client.post("/verify/", {"code": last_code(phone(1))}))


@limits(check_per_ip="4/h")
def test_code_checks_are_limited_per_address(poll):
    for n in range(4):
        browser = Client()
        browser.post("/verify/", {"phone": phone(n)})
        assert browser.post("/verify/", {"code": "000000"}).status_code == 302
    browser = Client()
    browser.post("/verify/", {"phone": phone(9)})
    assert_limited(browser.post("/verify/", {"code": last_code(phone(9))}))


@limits(vote_per_citizen="2/h")
def test_ballot_posts_are_limited_per_citizen(citizen):
    assert (
        citizen.post("/vote/", {"choices": "99", "confirm": "1"}).status_code == 200
    )  # the form refuses it
    assert citizen.post("/vote/", {"choices": "3", "confirm": "1"}).status_code == 302
    assert (
        citizen.post("/vote/", {"choices": "4", "confirm": "1"}).status_code == 409
    )  # already voted
    assert_limited(citizen.post("/vote/", {"choices": "5", "confirm": "1"}))


@limits(vote_per_ip="2/h")
def test_ballot_posts_are_limited_per_address(poll):
    for n in range(2):
        browser = Client()
        verify(browser, phone(n))
        assert browser.post("/vote/", {"choices": "1", "confirm": "1"}).status_code == 302
    browser = Client()
    verify(browser, phone(5))
    assert_limited(browser.post("/vote/", {"choices": "1", "confirm": "1"}))
    assert Ballot.objects.count() == 2


def test_limits_are_counted_per_address(poll):
    with limits(unverified_sends_per_ip=2):
        for n in range(2):
            Client(REMOTE_ADDR="198.51.100.7").post("/verify/", {"phone": phone(n)})
        assert_limited(Client(REMOTE_ADDR="198.51.100.7").post("/verify/", {"phone": phone(7)}))
        response = Client(REMOTE_ADDR="203.0.113.9").post("/verify/", {"phone": phone(8)})
        assert response.status_code == 302


class TestBehindAProxy:
    """nginx reports the client in X-Real-IP; REMOTE_ADDR is then always the proxy."""

    def proxied(self, client_ip, **extra):
        return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=client_ip, **extra)

    @override_settings(CLIENT_IP_HEADER="X-Real-IP")
    @limits(unverified_sends_per_ip=2)
    def test_limits_count_each_client_not_the_proxy(self, poll):
        for n in range(2):
            self.proxied("198.51.100.7").post("/verify/", {"phone": phone(n)})
        assert_limited(self.proxied("198.51.100.7").post("/verify/", {"phone": phone(7)}))
        assert self.proxied("203.0.113.9").post("/verify/", {"phone": phone(8)}).status_code == 302

    @override_settings(CLIENT_IP_HEADER="X-Real-IP")
    def test_ballots_keep_the_clients_network(self, poll):
        browser = self.proxied("203.0.113.57")
        verify(browser, phone(1))
        browser.post("/vote/", {"choices": "2", "confirm": "1"})
        assert Ballot.objects.get().network == "203.0.113.0/24"

    @override_settings(CLIENT_IP_HEADER="X-Real-IP")
    @limits(unverified_sends_per_ip=2)
    def test_the_header_counts_only_from_a_trusted_proxy(self, poll):
        # Someone who reaches an app server directly cannot pose as many clients.
        for n in range(2):
            Client(REMOTE_ADDR="192.0.2.9", HTTP_X_REAL_IP=f"198.51.100.{n}").post(
                "/verify/", {"phone": phone(n)}
            )
        direct = Client(REMOTE_ADDR="192.0.2.9", HTTP_X_REAL_IP="198.51.100.99")
        assert_limited(direct.post("/verify/", {"phone": phone(7)}))

    @limits(unverified_sends_per_ip=2)
    def test_a_header_the_client_sends_itself_changes_nothing(self, poll):
        for n in range(2):
            self.proxied(f"198.51.100.{n}").post("/verify/", {"phone": phone(n)})
        assert_limited(self.proxied("198.51.100.99").post("/verify/", {"phone": phone(7)}))
        spoofed = Client(HTTP_X_FORWARDED_FOR="203.0.113.5")
        assert_limited(spoofed.post("/verify/", {"phone": phone(8)}))


def unreachable_redis(raising):
    """A real connection to a closed port, in a backend that swallows its errors or raises them."""
    config = redis_cache("redis://127.0.0.1:1/0")
    return {**config, "OPTIONS": {**config["OPTIONS"], "IGNORE_EXCEPTIONS": not raising}}


class TestCacheUnreachable:
    """Redis down: decided answers, never a 500, whether the cache raises or swallows errors."""

    @pytest.fixture(params=["raising", "swallowing"])
    def cache_down(self, request):
        caches = {
            **settings.CACHES,
            "default": unreachable_redis(raising=False),
            settings.RATELIMIT_USE_CACHE: unreachable_redis(raising=request.param == "raising"),
        }
        return override_settings(CACHES=caches)

    @pytest.fixture
    def verified_then_cache_down(self, client, poll, cache_down):
        verify(client)
        with cache_down:
            yield client

    def test_sending_codes_fails_closed(self, verified_then_cache_down, poll):
        response = Client().post("/verify/", {"phone": phone(3)}, follow=True)
        assert response.status_code == 200
        assert "系统繁忙，暂时无法发送验证码" in text(response)
        assert len(sms.outbox) == 1  # only the code sent before the outage

    def test_codes_sent_before_the_outage_still_verify(self, poll, cache_down):
        browser = Client()
        browser.post("/verify/", {"phone": phone(4)})
        with cache_down:
            response = browser.post("/verify/", {"code": last_code(phone(4))})
        assert response.status_code == 302

    def test_verified_citizens_can_still_vote(self, verified_then_cache_down):
        response = verified_then_cache_down.post("/vote/", {"choices": "3", "confirm": "1"})
        assert response.status_code == 302
        assert Ballot.objects.count() == 1


class TestNobodySpendsAnotherPersonsAllowance:
    def test_a_stranger_cannot_stop_a_citizen_from_checking_their_code(self, poll):
        victim_phone = phone(1)
        attacker = Client(REMOTE_ADDR="198.51.100.66")
        attacker.post("/verify/", {"phone": victim_phone})
        for _ in range(20):
            attacker.post("/verify/", {"code": "000000"})
        resend_wait_passes(victim_phone)
        victim = Client(REMOTE_ADDR="203.0.113.9")
        assert victim.post("/verify/", {"phone": victim_phone}).status_code == 302
        assert victim.post("/verify/", {"code": last_code(victim_phone)}).status_code == 302

    @limits(send_per_phone="3/h")
    def test_sends_used_up_by_a_stranger_do_not_block_the_code_already_received(self, poll):
        victim_phone = phone(1)
        victim = Client(REMOTE_ADDR="203.0.113.9")
        victim.post("/verify/", {"phone": victim_phone})
        code = last_code(victim_phone)
        attacker = Client(REMOTE_ADDR="198.51.100.66")
        for _ in range(2):
            resend_wait_passes(victim_phone)
            attacker.post("/verify/", {"phone": victim_phone})
        resend_wait_passes(victim_phone)
        # The price of stopping SMS bombing: this number gets no more codes this hour...
        assert_limited(attacker.post("/verify/", {"phone": victim_phone}))
        # ...but the code the citizen holds still verifies them.
        assert victim.post("/verify/", {"code": code}).status_code == 302

    @limits(check_per_ip="1000/h")
    def test_code_checks_of_one_session_are_limited(self, poll):
        browser = Client()
        browser.post("/verify/", {"phone": phone(1)})
        for _ in range(4):  # a fresh code after each five wrong tries
            for _ in range(5):
                browser.post("/verify/", {"code": "000000"})
            resend_wait_passes(phone(1))
            browser.post("/verify/", {"phone": phone(1)})
        assert_limited(browser.post("/verify/", {"code": last_code(phone(1))}))


@override_settings(RATELIMIT_ENABLE=False)
def test_with_django_ratelimit_switched_off_citizens_verify_and_vote(poll):
    browser = Client()
    verify(browser, phone(1))
    assert browser.post("/vote/", {"choices": "3", "confirm": "1"}).status_code == 302
    assert Ballot.objects.count() == 1


@limits(unverified_sends_per_ip=3, send_per_ip="1000/s")
def test_unverified_sends_are_counted_whatever_the_rate_of_all_sends(poll):
    for n in range(3):
        verify(Client(), phone(n))  # three verified codes: no unverified send yet
    time.sleep(1.1)  # the per-second counter of all sends starts again
    for n in range(3):
        assert Client().post("/verify/", {"phone": phone(10 + n)}).status_code == 302
    assert_limited(Client().post("/verify/", {"phone": phone(20)}))
    assert len(sms.outbox) == 6


def send_from(address, number):
    return Client(REMOTE_ADDR=address).post("/verify/", {"phone": number})


@limits(unverified_sends_per_ip=2)
def test_a_verified_code_gives_the_send_back_to_the_address_that_asked_for_it(poll):
    wifi, mobile = "198.51.100.7", "203.0.113.9"
    # Two citizens ask for codes at home, on Wi-Fi; the phones then move to mobile data.
    browsers = [Client() for _ in range(2)]
    for n, browser in enumerate(browsers):
        browser.post("/verify/", {"phone": phone(n)}, REMOTE_ADDR=wifi)
    assert_limited(Client(REMOTE_ADDR=wifi).post("/verify/", {"phone": phone(5)}))
    for n, browser in enumerate(browsers):
        response = browser.post("/verify/", {"code": last_code(phone(n))}, REMOTE_ADDR=mobile)
        assert response.status_code == 302
    # The Wi-Fi address has its two sends back; the mobile address earned nothing.
    for n in range(2):
        assert (
            Client(REMOTE_ADDR=wifi).post("/verify/", {"phone": phone(10 + n)}).status_code == 302
        )
    for n in range(2):
        assert (
            Client(REMOTE_ADDR=mobile).post("/verify/", {"phone": phone(20 + n)}).status_code == 302
        )
    assert_limited(Client(REMOTE_ADDR=mobile).post("/verify/", {"phone": phone(30)}))


class TestBallotsTheFormRefuses:
    @limits(vote_per_citizen="10/10m")
    def test_do_not_count_against_the_citizen(self, citizen, poll):
        for _ in range(12):
            assert "请选择一项改革创新经验" in text(citizen.post("/vote/", {"confirm": "1"}))
        assert citizen.post("/vote/", {"choices": "3", "confirm": "1"}).status_code == 302

    @limits(vote_per_citizen="10/10m")
    def test_a_mistyped_id_number_does_not_count_either(self, citizen, poll):
        poll.require_id_number = True
        poll.save()
        for _ in range(12):
            response = citizen.post(
                "/vote/", {"choices": "3", "id_number": "370303199003071234", "confirm": "1"}
            )
            assert "校验位不正确" in text(response)
        response = citizen.post(
            "/vote/", {"choices": "3", "id_number": "370303199003071235", "confirm": "1"}
        )
        assert response.status_code == 302


class TestRetryAfter:
    """A refusal says how long it lasts: the time left in the limit's own window."""

    @limits(send_per_phone="2/d")
    def test_a_daily_limit_says_its_real_time_left(self, poll):
        for _ in range(2):
            Client().post("/verify/", {"phone": phone(1)})
            resend_wait_passes(phone(1))
        response = Client().post("/verify/", {"phone": phone(1)})
        assert_limited(response)
        seconds = int(response["Retry-After"])
        # django-ratelimit's windows are fixed but jittered per key: anywhere in the day.
        assert 1 <= seconds <= 24 * 3600
        assert seconds != 60

    @limits(check_per_ip="1/h")
    def test_an_hourly_limit_says_at_most_an_hour(self, poll):
        browser = Client()
        browser.post("/verify/", {"phone": phone(1)})
        browser.post("/verify/", {"code": "000000"})
        response = browser.post("/verify/", {"code": "000000"})
        assert_limited(response)
        assert 1 <= int(response["Retry-After"]) <= 3600


class TestIpv4MappedAddresses:
    """`::ffff:a.b.c.d` (a server bound to [::], or a proxy) is the IPv4 address it carries."""

    @limits(unverified_sends_per_ip=2)
    def test_count_as_their_ipv4_address(self, poll):
        for n in range(2):
            Client(REMOTE_ADDR="::ffff:198.51.100.7").post("/verify/", {"phone": phone(n)})
        assert_limited(Client(REMOTE_ADDR="198.51.100.7").post("/verify/", {"phone": phone(5)}))
        neighbour = Client(REMOTE_ADDR="::ffff:198.51.100.8")
        assert neighbour.post("/verify/", {"phone": phone(6)}).status_code == 302

    def test_ballots_keep_the_ipv4_network(self, poll):
        browser = Client(REMOTE_ADDR="::ffff:203.0.113.57")
        verify(browser, phone(1))
        browser.post("/vote/", {"choices": "2", "confirm": "1"})
        assert Ballot.objects.get().network == "203.0.113.0/24"


needs_redis = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


@pytest.fixture
def redis_limits(tmp_path):
    """The limits counted in a Redis of this test's own, on either database."""
    with servers.own_redis(tmp_path):
        yield caches[settings.RATELIMIT_USE_CACHE]


def redis_commands(monkeypatch):
    """Each command sent to Redis from now on (a script's call is one), as a live list."""
    return record_calls(monkeypatch, redis.client.Redis, "execute_command")


def usage(limit, value):
    """django-ratelimit's own reading of a counter (nothing counted)."""
    request = RequestFactory().post("/")
    return get_usage(request, group=limit.name, key=lambda group, request: value, rate=limit.rate)[
        "count"
    ]


@needs_redis
def test_on_redis_each_step_asks_its_limits_in_one_round_trip(redis_limits, poll, monkeypatch):
    verify(Client(), phone(0))  # a new Redis first loads the script: once, not per request
    sent = redis_commands(monkeypatch)
    browser = Client()
    assert browser.post("/verify/", {"phone": phone(1)}).status_code == 302
    # The four limits of a send read together; the number's wait; the three counts together.
    assert len(sent) == 3, sent
    sent.clear()
    assert browser.post("/verify/", {"code": last_code(phone(1))}).status_code == 302
    assert len(sent) == 2, sent  # the two checks together; the send given back to the address
    sent.clear()
    assert browser.post("/vote/", {"choices": "1", "confirm": "1"}).status_code == 302
    assert len(sent) == 1, sent  # per address and per citizen together


@needs_redis
def test_on_redis_the_counters_are_django_ratelimits_own_and_expire(redis_limits, poll):
    browser = Client()
    verify(browser, phone(2))
    assert usage(limits_table.SENDS_PER_NUMBER, phone_hash(phone(2))) == 1
    assert (
        usage(limits_table.CHECKS_PER_ADDRESS, limits_table.address_key(RequestFactory().get("/")))
        == 1
    )
    client = redis_limits.client.get_client(write=True)
    counters = list(client.scan_iter(match="*rl:*"))
    assert len(counters) >= 5
    for key in counters:
        # Each lives for its period and django-ratelimit's fudge, never for ever.
        assert 0 < client.pttl(key) <= (24 * 3600 + 5) * 1000, key


@pytest.fixture(params=["embedded", "redis"])
def either_cache(request, tmp_path):
    """The settings' embedded cache, then a Redis of the test's own."""
    if request.param == "embedded":
        yield
        return
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    with servers.own_redis(tmp_path):
        yield


def test_a_ballot_refused_for_its_address_is_not_counted_for_its_citizen(either_cache, poll):
    # The limit set inside the test, after the fixture's own settings: overrides end in order.
    with limits(vote_per_ip="1/h"):
        ballot_refused_for_its_address()


def ballot_refused_for_its_address():
    first, second = Client(), Client()
    verify(first, phone(3))
    verify(second, phone(4))
    assert first.post("/vote/", {"choices": "1", "confirm": "1"}).status_code == 302
    assert_limited(second.post("/vote/", {"choices": "1", "confirm": "1"}))
    assert usage(limits_table.BALLOTS_PER_CITIZEN, phone_hash(phone(3))) == 1
    assert usage(limits_table.BALLOTS_PER_CITIZEN, phone_hash(phone(4))) == 0


@needs_redis
def test_the_counting_script_is_made_once_and_loaded_again_if_redis_forgets_it(
    redis_limits, poll, monkeypatch
):
    verify(Client(), phone(3))
    made = record_calls(monkeypatch, redis.client.Redis, "register_script")
    verify(Client(), phone(4))
    assert made == []  # a Script hashes the text when made: once per client, not per request
    redis_limits.client.get_client(write=True).script_flush()  # as a restarted Redis has none
    browser = Client()
    assert browser.post("/verify/", {"phone": phone(5)}).status_code == 302
    assert usage(limits_table.SENDS_PER_NUMBER, phone_hash(phone(5))) == 1


def test_redis_replies_are_parsed_by_hiredis():
    # A dependency (pyproject.toml): without it redis-py parses every reply in Python.
    assert redis.utils.HIREDIS_AVAILABLE
