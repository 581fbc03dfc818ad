import io
import os
import re

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from ballots.models import Poll
from verification import limits, sms
from verification.identity import phone_hash
from zibo_vote import page_cache

IN_CI = os.environ.get("CI") == "true"


def pytest_report_header(config):
    return f"database: {connection.vendor} ({connection.settings_dict['NAME']})"


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are deselected on SQLite, never skipped.

    They prove what only PostgreSQL can show; `.ci/run` runs the suite a second time on
    PostgreSQL, where every one of them runs.
    """
    if connection.vendor == "postgresql":
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


def pytest_sessionfinish(session, exitstatus):
    # In CI nothing may quietly not run: a skip there is a failure.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("CI=true: skipped tests are not allowed here.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _fresh_cache_and_outbox():
    # Rate-limit counters and resend waits live in the cache; each test starts with none.
    cache.clear()
    page_cache.local.clear()  # this worker's own copies of public pages, too
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def poll(db):
    """The fifteen entries and the poll, exactly as a fresh deploy loads them."""
    call_command("load_initial_data", stdout=io.StringIO())
    return Poll.objects.get(slug="reform-experiences")


def last_code(phone):
    """The code in the newest SMS sent to this phone (the locmem backend's outbox)."""
    for message in reversed(sms.outbox):
        if message["phone"] == phone:
            assert re.fullmatch(r"\d{6}", message["code"])
            assert message["code"] in message["text"]
            return message["code"]
    raise AssertionError(f"no SMS was sent to {phone}")


def verify(client, phone="13812345678"):
    """The real flow: ask for a code, read it from the SMS, enter it."""
    response = client.post("/verify/", {"phone": phone})
    assert response.status_code == 200, response.content.decode()
    response = client.post("/verify/", {"code": last_code(phone)})
    assert response.status_code == 302, response.content.decode()
    return response


def resend_wait_passes(phone):
    """The 60 seconds before another code may go to this number have passed."""
    limits.end_resend_wait(phone_hash(phone))


@pytest.fixture
def citizen(client, poll):
    """A client whose session has verified 138 1234 5678."""
    verify(client)
    return client


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets a fixture see, at teardown, whether its test failed (the browser tests then keep
    # their screenshots).
    report = yield
    if report.when == "call":
        item.report_call = report
    return report
