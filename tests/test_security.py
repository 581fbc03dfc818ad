"""Production settings: `check --deploy` clean, the headers every response carries, cookies."""

import os
import re
import secrets
import subprocess
import sys

import csp.middleware
import csp.utils
import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings

from record.signing import generate_signing_key
from zibo_vote.middleware import CSPMiddleware

pytestmark = pytest.mark.django_db

ENV_TEMPLATE = settings.BASE_DIR / "deploy" / "zibo-vote.env.example"


def production_env():
    """deploy/zibo-vote.env.example, with real secrets where it says change-me."""
    env = {}
    for line in ENV_TEMPLATE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name] = secrets.token_urlsafe(50) if value.startswith("change-me") else value
    env["RECORD_SIGNING_KEY"] = generate_signing_key()  # its own form: 32 bytes in base64
    return env


def test_check_deploy_is_clean_with_the_documented_production_environment():
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "zibo_vote.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={**env, **production_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def check_deploy(env):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "zibo_vote.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    "name", ["ALIYUN_SMS_ACCESS_KEY_ID", "ALIYUN_SMS_ACCESS_KEY_SECRET", "ALIYUN_SMS_SIGN_NAME"]
)
@pytest.mark.parametrize("placeholder", ["change-me", "Change-Me-please", "  "])
def test_check_deploy_refuses_the_gateways_placeholders(name, placeholder):
    returncode, output = check_deploy({**production_env(), name: placeholder})
    assert returncode != 0 and name in output
    # An empty value stops the start-up itself (verification.sms.check_setting).
    assert ("verification.E002" if placeholder.strip() else "SMS_BACKEND=aliyun needs") in output


def test_check_deploy_fails_on_development_settings():
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "zibo_vote.settings"}
    dev = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "CITIZEN_HASH_KEY": "k" * 40}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={**env, **dev},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "verification.W001"):
        assert warning in result.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "RECORD_SIGNING_KEY is not set"),
        ("change-me-to-the-output-of-record.signing-generate", "is not base64"),
        ("A" * 43 + "=", "is not a random key"),
        ("c2hvcnQ=", "decodes to 5 bytes"),
    ],
)
def test_check_deploy_refuses_a_missing_or_weak_record_signing_key(key, message):
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "zibo_vote.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={**env, **production_env(), "RECORD_SIGNING_KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "record.E001" in result.stderr and message in result.stderr


def directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize("path", ["/", "/reforms/3/", "/verify/", "/results/", "/admin/login/"])
def test_every_page_carries_the_security_headers(client, poll, path):
    response = client.get(path)
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_public_pages_have_no_inline_script_or_style(client, poll):
    for path in ["/", "/reforms/3/", "/verify/", "/results/", "/en/"]:
        html = client.get(path).content.decode()
        assert "<script" not in html
        assert not re.search(r"<style|\sstyle=", html), path


@override_settings(
    SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True, SECURE_SSL_REDIRECT=True,
    SECURE_HSTS_SECONDS=31_536_000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
)  # fmt: skip
def test_behind_tls_cookies_are_secure_and_hsts_lasts_a_year(poll):
    browser = Client()
    assert browser.get("/verify/").status_code == 301  # plain HTTP goes to HTTPS
    response = browser.post("/verify/", {"phone": "13812345678"}, secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    csrf = browser.get("/verify/", secure=True).cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    assert Client().get("/healthz").status_code == 200  # load balancers probe over HTTP


def test_a_forwarded_proto_header_is_ignored_unless_the_proxy_is_trusted(poll):
    with override_settings(SECURE_SSL_REDIRECT=True):
        spoofed = Client(HTTP_X_FORWARDED_PROTO="https").get("/")
        assert spoofed.status_code == 301
    trusted = {"SECURE_SSL_REDIRECT": True,
               "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}  # fmt: skip
    with override_settings(**trusted):
        assert Client(HTTP_X_FORWARDED_PROTO="https").get("/").status_code == 200


def test_the_policy_header_is_built_once_not_on_every_response(client, poll, monkeypatch):
    built = []
    real = csp.utils.build_policy

    def counted(*args, **kwargs):
        built.append(kwargs.get("report_only", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(csp.utils, "build_policy", counted)
    monkeypatch.setattr(csp.middleware, "build_policy", counted)
    CSPMiddleware._kept.clear()
    headers = {
        client.get(path)["Content-Security-Policy"] for path in ["/verify/", "/", "/verify/"]
    }
    assert headers == {real()}
    assert sorted(built) == [False, True]  # the policy and the (empty) report-only one, once


def test_a_response_with_its_own_policy_still_gets_it():
    def view_with(**attrs):
        response = HttpResponse("ok")
        for name, value in attrs.items():
            setattr(response, name, value)
        return CSPMiddleware(lambda request: response)(RequestFactory().get("/"))

    extra = view_with(_csp_update={"img-src": ["https://map.example.org"]})
    assert "https://map.example.org" in extra["Content-Security-Policy"]
    assert "Content-Security-Policy" not in view_with(_csp_exempt=True)
    plain = view_with()
    assert plain["Content-Security-Policy"] == csp.utils.build_policy()
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": ["'none'"]}}):
        assert view_with()["Content-Security-Policy"] == "default-src 'none'"
