"""zibo_vote.tokens: random strings from one draw of the system's randomness."""

import random
from collections import Counter

import pytest
from django.contrib.sessions.backends.base import VALID_KEY_CHARS

from ballots.models import RECEIPT_ALPHABET, RECEIPT_LENGTH, new_receipt
from zibo_vote.sessions import SessionStore
from zibo_vote.tokens import random_string

from .conftest import record_calls


def test_every_string_is_as_likely_as_every_other():
    drawn = Counter(random_string(2, "abc") for _ in range(18_000))
    assert set(drawn) == {a + b for a in "abc" for b in "abc"}
    # 2,000 expected each; the binomial's spread is about 42: seven of them either way.
    assert all(1_700 < count < 2_300 for count in drawn.values()), drawn


def test_each_position_takes_every_character():
    keys = [random_string(32, VALID_KEY_CHARS) for _ in range(2_000)]
    for position in (0, 15, 31):
        assert set(key[position] for key in keys) == set(VALID_KEY_CHARS)


def test_a_session_key_and_a_receipt_read_the_system_s_randomness_a_few_times_not_32(
    monkeypatch,
):
    reads = record_calls(monkeypatch, random.SystemRandom, "getrandbits")
    keys = {SessionStore()._get_new_session_key() for _ in range(100)}
    receipts = {new_receipt() for _ in range(100)}
    assert len(keys) == 100 and len(receipts) == 100
    assert all(len(key) == 32 and set(key) <= set(VALID_KEY_CHARS) for key in keys)
    assert all(len(r) == RECEIPT_LENGTH and set(r) <= set(RECEIPT_ALPHABET) for r in receipts)
    # secrets.choice() read it once a character: 3,200 and 1,200 reads.
    assert len(reads) < 600, len(reads)


@pytest.mark.parametrize("length", [1, 12, 40])
def test_the_string_has_its_length_whatever_the_draw(length, monkeypatch):
    monkeypatch.setattr("secrets.randbelow", lambda n: 0)  # the smallest number: all "2"s
    assert random_string(length, RECEIPT_ALPHABET) == "2" * length


def test_a_pages_csrf_token_is_masked_from_one_read_and_still_accepted(client, poll, monkeypatch):
    from django.middleware import csrf

    from zibo_vote import tokens

    from .conftest import text

    reads = record_calls(monkeypatch, random.SystemRandom, "getrandbits")
    drawn = record_calls(monkeypatch, tokens, "random_string")
    client = type(client)(enforce_csrf_checks=True)
    masked = set()
    for _ in range(20):  # a new mask on every page (BREACH), over one secret in the cookie
        page = text(client.get("/verify/"))
        masked.add(page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0])
    assert len(masked) == 20
    assert all(len(token) == csrf.CSRF_TOKEN_LENGTH for token in masked)
    # The cookie's secret and the twenty masks, each one draw; Django drew each with
    # secrets.choice(), one read a character: 32 a string.
    assert drawn == [(csrf.CSRF_SECRET_LENGTH, csrf.CSRF_ALLOWED_CHARS)] * 21
    assert len(reads) < 21 * 3, len(reads)
    response = client.post(
        "/verify/", {"phone": "13812345678", "csrfmiddlewaretoken": masked.pop()}
    )
    assert response.status_code == 302  # the mask undone by Django's own check
    refused = client.post("/verify/", {"phone": "13812345678", "csrfmiddlewaretoken": "x" * 64})
    assert refused.status_code == 403


def test_a_new_csrf_secret_and_a_rotated_one_come_from_the_one_draw(rf, monkeypatch):
    from django.middleware import csrf

    monkeypatch.setattr("secrets.randbelow", lambda n: 0)  # the smallest number: all "a"s
    request = rf.get("/")
    csrf.get_token(request)
    assert request.META["CSRF_COOKIE"] == csrf.CSRF_ALLOWED_CHARS[0] * csrf.CSRF_SECRET_LENGTH
    request.META["CSRF_COOKIE"] = "b" * csrf.CSRF_SECRET_LENGTH
    csrf.rotate_token(request)  # at login
    assert request.META["CSRF_COOKIE"] == csrf.CSRF_ALLOWED_CHARS[0] * csrf.CSRF_SECRET_LENGTH
