"""`make run`'s path end to end: production settings (DEBUG off), collected static files, gunicorn.

The unit tests render with plain static storage; this one proves the hashed, compressed files
that whitenoise serves under gunicorn, the way a newcomer's `make run` does.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from .test_fixture import TITLES

BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("site")
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "zibo_vote.settings",
        "DJANGO_SECRET_KEY": "serving-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "CITIZEN_HASH_KEY": "serving-test-citizen-hash-key-0123456789-abcdefghijklmnopq",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_CACHE_DIR": str(tmp_path / "cache"),
        "PORT": str(port),
    }
    for command in (
        ["migrate", "--noinput"],
        ["load_initial_data"],
        ["collectstatic", "--noinput"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as log_file:
        server = subprocess.Popen(
            [os.path.join(BIN, "gunicorn"), "--config", "gunicorn.conf.py", "zibo_vote.wsgi"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if fetch(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("gunicorn did not come up:\n" + log.read_text())
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


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
