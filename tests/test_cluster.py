"""Two app servers, one PostgreSQL and one Redis: the rules hold across servers.

Two gunicorn instances on two ports share the test database and Redis, as two hosts behind
nginx would. A citizen verified on one cannot vote twice through the other; SMS sends are
counted together, whichever server takes them.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from ballots.models import Ballot

from .conftest import resend_wait_passes
from .servers import Browser, base_env, code_sent_to, gunicorn, manage

pytestmark = [
    pytest.mark.servers,
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
]

PHONE = "13812345678"


@pytest.fixture
def servers(poll, tmp_path):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: the servers must share a Redis")
    database = connection.settings_dict
    env = base_env(
        DATABASE_URL=(
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        REDIS_URL=os.environ["REDIS_URL"],
        SMS_BACKEND="file",
        SMS_FILE=str(tmp_path / "sms.jsonl"),
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        RATE_SEND_PER_PHONE="2/h",
        WEB_CONCURRENCY="1",
    )
    manage(env, "collectstatic", "--noinput")
    with (
        gunicorn(env, tmp_path / "a.log") as first,
        gunicorn(env, tmp_path / "b.log") as second,
    ):
        yield first, second, tmp_path / "sms.jsonl"


def verify(browser, base, sms_file, phone=PHONE):
    status, page, headers = browser.post(f"{base}/verify/", {"phone": phone})
    assert status == 302 and headers["Location"] == "/verify/?next=/vote/", page
    status, page, _ = browser.get(f"{base}{headers['Location']}")
    assert status == 200 and "验证码已发送至" in page, page
    status, _, headers = browser.post(f"{base}/verify/", {"code": code_sent_to(sms_file, phone)})
    assert status == 302 and headers["Location"] == "/vote/"


def test_verified_on_one_server_cannot_vote_twice_through_the_other(servers):
    a, b, sms_file = servers
    citizen = Browser()
    verify(citizen, a, sms_file)
    status, _, _ = citizen.post(f"{a}/vote/", {"choices": "3", "confirm": "1"})
    assert status == 302

    status, page, _ = citizen.post(f"{b}/vote/", {"choices": "5", "confirm": "1"})
    assert status == 409 and "您已投票" in page

    # The same phone verified afresh on the other server, in a new session: still one ballot.
    resend_wait_passes(PHONE)  # as if a minute had passed
    again = Browser()
    verify(again, b, sms_file)
    status, page, _ = again.post(f"{b}/vote/", {"choices": "5", "confirm": "1"})
    assert status == 409 and "您已投票" in page
    assert Ballot.objects.count() == 1


def test_simultaneous_ballots_through_both_servers_make_one(servers):
    a, b, sms_file = servers
    citizen = Browser()
    verify(citizen, a, sms_file)
    start = threading.Barrier(10)

    def vote(i):
        browser = Browser()
        browser.share_session_with(citizen)
        base = (a, b)[i % 2]
        _, page, _ = browser.get(f"{base}/vote/")  # the token first, then all at once
        token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        start.wait()
        status, _, _ = browser.request(
            f"{base}/vote/", {"choices": "3", "csrfmiddlewaretoken": token, "confirm": "1"}
        )
        return status

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(vote, range(10)))
    assert statuses == [302] + [409] * 9
    assert Ballot.objects.count() == 1


def test_sends_are_counted_together_across_servers(servers):
    a, b, sms_file = servers
    status, _, _ = Browser().post(f"{a}/verify/", {"phone": PHONE})
    assert status == 302  # sent: on to the code step
    # The 60-second wait follows the number to the other server.
    other = Browser()
    status, _, headers = other.post(f"{b}/verify/", {"phone": PHONE})
    assert status == 302  # to the phone step again, with a notice
    _, page, _ = other.get(f"{b}{headers['Location']}")
    assert "该号码刚刚获取过验证码" in page
    # Two codes an hour for one number (RATE_SEND_PER_PHONE=2/h here), whichever server asks.
    resend_wait_passes(PHONE)
    status, _, _ = Browser().post(f"{b}/verify/", {"phone": PHONE})
    assert status == 302
    resend_wait_passes(PHONE)
    status, page, _ = Browser().post(f"{a}/verify/", {"phone": PHONE})
    assert status == 429 and "操作过于频繁" in page
    assert len(sms_file.read_text(encoding="utf-8").splitlines()) == 2
