"""Real gunicorn servers for the tests that need them, and a small HTTP client with cookies."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager

from django.conf import settings

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


def manage(env, *command):
    subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


def base_env(**values):
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "zibo_vote.settings",
        "DJANGO_SECRET_KEY": "server-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "CITIZEN_HASH_KEY": settings.CITIZEN_HASH_KEY,
        **values,
    }


@contextmanager
def gunicorn(env, log_path, healthy=True):
    """gunicorn with gunicorn.conf.py on a free port; yields its base URL once /healthz says 200
    (with healthy=False, once it answers at all)."""
    port = free_port()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [os.path.join(BIN, "gunicorn"), "--config", "gunicorn.conf.py", "zibo_vote.wsgi"],
            cwd=settings.BASE_DIR,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    # The health check carries the site's own host name, as a load balancer's probe must.
    host = (env.get("DJANGO_ALLOWED_HOSTS") or "127.0.0.1").split(",")[0]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if fetch(f"{base}/healthz", Host=host)[0] in ((200,) if healthy else (200, 503)):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not come up:\n" + log_path.read_text())
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies and CSRF tokens like a browser, over plain HTTP; redirects are not followed."""

    def __init__(self, **headers):
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects
        )
        self.headers = headers

    def request(self, url, data=None):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, headers=self.headers)
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, response.read().decode("utf-8"), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8"), error.headers

    def get(self, url):
        return self.request(url)

    def post(self, url, data):
        """GET the page for its CSRF token, then POST the form to it.

        A page without the form (e.g. "您已投票") has no token; the CSRF cookie's own value is
        then sent, as a script resubmitting an old form would.
        """
        _, page, _ = self.get(url)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        token = found.group(1) if found else self.cookie("csrftoken") or ""
        return self.request(url, {**data, "csrfmiddlewaretoken": token})

    def cookie(self, name):
        return next((c.value for c in self.cookies if c.name == name), None)

    def share_session_with(self, other):
        for cookie in other.cookies:
            self.cookies.set_cookie(cookie)


def code_sent_to(sms_file, phone):
    for line in reversed(sms_file.read_text(encoding="utf-8").splitlines()):
        message = json.loads(line)
        if message["phone"] == phone:
            return message["code"]
    raise AssertionError(f"no SMS to {phone} in {sms_file}")


@contextmanager
def own_redis(tmp_path):
    """A Redis server of the test's own, with the site's caches on it; yields its process.

    The shared Redis of the other tests is never touched (and the SQLite run, which has none,
    meets Redis here too)."""
    from django.test import override_settings

    from zibo_vote.settings import redis_cache

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    caches = {
        **settings.CACHES,
        "default": redis_cache(url),
        "shared": redis_cache(url, ignore_exceptions=False),
        "limits": redis_cache(url, ignore_exceptions=False),
    }
    try:
        with override_settings(CACHES=caches):
            from django.core.cache import caches as handler

            deadline = time.monotonic() + 10
            while True:
                try:
                    handler["shared"].set("up", 1)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield server
    finally:
        server.terminate()
        server.wait(timeout=10)
