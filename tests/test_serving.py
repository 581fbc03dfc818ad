"""`make run`'s path end to end: production settings (DEBUG off), collected static files, gunicorn.

The unit tests render with plain static storage; this one proves the hashed, compressed files
that whitenoise serves under gunicorn, the way a newcomer's `make run` does.
"""

import gzip
import http.client
import re
import urllib.parse

import pytest

from .conftest import TITLES
from .servers import base_env, fetch, gunicorn, manage

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
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
    return env, tmp_path


@pytest.fixture(scope="module")
def site(site_env):
    env, tmp_path = site_env
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


def test_gunicorn_alone_compresses_the_pages_and_serves_the_icon(site):
    status, headers, body = fetch(f"{site}/verify/", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    page = gzip.decompress(body).decode("utf-8")
    assert 'name="csrfmiddlewaretoken"' in page and len(body) < len(page.encode()) * 0.7
    assert '<link rel="icon" href="/favicon.ico"' in page
    status, headers, body = fetch(f"{site}/favicon.ico")
    assert status == 200 and body[:4] == b"\x00\x00\x01\x00" and len(body) < 2000
    assert headers["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")


def test_home_page_weighs_under_60_kb_with_everything_it_loads(site):
    from bench.page_weight import page_weight

    resources = page_weight(f"{site}/")
    assert len(resources) >= 3  # the page, its icon and its stylesheet
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


def scheme_seen(base, **headers):
    """With DJANGO_HTTPS=1: "https" if the site took the request for HTTPS, else "http"."""
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=10)
    try:
        connection.request("GET", "/", headers=headers)
        status = connection.getresponse().status
    finally:
        connection.close()
    return {200: "https", 301: "http"}[status]  # HTTP is redirected to HTTPS


CLAIMS = [
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
]


@pytest.mark.parametrize(
    ("settings", "believed"),
    [
        # Not behind a TLS proxy: no header makes a plain request HTTPS, even from loopback.
        ({}, []),
        # Behind one, on loopback: X-Forwarded-Proto, the one header nginx overwrites.
        ({"DJANGO_BEHIND_TLS_PROXY": "1"}, [0]),
        # Behind one elsewhere: a request from loopback is not from the proxy.
        ({"DJANGO_BEHIND_TLS_PROXY": "1", "DJANGO_TRUSTED_PROXIES": "10.9.9.9, 10.8.0.0/16"}, []),
    ],
)
def test_gunicorn_believes_the_scheme_only_from_a_trusted_tls_proxy(
    site_env, tmp_path, settings, believed
):
    env, _ = site_env
    env = {**env, "DJANGO_HTTPS": "1", "WEB_CONCURRENCY": "1", **settings}
    with gunicorn(env, tmp_path / "gunicorn.log") as base:
        assert scheme_seen(base) == "http"
        seen = [scheme_seen(base, **claim) for claim in CLAIMS]
        assert seen == ["https" if index in believed else "http" for index in range(len(CLAIMS))]


def test_a_script_name_header_from_a_client_is_ignored(site):
    status, _, body = fetch(f"{site}/", SCRIPT_NAME="/evil")
    assert status == 200
    html = body.decode("utf-8")
    assert "/evil" not in html and 'href="/reforms/3/"' in html


def test_gunicorn_says_the_address_and_logs_in_beijing_time(site_env):
    """`make run` prints the URL to open, and the master's lines and the workers' carry the same
    time zone (+0800), so one log reads in one order."""
    env, tmp_path = site_env
    log_path = tmp_path / "gunicorn-address.log"
    with gunicorn(env, log_path) as base:
        fetch(f"{base}/healthz", Host="127.0.0.1")
    log = log_path.read_text()
    assert f"Serving the site on {base}/" in log
    zones = set(re.findall(r"^\[[^\]]* ([+-]\d{4})\] \[\d+\]", log, re.MULTILINE))
    assert zones == {"+0800"}, log
    # The master's and a worker's own lines both (Listening at / Booting worker).
    assert "Listening at" in log and "Booting worker" in log
