"""Settings come from the environment and refuse what they cannot use.

Each case starts a fresh interpreter, because settings are read once, at import.
"""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

BASE_ENV = {
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "zibo_vote.settings",
    # Not this clone's var/, where `make run` may have left keys (see test_local_keys_*).
    "DJANGO_LOCAL_KEYS_DIR": "/nonexistent/zibo-vote-keys",
}
SECRET = {
    "DJANGO_SECRET_KEY": "a-long-enough-secret-key-for-these-tests-only-0123456789",
    "CITIZEN_HASH_KEY": "a-long-enough-citizen-hash-key-for-these-tests-only-0123",
}


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_settings(*names, **env):
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"values = {{n: getattr(settings, n, None) for n in {list(names)!r}}}; "
        "print(json.dumps(values, default=str))"
    )
    result = run_python(code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = run_python("import django; django.setup()")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_asked_for():
    assert read_settings("DEBUG", **SECRET) == {"DEBUG": False}
    assert read_settings("DEBUG", DJANGO_DEBUG="1") == {"DEBUG": True}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be 1 or 0"),
        ({"DATABASE_URL": "nosuchdb://x/y"}, "DATABASE_URL is not a database URL"),
        ({"RATE_SEND_PER_PHONE": "abc"}, "RATE_SEND_PER_PHONE must be a rate such as 5/h"),
        ({"SMS_BACKEND": "pigeon"}, "SMS_BACKEND must be console, file, locmem, aliyun or"),
        ({"DJANGO_SESSION_ENGINE": "files"}, "DJANGO_SESSION_ENGINE must be one of"),
        ({"DJANGO_CLIENT_IP_HEADER": "X Real IP"}, "DJANGO_CLIENT_IP_HEADER must be a header"),
        ({"DJANGO_ADMIN_PATH": "/admin"}, "DJANGO_ADMIN_PATH must look like"),
        ({"PERSONAL_DATA_RETENTION_DAYS": "a month"}, "PERSONAL_DATA_RETENTION_DAYS must be a"),
        ({"SITE_CONTACT_EMAIL": "ggb at zibo"}, "SITE_CONTACT_EMAIL must be an e-mail address"),
        ({"SITE_PUBLIC_SECURITY_RECORD": "鲁公网安备"}, "SITE_PUBLIC_SECURITY_RECORD must hold"),
    ],
)
def test_refuses_a_value_it_cannot_read(env, message):
    result = run_python("import django; django.setup()", **SECRET, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_language_and_time_are_chinese_and_beijing():
    values = read_settings("LANGUAGE_CODE", "TIME_ZONE", "USE_TZ", **SECRET)
    assert values == {"LANGUAGE_CODE": "zh-hans", "TIME_ZONE": "Asia/Shanghai", "USE_TZ": True}


def test_allowed_hosts_from_the_environment():
    values = read_settings("ALLOWED_HOSTS", DJANGO_ALLOWED_HOSTS="vote.zibo.gov.cn, x.cn", **SECRET)
    assert values["ALLOWED_HOSTS"] == ["vote.zibo.gov.cn", "x.cn"]


def test_https_turns_on_secure_cookies_redirect_and_hsts():
    names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT"]
    plain = read_settings(*names, "SECURE_HSTS_SECONDS", **SECRET)
    assert plain == dict.fromkeys(names, False) | {"SECURE_HSTS_SECONDS": 0}
    tls = read_settings(*names, "SECURE_HSTS_SECONDS", DJANGO_HTTPS="1", **SECRET)
    assert tls == dict.fromkeys(names, True) | {"SECURE_HSTS_SECONDS": 31_536_000}


def test_postgresql_url_gets_persistent_checked_connections():
    values = read_settings(
        "DATABASES", DATABASE_URL="postgres://postgres@127.0.0.1:5432/zibo", **SECRET
    )
    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "zibo"
    assert database["CONN_MAX_AGE"] > 0
    assert database["CONN_HEALTH_CHECKS"] is True


def test_sqlite_default_writes_in_wal_mode_with_immediate_transactions(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; "
        "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode'); "
        "print(cursor.fetchone()[0], connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    result = run_python(code, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **SECRET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "IMMEDIATE"]


def test_sqlite_default_lives_under_var():
    database = read_settings("DATABASES", **SECRET)["DATABASES"]["default"]
    assert database["NAME"] == str(settings.BASE_DIR / "var" / "db.sqlite3")


def test_health_check_answers_503_when_the_database_does_not(tmp_path):
    code = (
        "import django; django.setup(); "
        "from django.test.utils import setup_test_environment; setup_test_environment(); "
        "from django.test import Client; response = Client().get('/healthz'); "
        "print(response.status_code)"
    )
    unreachable = f"sqlite:///{tmp_path / 'no-such-directory' / 'db.sqlite3'}"
    result = run_python(code, DATABASE_URL=unreachable, **SECRET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "503"
    assert "Health check failed: database: unreachable" in result.stderr


def test_refuses_to_start_without_a_citizen_hash_key_when_debug_is_off():
    env = {"DJANGO_SECRET_KEY": SECRET["DJANGO_SECRET_KEY"]}
    result = run_python("import django; django.setup()", **env)
    assert result.returncode != 0
    assert "CITIZEN_HASH_KEY must be set" in result.stderr
    result = run_python("import django; django.setup()", CITIZEN_HASH_KEY="short", **env)
    assert "CITIZEN_HASH_KEY must be set" in result.stderr


def test_refuses_the_templates_placeholders():
    for name in ("DJANGO_SECRET_KEY", "CITIZEN_HASH_KEY"):
        env = {**SECRET, name: "change-me-to-a-random-50-character-value"}
        result = run_python("import django; django.setup()", **env)
        assert result.returncode != 0
        assert f"{name} is still the template's placeholder" in result.stderr


def test_aliyun_backend_needs_its_keys():
    result = run_python(
        "import django; django.setup()",
        SMS_BACKEND="aliyun",
        ALIYUN_SMS_SIGN_NAME="淄博改革评选",
        **SECRET,
    )
    assert result.returncode != 0
    assert "ALIYUN_SMS_ACCESS_KEY_ID" in result.stderr
    assert "ALIYUN_SMS_SIGN_NAME" not in result.stderr


def test_sms_defaults_to_the_console_and_deploy_check_warns_about_it():
    assert read_settings("SMS_BACKEND", **SECRET) == {"SMS_BACKEND": "console"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=settings.BASE_DIR,
        env={**BASE_ENV, **SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "verification.W001" in result.stderr + result.stdout


def test_deploy_check_fails_on_an_sms_backend_that_does_not_import():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=settings.BASE_DIR,
        env={**BASE_ENV, **SECRET, "SMS_BACKEND": "gateway.typo.Backend"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "verification.E001" in result.stderr
    assert "gateway.typo.Backend" in result.stderr


def test_rate_settings_keep_their_names_and_accept_any_rate():
    limits = read_settings(
        "RATE_LIMITS",
        RATE_UNVERIFIED_SENDS_PER_IP="50/2h",
        RATE_CHECK_PER_PHONE="7/h",  # the former name of RATE_CHECK_PER_SESSION
        RATE_SEND_PER_IP="2000/d",
        **SECRET,
    )["RATE_LIMITS"]
    assert limits["unverified_sends_per_ip"] == "50/2h"
    assert limits["check_per_session"] == "7/h"
    assert limits["send_per_ip"] == "2000/d"
    assert (
        read_settings("RATE_LIMITS", RATE_UNVERIFIED_SENDS_PER_IP="30", **SECRET)["RATE_LIMITS"][
            "unverified_sends_per_ip"
        ]
        == 30
    )
    session = read_settings("RATE_LIMITS", RATE_CHECK_PER_SESSION="9/h", **SECRET)
    assert session["RATE_LIMITS"]["check_per_session"] == "9/h"


@pytest.mark.parametrize(
    ("name", "value"),
    [("RATE_SEND_PER_IP", "5/0h"), ("RATE_UNVERIFIED_SENDS_PER_IP", "many"),
     ("RATE_UNVERIFIED_SENDS_PER_IP", "0"), ("RATE_CHECK_PER_PHONE", "x")],
)  # fmt: skip
def test_refuses_a_rate_django_ratelimit_could_not_use(name, value):
    result = run_python("import django; django.setup()", **SECRET, **{name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_the_office_and_the_retention_come_from_the_environment():
    names = ["PERSONAL_DATA_RETENTION_DAYS", "SITE_CONTACT_PHONE", "SITE_ICP_RECORD"]
    assert read_settings(*names, **SECRET) == {
        "PERSONAL_DATA_RETENTION_DAYS": 30, "SITE_CONTACT_PHONE": "", "SITE_ICP_RECORD": ""
    }  # fmt: skip
    values = read_settings(
        *names,
        PERSONAL_DATA_RETENTION_DAYS="90",
        SITE_CONTACT_PHONE="0533-3181234",
        SITE_ICP_RECORD="鲁ICP备05012345号",
        **SECRET,
    )
    assert values == {"PERSONAL_DATA_RETENTION_DAYS": 90, "SITE_CONTACT_PHONE": "0533-3181234",
                      "SITE_ICP_RECORD": "鲁ICP备05012345号"}  # fmt: skip


def write_local_keys(directory):
    directory.mkdir(exist_ok=True)
    (directory / "secret_key").write_text("local-secret-key-from-var-0123456789-abcdefghijklmn\n")
    (directory / "citizen_hash_key").write_text("local-citizen-hash-key-from-var-0123456789-abc\n")
    (directory / "record_signing_key").write_text(
        subprocess.run(
            [sys.executable, "-m", "record.signing", "generate"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return directory


def test_local_keys_come_from_var_when_unset_on_a_local_setup(tmp_path):
    keys = write_local_keys(tmp_path / "var")
    values = read_settings(
        "SECRET_KEY", "CITIZEN_HASH_KEY", "RECORD_SIGNING_KEY", DJANGO_LOCAL_KEYS_DIR=str(keys)
    )
    assert values["SECRET_KEY"] == "local-secret-key-from-var-0123456789-abcdefghijklmn"
    assert values["CITIZEN_HASH_KEY"] == "local-citizen-hash-key-from-var-0123456789-abc"
    assert values["RECORD_SIGNING_KEY"] == (keys / "record_signing_key").read_text().strip()
    # A variable that is set wins over the file.
    values = read_settings("SECRET_KEY", DJANGO_LOCAL_KEYS_DIR=str(keys), **SECRET)
    assert values["SECRET_KEY"] == SECRET["DJANGO_SECRET_KEY"]


def test_local_keys_are_never_read_by_a_deploy(tmp_path):
    """A server that names its host (every deploy does) refuses to start without the variables,
    whatever files an earlier `make run` left in var/."""
    keys = write_local_keys(tmp_path / "var")
    result = run_python(
        "import django; django.setup()",
        DJANGO_LOCAL_KEYS_DIR=str(keys),
        DJANGO_ALLOWED_HOSTS="vote.zibo.gov.cn",
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_the_readme_commands_work_after_make_run_with_nothing_exported(tmp_path):
    """After `make run` (keys in var/, the database migrated and loaded), the README's
    `manage.py createsuperuser` and `export_tally` work in another terminal with no variable set."""
    keys = write_local_keys(tmp_path / "var")
    env = {
        **BASE_ENV,
        "DJANGO_LOCAL_KEYS_DIR": str(keys),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_CACHE_DIR": str(tmp_path / "cache"),
        "SMS_FILE": str(tmp_path / "sms.jsonl"),
    }

    def manage(*command, **extra):
        return subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=settings.BASE_DIR,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=180,
        )

    for command in (["migrate", "--noinput"], ["load_initial_data"]):
        assert manage(*command).returncode == 0
    result = manage(
        "createsuperuser",
        "--noinput",
        DJANGO_SUPERUSER_USERNAME="office",
        DJANGO_SUPERUSER_EMAIL="office@example.gov.cn",
        DJANGO_SUPERUSER_PASSWORD="a-long-password-for-the-office-2026",
    )
    assert result.returncode == 0, result.stderr
    assert "ImproperlyConfigured" not in result.stderr
    result = manage("export_tally", "--poll", "reform-experiences")
    assert result.returncode == 0, result.stderr
    assert "名次" in result.stdout or "票数" in result.stdout


def test_an_sqlite_too_old_for_the_sites_statements_is_refused(monkeypatch):
    import sqlite3

    from verification.checks import check_sqlite_version, sqlite_too_old

    sqlite = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}}
    postgres = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}}
    assert check_sqlite_version(None) == []  # this machine's
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    assert [error.id for error in sqlite_too_old(sqlite)] == ["verification.E003"]
    assert sqlite_too_old(postgres) == []
