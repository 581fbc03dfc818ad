"""Settings for zibo-vote, read from the environment.

The names an operator sets are listed in docs/operations.md ("Settings"). Each one is read
through a small helper below that refuses a value it does not understand, so a typo in a
deploy's environment file stops the server at start-up instead of quietly running with a default.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of a single-machine run: SQLite file, embedded cache, collected static files.
VAR_DIR = BASE_DIR / "var"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name, default=""):
    return os.environ.get(name, default).strip()


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), not {raw!r}.")


def env_int(name, default, minimum=0):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name, default):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- Core ------------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

# The keys `make run` generates into var/ (docs/operations.md, "Local keys"). A variable that is
# set always wins. When it is unset, the file is read only on a local setup: one that answers
# loopback names alone (DJANGO_ALLOWED_HOSTS unset; every deploy sets its host name there, as the
# environment template does). A production server with a key missing from its environment file
# still refuses to start, even if someone once ran `make run` in its clone.
LOCAL_KEYS_DIR = Path(env_str("DJANGO_LOCAL_KEYS_DIR") or VAR_DIR)
_LOCAL_SETUP = "DJANGO_ALLOWED_HOSTS" not in os.environ


def env_key(name, filename):
    value = env_str(name)
    if value or not _LOCAL_SETUP:
        return value
    try:
        return (LOCAL_KEYS_DIR / filename).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


SECRET_KEY = env_key("DJANGO_SECRET_KEY", "secret_key")
if SECRET_KEY.startswith("change-me") and not DEBUG:
    # The placeholder of deploy/zibo-vote.env.example, left in place.
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is still the template's placeholder.")
if not SECRET_KEY:
    if not DEBUG:
        # Never fall back to a key anyone can read in this repository: it signs sessions.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. `make run` generates one into var/secret_key; "
            "a production server reads it from its environment file (docs/operations.md)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-used-with-debug-off"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    # django.contrib.admin, on a site that refuses bad list filters and action ids for every
    # model admin (zibo_vote/admin_site.py).
    "zibo_vote.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so `runserver` serves static files the way gunicorn does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_ratelimit",
    "csp",
    "simple_history",
    # django-axes, under a Chinese name in the admin.
    "zibo_vote.apps.AxesConfig",
    "zibo_vote",
    "reforms",
    "verification",
    "ballots",
    "record",
]

MIDDLEWARE = [
    "zibo_vote.middleware.ClientAddressMiddleware",
    "zibo_vote.middleware.BadRequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After whitenoise, whose files are compressed already; off behind nginx (DJANGO_GZIP=0),
    # which compresses there (docs/operations.md, "Compression").
    *(["django.middleware.gzip.GZipMiddleware"] if env_bool("DJANGO_GZIP", True) else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "zibo_vote.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "zibo_vote.middleware.CSPMiddleware",
    # Records which staff member made each change in the entries' history (in admin).
    "zibo_vote.middleware.AdminHistoryMiddleware",
    # Turns django-ratelimit's Ratelimited into RATELIMIT_VIEW's Chinese 429 page.
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Last, as django-axes requires: locks the admin login after repeated failures.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "zibo_vote.urls"
WSGI_APPLICATION = "zibo_vote.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "zibo_vote.context_processors.site",
            ],
            # Django's {% url %}, {% extends %} and {% translate %}, keeping what is the same on
            # every request (zibo_vote/templatetags/kept.py and kept_i18n.py).
            "builtins": ["zibo_vote.templatetags.kept"],
            "libraries": {"i18n": "zibo_vote.templatetags.kept_i18n"},
        },
    },
]

# --- Database --------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        # Persistent connections: a new PostgreSQL connection costs more than a page render.
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 600),
        # ...and a connection the database dropped is replaced before a request uses it.
        conn_health_checks=True,
    )
except ValueError as error:
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a database URL Django knows: {error}"
    ) from None

if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["OPTIONS"] = {
        # Several gunicorn workers write to one file. WAL lets readers go on while one writes;
        # IMMEDIATE takes the write lock when a transaction starts, so two writers queue on the
        # busy timeout instead of failing half-way with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
elif _database["ENGINE"] == "django.db.backends.postgresql":
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].setdefault("application_name", "zibo-vote")
    # A database host that drops packets: each request (and the health check) gives up after
    # this, instead of the operating system's two minutes.
    _database["OPTIONS"].setdefault("connect_timeout", env_int("DJANGO_DB_CONNECT_TIMEOUT", 5, 1))

DATABASES = {"default": _database}
# The tables the health check reads one row of (zibo_vote/views.py, healthz): what a citizen's
# visit needs, from the entries to the session.
HEALTH_CHECK_MODELS = [
    "reforms.Reform",
    "ballots.Poll",
    "ballots.Ballot",
    "verification.VerificationCode",
    "sessions.Session",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The running counts every ballot adds to are split into this many rows per poll (and entry),
# summed on read: ballots cast at the same moment add to different rows instead of queueing on
# one (docs/voting.md). At least the number of ballots a city casts at once (app threads); more
# costs only a few rows more for the results page to add up. Changing it keeps the counts exact.
BALLOT_COUNT_SHARDS = env_int("BALLOT_COUNT_SHARDS", 32, minimum=1)

# --- Cache -----------------------------------------------------------------------------------
# One cache shared by every worker (and, with Redis, by every app server): rate limits count
# there, and a per-process cache would let each worker count on its own.

REDIS_URL = env_str("REDIS_URL")
# Redis on the private network answers in well under a millisecond; one that has not answered
# in this long is treated as down (zibo_vote/cache_breaker.py), and is then not asked for
# CACHE_BREAKER_SECONDS by that worker. A hung Redis thus costs one request per worker the
# timeout every few seconds, and every other request nothing.
REDIS_TIMEOUT_SECONDS = env_int("REDIS_TIMEOUT_MS", 200, minimum=10) / 1000
CACHE_BREAKER_SECONDS = env_int("DJANGO_CACHE_BREAKER_SECONDS", 5, minimum=1)


def redis_cache(url, ignore_exceptions=True):
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "zibo-vote",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_SECONDS,
            "SOCKET_TIMEOUT": REDIS_TIMEOUT_SECONDS,
            # For anything that asks the default cache directly (a cache-backed session
            # engine): Redis down must not become a 500, a call then returns nothing. The
            # aliases asked through the breaker raise instead (below).
            "IGNORE_EXCEPTIONS": ignore_exceptions,
        },
    }


DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
if REDIS_URL:
    _shared_cache = redis_cache(REDIS_URL)
    _raising_cache = redis_cache(REDIS_URL, ignore_exceptions=False)
else:
    _shared_cache = _raising_cache = {
        # SQLite-backed files under var/: needs no server, and its increments are atomic
        # across processes, which Django's file-based cache does not promise.
        "BACKEND": "diskcache.DjangoCache",
        "LOCATION": env_str("DJANGO_CACHE_DIR") or str(VAR_DIR / "cache"),
        "TIMEOUT": 300,
        "SHARDS": 4,
        "DATABASE_TIMEOUT": 1.0,
    }
CACHES = {
    "default": _shared_cache,
    # The same store, raising its errors, for those that decide for themselves what a missing
    # cache means, through zibo_vote.cache_breaker: the public page cache and the health check
    # ("shared"), the rate limits ("limits": verification.limits applies its table of what fails
    # open and what fails closed, docs/verification.md).
    "shared": _raising_cache,
    "limits": _raising_cache,
}

# --- Citizens, codes and rate limits --------------------------------------------------------

# The key of the HMAC that replaces phone and ID numbers at rest. Kept outside the database,
# the same on every app server, and never changed while a poll runs: a new key makes every
# citizen a stranger to the ballots already cast.
CITIZEN_HASH_KEY = env_key("CITIZEN_HASH_KEY", "citizen_hash_key")
if CITIZEN_HASH_KEY.startswith("change-me") and not DEBUG:
    raise ImproperlyConfigured("CITIZEN_HASH_KEY is still the template's placeholder.")
if len(CITIZEN_HASH_KEY) < 32:
    if not DEBUG:
        raise ImproperlyConfigured(
            "CITIZEN_HASH_KEY must be set to a random value of at least 32 characters. "
            "`make run` generates one into var/citizen_hash_key; production reads it from the "
            "environment file, identical on every app server (docs/operations.md)."
        )
    CITIZEN_HASH_KEY = "development-only-citizen-hash-key-never-used-with-debug-off"

SMS_BACKEND = env_str("SMS_BACKEND") or "console"  # a name in verification.sms, or a path
SMS_FILE = env_str("SMS_FILE") or str(VAR_DIR / "sms.jsonl")
ALIYUN_SMS = {
    "ACCESS_KEY_ID": env_str("ALIYUN_SMS_ACCESS_KEY_ID"),
    "ACCESS_KEY_SECRET": env_str("ALIYUN_SMS_ACCESS_KEY_SECRET"),
    "SIGN_NAME": env_str("ALIYUN_SMS_SIGN_NAME"),
    "TEMPLATE_CODE": env_str("ALIYUN_SMS_TEMPLATE_CODE"),
    "ENDPOINT": env_str("ALIYUN_SMS_ENDPOINT") or "dysmsapi.aliyuncs.com",
    "PROTOCOL": env_str("ALIYUN_SMS_PROTOCOL") or "https",
}
# Checked at start-up by verification.apps (the backends' names live in verification.sms).

SMS_CODE_TTL_SECONDS = 5 * 60
SMS_CODE_MAX_WRONG_TRIES = 5
SMS_RESEND_SECONDS = 60
# How long a verified phone may vote before proving itself again.
CITIZEN_VERIFIED_SECONDS = 30 * 60
SMS_REFUSE_VIRTUAL_OPERATORS = env_bool("SMS_REFUSE_VIRTUAL_OPERATORS", True)

# Personal data (phone hashes, 号段, networks) is kept until the result is certified and this
# many days after (the purge implements it; the 个人信息保护说明 page states it).
PERSONAL_DATA_RETENTION_DAYS = env_int("PERSONAL_DATA_RETENTION_DAYS", 30)

# The fraud review's flags (ballots.review, docs/review.md). A flag voids nothing: staff look.
# A burst: more than this many ballots from one network or one 号段 in one 10-minute window.
REVIEW_BURST_BALLOTS = env_int("REVIEW_BURST_BALLOTS", 30)
# A night share: of a network or 号段 with at least REVIEW_NIGHT_MIN_BALLOTS ballots, more than
# REVIEW_NIGHT_SHARE of them cast before REVIEW_NIGHT_END_HOUR (Beijing time).
REVIEW_NIGHT_END_HOUR = 6
REVIEW_NIGHT_MIN_BALLOTS = env_int("REVIEW_NIGHT_MIN_BALLOTS", 30)
REVIEW_NIGHT_SHARE = 0.5
# Identical timing: this many ballots from one network with the same seconds from code to ballot.
REVIEW_SAME_GAP_BALLOTS = env_int("REVIEW_SAME_GAP_BALLOTS", 20)
# Automation: this many ballots from one network sent by scripts or headless browsers.
REVIEW_AUTOMATION_BALLOTS = env_int("REVIEW_AUTOMATION_BALLOTS", 5)
# A cluster's choices are shown only from this size on: never the choices of one ballot.
REVIEW_CHOICES_MIN_BALLOTS = 10
# The review page reads the review as last computed (ballots.ReviewSnapshot) while it is younger
# than this; the review timer (manage.py review_poll) recomputes it every 5 minutes.
REVIEW_SNAPSHOT_SECONDS = env_int("REVIEW_SNAPSHOT_SECONDS", 600)

# django-ratelimit counts in the shared cache, every worker and app server together.
RATELIMIT_USE_CACHE = "limits"
RATELIMIT_VIEW = "zibo_vote.views.rate_limited"
# When the cache gives no count, django-ratelimit answers "not counted" (None) instead of a
# made-up refusal; verification.limits then applies its own table of what fails open and
# what fails closed. (RATELIMIT_ENABLE, its switch, is honoured: off, nothing is limited.)
RATELIMIT_FAIL_OPEN = True
# One IPv6 customer usually holds a whole /64.
RATELIMIT_IPV6_MASK = 64


def env_rate(name, default):
    """A django-ratelimit rate such as 5/h or 10/10m."""
    value = env_str(name) or default
    # A period multiplier of 0 ("5/0h") would make django-ratelimit raise on every request.
    if not re.fullmatch(r"\d+/([1-9]\d*)?[smhd]", value):
        raise ImproperlyConfigured(f"{name} must be a rate such as 5/h or 10/10m, not {value!r}.")
    return value


def env_count_or_rate(name, default):
    """A number of times an hour (30), or a rate (30/h, 50/2h)."""
    value = env_str(name)
    if re.fullmatch(r"\d+", value):
        return env_int(name, default, minimum=1)
    return env_rate(name, f"{default}/h")


RATE_LIMITS = {
    # Codes sent to one phone number (on top of the 60-second resend wait).
    "send_per_phone": env_rate("RATE_SEND_PER_PHONE", "5/h"),
    # Codes sent from one address that were never verified. A campus behind one NAT address
    # verifies what it asks for and is never stopped; an address cycling through numbers is.
    "unverified_sends_per_ip": env_count_or_rate("RATE_UNVERIFIED_SENDS_PER_IP", 30),
    # A ceiling on all sends from one address, verified or not.
    "send_per_ip": env_rate("RATE_SEND_PER_IP", "1000/h"),
    "check_per_ip": env_rate("RATE_CHECK_PER_IP", "1000/h"),
    # Checks of codes in one browser session. RATE_CHECK_PER_PHONE is its former name (checks
    # were once counted per number, which let a stranger use up a citizen's checks).
    "check_per_session": env_rate(
        "RATE_CHECK_PER_SESSION", env_rate("RATE_CHECK_PER_PHONE", "20/h")
    ),
    "vote_per_ip": env_rate("RATE_VOTE_PER_IP", "1000/h"),
    "vote_per_citizen": env_rate("RATE_VOTE_PER_CITIZEN", "10/10m"),
    # Receipt look-ups on /receipt/ from one address (a campus or a family behind one NAT).
    "receipt_per_ip": env_rate("RATE_RECEIPT_PER_IP", "120/h"),
}

# --- The public record ------------------------------------------------------------------------

# The Ed25519 key that signs the record's checkpoints and closing packages: the standard base64
# of its 32 raw bytes (`python -m record.signing generate`; `make run` generates one into var/).
# From the environment only, never the database; the same on every app server and unchanged
# during a poll. Read when a checkpoint is signed; `check --deploy` refuses a missing or weak one.
RECORD_SIGNING_KEY = env_key("RECORD_SIGNING_KEY", "record_signing_key")

SILENCED_SYSTEM_CHECKS = [
    # Warns that `i18n` names two modules: TEMPLATES names the site's on purpose; every other
    # name used twice is still reported, as zibo_vote.W003 (zibo_vote/checks.py).
    "templates.W003",
]
if not REDIS_URL:
    # diskcache is not on django-ratelimit's list, but what the list asks for holds: one
    # store shared by all worker processes, with atomic add and incr (SQLite transactions).
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.W001")

# --- The office, as the public pages name it --------------------------------------------------
# Shown when set: the contact in the 活动规则 and the 个人信息保护说明, the identifiers every
# government site carries in its footer (网站标识码, ICP备案, 公安机关备案).
SITE_CONTACT_PHONE = env_str("SITE_CONTACT_PHONE")
SITE_CONTACT_EMAIL = env_str("SITE_CONTACT_EMAIL")
SITE_ICP_RECORD = env_str("SITE_ICP_RECORD")  # e.g. 鲁ICP备12345678号
SITE_PUBLIC_SECURITY_RECORD = env_str("SITE_PUBLIC_SECURITY_RECORD")  # 鲁公网安备…号
SITE_GOV_ID = env_str("SITE_GOV_ID")  # 网站标识码, e.g. 3703000001
if SITE_CONTACT_EMAIL and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", SITE_CONTACT_EMAIL):
    raise ImproperlyConfigured(
        f"SITE_CONTACT_EMAIL must be an e-mail address, not {SITE_CONTACT_EMAIL!r}."
    )
if SITE_PUBLIC_SECURITY_RECORD and not re.search(r"\d{6,}", SITE_PUBLIC_SECURITY_RECORD):
    raise ImproperlyConfigured(
        "SITE_PUBLIC_SECURITY_RECORD must hold the record's number, "
        "e.g. 鲁公网安备37030302000001号."
    )

# --- Staff and admin --------------------------------------------------------------------------

# Where Django admin lives; another path keeps the login page out of the way of scanners.
ADMIN_PATH = env_str("DJANGO_ADMIN_PATH") or "admin/"
if not re.fullmatch(r"([a-z0-9][a-z0-9_-]*/)+", ADMIN_PATH):
    raise ImproperlyConfigured(
        f"DJANGO_ADMIN_PATH must look like 'admin/' or 'office/admin/', not {ADMIN_PATH!r}."
    )

# Brute force on the admin login: five failures for one username from one address lock that
# pair for 30 minutes (django-axes). Another address, or the right password from elsewhere,
# is not affected, so an attacker cannot lock staff out of the office.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "zibo_vote.http.client_ip"  # after ClientAddressMiddleware

# Seconds a public page (entries, an entry, results) is served from the shared cache to visitors
# without a session; staff edits clear it at once (zibo_vote/page_cache.py). 0 turns it off.
PUBLIC_PAGE_CACHE_SECONDS = env_int("DJANGO_PAGE_CACHE_SECONDS", 10)
# ...and kept that long in each worker's memory, sparing the trip to Redis for busy pages.
PUBLIC_PAGE_LOCAL_SECONDS = 1.0

SESSION_ENGINES = {
    # Django's db engine, minus three statements repeating the primary key (zibo_vote/sessions.py)
    "db": "zibo_vote.sessions",
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "cache": "django.contrib.sessions.backends.cache",
}
_session = env_str("DJANGO_SESSION_ENGINE") or "db"
if _session not in SESSION_ENGINES:
    raise ImproperlyConfigured(
        f"DJANGO_SESSION_ENGINE must be one of {', '.join(SESSION_ENGINES)}, not {_session!r}."
    )
SESSION_ENGINE = SESSION_ENGINES[_session]

# Sessions last at most a working day; staff sessions also end when the browser closes
# (ballots.admin sets that at login).
SESSION_COOKIE_AGE = 9 * 60 * 60

# Each worker's own short-lived copies of public pages (zibo_vote/page_cache.py): one trip to
# Redis per page per second, not per request. Bounded: more pages than the site has are culled.
CACHES["pages-local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "public-pages",
    "OPTIONS": {"MAX_ENTRIES": 200},
}

# --- Security --------------------------------------------------------------------------------

# DJANGO_HTTPS=1 behind TLS. Off by default so `make run` works over plain HTTP on loopback.
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
# Sends the preload flag; the domain joins browsers' preload lists only when submitted there.
SECURE_HSTS_PRELOAD = HTTPS and env_bool("DJANGO_HSTS_PRELOAD", True)
# Load balancers probe the health check over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# 1 when the reverse proxy terminates TLS and overwrites X-Forwarded-Proto. gunicorn.conf.py
# then believes that header, from DJANGO_TRUSTED_PROXIES only, and Django takes the scheme from
# gunicorn: no SECURE_PROXY_SSL_HEADER, with which Django would believe the header from anyone
# who reaches an app server. Read here too, so a value that is not 1 or 0 stops the start-up.
BEHIND_TLS_PROXY = env_bool("DJANGO_BEHIND_TLS_PROXY", False)

# The header in which the reverse proxy reports the client's address (nginx:
# `proxy_set_header X-Real-IP $remote_addr;`). Unset: REMOTE_ADDR, as for `make run`.
CLIENT_IP_HEADER = env_str("DJANGO_CLIENT_IP_HEADER")
# ...believed only from these addresses (the reverse proxies); from anyone else, the header is
# ignored, so a client that reaches an app server directly cannot claim another address.
TRUSTED_PROXIES = env_list("DJANGO_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
if CLIENT_IP_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"DJANGO_CLIENT_IP_HEADER must be a header name such as X-Real-IP, "
        f"not {CLIENT_IP_HEADER!r}."
    )

# Content Security Policy (django-csp 4): the site's own files only. The public pages have no
# script and no inline style; Django admin works under the same policy (tested in Chromium).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "img-src": [SELF, "data:"],
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language and time -----------------------------------------------------------------------

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = env_str("DJANGO_STATIC_ROOT") or str(VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files served at the root of the site by whitenoise: /favicon.ico, which browsers ask for
# whatever the page links.
WHITENOISE_ROOT = BASE_DIR / "webroot"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, pre-compressed files served by whitenoise with far-future cache headers.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Logging ---------------------------------------------------------------------------------
# Everything goes to stderr; gunicorn or systemd's journal keeps it.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "zibo_vote": {"level": "INFO"},
        "reforms": {"level": "INFO"},
        "ballots": {"level": "INFO"},
        "verification": {"level": "INFO"},
        "record": {"level": "INFO"},
    },
}
