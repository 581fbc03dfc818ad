"""`make run`'s path end to end: production settings (DEBUG off), collected static files, gunicorn.

The unit tests render with plain static storage; this one proves the hashed, compressed files
that whitenoise serves under gunicorn, the way a newcomer's `make run` does.
"""

import re

import pytest

from .conftest import TITLES
from .servers import base_env, fetch, gunicorn, manage

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("site")
    env = base_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_CACHE_DIR=str(tmp_path / "cache"),
    )
    for command in (
        ["migrate", "--noinput"],
        ["load_initial_data"],
        ["collectstatic", "--noinput"],
    ):
        manage(env, *command)
    with gunicorn(env, tmp_path / "gunicorn.log") as base:
        yield base


def test_gunicorn_serves_the_entries_and_hashed_static_files(site):
    status, headers, body = fetch(f"{site}/")
    html = body.decode("utf-8")
    assert status == 200
    assert all(title in html for title in TITLES.values())

    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', html)
    assert stylesheet, "the page must link the hashed stylesheet"
    status, headers, body = fetch(site + stylesheet.group(1), **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert "max-age=315360000" in headers["Cache-Control"]


def test_home_page_weighs_under_60_kb_with_everything_it_loads(site):
    from bench.page_weight import page_weight

    resources = page_weight(f"{site}/")
    assert len(resources) >= 2  # the page and its stylesheet
    assert all(url.startswith(site) for url, _, _ in resources)  # nothing from other sites
    assert sum(size for _, size, _ in resources) < 60_000


def test_gunicorn_serves_entry_pages_404s_and_health(site):
    status, _, body = fetch(f"{site}/reforms/3/")
    assert status == 200
    assert "科学划分为919个网格" in body.decode("utf-8")

    status, _, body = fetch(f"{site}/reforms/16/")
    assert status == 404
    assert "页面不存在" in body.decode("utf-8")

    assert fetch(f"{site}/healthz")[:1] == (200,)
