"""/healthz: 200 only when the site's tables answer, 503 saying which part failed otherwise."""

import pytest
from django.db import connection
from django.test import Client, override_settings

from .servers import base_env, fetch, gunicorn

pytestmark = pytest.mark.django_db


def health():
    response = Client().get("/healthz")
    return response.status_code, response.content.decode()


def test_the_tables_answer_and_the_cache_too(poll, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):  # one query, whatever the number of ballots
        status, body = health()
    assert status == 200
    assert body == "ok\ndatabase: ok\ncache: ok\n"


@pytest.mark.parametrize("table", ["reforms_reform", "ballots_ballot", "django_session"])
def test_a_missing_table_is_a_503_that_names_the_database(poll, table):
    with connection.cursor() as cursor:
        # Undone with the test's transaction, on SQLite and on PostgreSQL alike.
        cursor.execute(f"ALTER TABLE {table} RENAME TO moved_away")
    status, body = health()
    assert status == 503
    assert body.startswith("unavailable\ndatabase: tables missing or unreadable (")
    assert table in body


def test_the_cache_down_is_reported_but_the_site_stays_in_the_pool(poll, settings):
    from zibo_vote.settings import redis_cache

    with override_settings(
        CACHES={**settings.CACHES, "shared": redis_cache("redis://127.0.0.1:1/0", False)}
    ):
        status, body = health()
    assert status == 200
    assert "database: ok\ncache: unavailable" in body


def test_the_health_check_is_never_cached(poll):
    response = Client().get("/healthz")
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert Client().head("/healthz").status_code == 200


@pytest.mark.servers
def test_an_empty_database_is_a_503_under_gunicorn(tmp_path):
    """The SQLite file moved away: SQLite opens a new empty one; every page would be a 500."""
    env = base_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'moved.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_CACHE_DIR=str(tmp_path / "cache"),
    )
    with gunicorn(env, tmp_path / "gunicorn.log", healthy=False) as site:
        status, _, body = fetch(f"{site}/healthz")
        assert status == 503
        assert b"tables missing or unreadable (no such table: reforms_reform)" in body
        status, _, body = fetch(f"{site}/")
        assert status == 500 and "服务暂时不可用" in body.decode()
