"""deploy/nginx as written, in front of gunicorn with the production settings, over TLS.

The site file is used as shipped, with only its addresses changed (ports on loopback, the test
certificate, the test's gunicorn as the one upstream). Needs nginx (Debian's nginx-light;
`.ci/run` installs it); elsewhere it skips, saying why.
"""

import gzip
import http.client
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import time
import urllib.parse

import pytest
from django.conf import settings

from .servers import base_env, free_port, gunicorn, manage

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = settings.BASE_DIR / "deploy" / "nginx"
HOST = "vote.example.gov.cn"

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        not os.path.exists(NGINX), reason="needs nginx (apt-get install nginx-light)"
    ),
]


def site_config(tmp, https_port, http_port, upstream_port):
    text = (DEPLOY / "zibo-vote.conf").read_text(encoding="utf-8")
    text = re.sub(r"\n\s*server 10\.0\.0\.12:8000[^\n]*", "", text)
    text = text.replace("server 10.0.0.11:8000", f"server 127.0.0.1:{upstream_port}")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = re.sub(r"\n\s*listen \[::\]:[^\n]*", "", text)
    text = text.replace("/etc/ssl/zibo-vote/", f"{tmp}/")
    text = text.replace("/etc/nginx/snippets/", f"{tmp}/")
    assert "10.0.0." not in text and "/etc/ssl" not in text
    return text


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nginx")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={HOST}", "-keyout", str(tmp / "privkey.pem"),
         "-out", str(tmp / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    shutil.copy(DEPLOY / "zibo-vote-proxy.conf", tmp / "zibo-vote-proxy.conf")
    env = base_env(
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        DJANGO_CACHE_DIR=str(tmp / "cache"),
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_HTTPS="1",
        DJANGO_BEHIND_TLS_PROXY="1",
        DJANGO_CLIENT_IP_HEADER="X-Real-IP",
        DJANGO_TRUSTED_PROXIES="127.0.0.1",
        DJANGO_GZIP="0",  # as in deploy/zibo-vote.env.example: nginx compresses
        SMS_BACKEND="file",
        SMS_FILE=str(tmp / "sms.jsonl"),
    )
    for command in (
        ["migrate", "--noinput"],
        ["load_initial_data"],
        ["collectstatic", "--noinput"],
    ):
        manage(env, *command)
    with gunicorn(env, tmp / "gunicorn.log") as app:
        https_port, http_port = free_port(), free_port()
        (tmp / "site.conf").write_text(
            site_config(tmp, https_port, http_port, urllib.parse.urlsplit(app).port)
        )
        (tmp / "nginx.conf").write_text(
            f"user root;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log;\nevents {{}}\n"
            f"http {{\n include /etc/nginx/mime.types;\n access_log {tmp}/access.log;\n"
            f" client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;\n"
            f" include {tmp}/site.conf;\n}}\n"
        )
        check = subprocess.run([NGINX, "-t", "-c", str(tmp / "nginx.conf")],
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen(
            [NGINX, "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.5)
            yield {"https": https_port, "http": http_port, "db": tmp / "db.sqlite3",
                   "sms": tmp / "sms.jsonl"}  # fmt: skip
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


class Visitor:
    """A browser talking HTTPS to nginx (the test certificate is self-signed)."""

    def __init__(self, port, **headers):
        self.port, self.headers, self.cookies = port, headers, {}

    def request(self, method, path, form=None):
        context = ssl._create_unverified_context()  # noqa: S323 - the test's own certificate
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context)
        headers = {"Host": HOST, **self.headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"https://{HOST}{path}"  # as a browser sends over HTTPS
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name] = rest.split(";", 1)[0]
            page = response.read().decode("utf-8")
            return response.status, dict(response.getheaders()), page
        finally:
            connection.close()

    def post_form(self, path, data):
        _, _, page = self.request("GET", path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request("POST", path, {**data, "csrfmiddlewaretoken": token})


def test_plain_http_is_sent_to_https(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack["http"])
    try:
        connection.request("GET", "/reforms/3/", headers={"Host": HOST})
        response = connection.getresponse()
        assert response.status == 301
        assert response.getheader("Location") == f"https://{HOST}/reforms/3/"
    finally:
        connection.close()


def test_pages_over_tls_carry_hsts_and_the_policy(stack):
    status, headers, page = Visitor(stack["https"]).request("GET", "/")
    assert status == 200 and "张店区“四位一体”创新推进社会治理" in page
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]+\.css)"', page).group(1)
    status, headers, _ = Visitor(stack["https"]).request("GET", stylesheet)
    assert status == 200 and "max-age=315360000" in headers["Cache-Control"]


def test_a_vote_through_nginx_records_the_real_address_not_a_claimed_one(stack):
    citizen = Visitor(stack["https"], **{"X-Real-IP": "203.0.113.5",
                                         "X-Forwarded-For": "203.0.113.5"})  # fmt: skip
    status, headers, page = citizen.post_form("/verify/", {"phone": "13812345678"})
    assert status == 302 and headers["Location"] == "/verify/?next=/vote/", page
    code = re.findall(r'"code": "(\d{6})"', stack["sms"].read_text(encoding="utf-8"))[-1]
    status, headers, _ = citizen.request(
        "POST", "/verify/", {"code": code, "csrfmiddlewaretoken": citizen.cookies["csrftoken"]}
    )
    assert status == 302 and headers["Location"] == "/vote/"
    assert "Secure" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    status, headers, _ = citizen.post_form("/vote/", {"choices": "3", "confirm": "1"})
    assert status == 302 and headers["Location"] == "/vote/done/"
    with sqlite3.connect(stack["db"]) as database:
        [(network,)] = database.execute("SELECT network FROM ballots_ballot").fetchall()
    assert network == "127.0.0.0/24"  # nginx wrote the address it saw; the client's claim is gone


def test_a_flood_of_form_posts_is_stopped_at_the_edge_in_chinese(stack):
    visitor = Visitor(stack["https"])
    statuses = [visitor.request("GET", "/verify/")[:3:2] for _ in range(40)]
    refused = [page for status, page in statuses if status == 429]
    assert refused, "nginx's limit on /verify/ never applied"
    assert "操作过于频繁" in refused[0]


@pytest.mark.parametrize("path", ["/", "/verify/", "/reforms/3/", "/en/results/"])
def test_nginx_compresses_the_pages_csrf_token_and_all(stack, path):
    context = ssl._create_unverified_context()  # noqa: S323 - the test's own certificate
    for _ in range(10):  # /verify/'s edge limit may still hold the flood test's requests
        connection = http.client.HTTPSConnection("127.0.0.1", stack["https"], context=context)
        try:
            connection.request("GET", path, headers={"Host": HOST, "Accept-Encoding": "gzip"})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 429:
            break
        time.sleep(0.5)
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in response.getheader("Vary")
    page = gzip.decompress(body).decode("utf-8")
    assert "</html>" in page and len(body) < len(page.encode("utf-8")) * 0.7
    if path == "/verify/":
        assert 'name="csrfmiddlewaretoken"' in page
