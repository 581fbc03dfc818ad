import io
import os

import pytest
from django.core.management import call_command
from django.db import connection

from ballots.models import Poll

IN_CI = os.environ.get("CI") == "true"


def pytest_report_header(config):
    return f"database: {connection.vendor} ({connection.settings_dict['NAME']})"


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are deselected on SQLite, never skipped.

    They prove the rules that only mean something under real concurrency; `.ci/run` runs the
    suite a second time on PostgreSQL, where every one of them runs.
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


@pytest.fixture
def poll(db):
    """The fifteen entries and the poll, exactly as a fresh deploy loads them."""
    call_command("load_initial_data", stdout=io.StringIO())
    return Poll.objects.get(slug="reform-experiences")
