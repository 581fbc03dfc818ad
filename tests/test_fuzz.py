"""Every public URL and form, and the admin's list filters and actions, with hostile values.

The URLs come from the URLconf and the forms from the pages themselves, so a page added later
(/receipt/, /record/) is walked as soon as it is routed. What must hold for every request:

- no 5xx;
- a 4xx, or one of the site's own pages (a form with its Chinese message, a redirect to a
  path on this site); a 4xx page with a body is the site's own, in Chinese, not Django's
  English default;
- the database is unchanged by a request that was refused (a 4xx, or a form that shows its
  errors), and by every GET or HEAD.

It runs on both databases in CI (PostgreSQL refuses what SQLite accepts: NUL in text, integers
past 64 bits). A failure lists every request that broke a rule, not only the first.
"""

import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import translation

from ballots.models import Ballot

from .conftest import cast, last_code

pytestmark = pytest.mark.django_db

# Values nobody's browser sends: what broke the site once (//[, a NUL), addresses to other
# sites, numbers too large for any column, other scripts, sizes, markup and injections.
HOSTILE = [
    "",
    " ",
    "//[",
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "javascript:alert(1)",
    "\x00",
    "13812345678\x00",
    "\r\nSet-Cookie: x=1",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "{{ 7|add:7 }}",
    "-1",
    "0",
    "1.5",
    "1e309",
    "NaN",
    "9999",
    "99999999999",
    "99999999999999999999999",
    "１３８１２３４５６７８",
    "٣",
    "\u202e\ufeff",
    "😀" * 50,
    "测" * 5000,
    "x" * 20_000,
    "../../../etc/passwd",
    "[]",
]
# Query strings urlencode() cannot write: bytes that are not UTF-8, an encoded NUL, fields
# without values, the same field many times.
RAW_QUERIES = [
    "next=//%5B",
    "next=%ff%fe",
    "%ff=%ff",
    "next=%c0%af",
    "next=%ED%A0%80",
    "next=%00",
    "=&&=&a",
    "next",
    "next=/a&next=//b&next=/c",
    "&".join(["a=1"] * 1200),
    "choices=3&choices=3&choices=99999999999999999999",
    "size=large&size=%00",
]
PATH_VALUES = ["0", "16", "0003", "99999", "99999999999999999999", "%ff", "%00", "1%2f2"]
PATH_SUFFIXES = ["%ff/", "%00/", "..%2f..%2f/", "[/", "x" * 3000 + "/", "%E4%B8/", "%20/"]
BODIES = [
    # A form in GBK, in UTF-16, in no known charset; bytes that are not UTF-8.
    ("application/x-www-form-urlencoded; charset=gbk", b"phone=13812345678"),
    ("application/x-www-form-urlencoded; charset=utf-16", b"phone=1"),
    ("application/x-www-form-urlencoded; charset=x-none", b"phone=1"),
    ("application/x-www-form-urlencoded", b"phone=%ff%fe&code=\xff\xfe"),
    ("multipart/form-data", b"phone=1"),
    ("multipart/form-data; boundary=zz", b"--zz\r\nContent-Disposition: form-data\r\n\r\nx"),
    ("application/json", b'{"phone": 13812345678, "choices": [3]}'),
    ("text/plain", b"\x00\x01\x02"),
    ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 1200)),
    ("application/x-www-form-urlencoded", b"phone=" + b"1" * (3 * 1024 * 1024)),
]
METHODS = ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]
# A smaller corpus for the admin, whose pages cost more to render.
ADMIN_HOSTILE = ["abc", "", "1.5", "1" * 25, "\x00", "99999999999", "2024-13-45"]

CJK = re.compile(r"[\u4e00-\u9fff]")
REFUSED_MARKERS = ("error-summary", "errorlist", "errornote", 'class="error"')
LANGUAGES = ["zh-hans", "en"]
# Tables whose rows requests may change without changing anything that matters: sessions,
# and django-axes' record of admin login attempts.
UNWATCHED = {"sessions", "axes", "contenttypes"}


# --- What the site has -------------------------------------------------------------------------


def public_routes():
    """Every public route as written in the URLconf, in each language ("reforms/<int:number>/")."""

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    routes = set()
    for language in LANGUAGES:
        with translation.override(language):
            routes.update(walk(get_resolver().url_patterns, "/"))
    return sorted(routes)


CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def fill(route, value=None):
    """A route with its converters filled: `value` if given, else a value that exists."""
    return CONVERTER.sub(lambda m: value or ("3" if m.group(1) in (None, "int") else "x"), route)


class Forms(HTMLParser):
    """The forms of a page: (method, action, {name: [values]}) with the values as rendered."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        if tag == "form":
            self.forms.append(
                (attributes.get("method", "get").upper(), attributes.get("action") or "", {})
            )
        elif tag in ("input", "select", "textarea", "button") and self.forms:
            name = attributes.get("name")
            if name and attributes.get("type") not in ("submit", "button"):
                fields = self.forms[-1][2]
                values = fields.setdefault(name, [])
                if attributes.get("type") not in ("radio", "checkbox") or not values:
                    values.append(attributes.get("value") or "")


def forms_of(html):
    parser = Forms()
    parser.feed(html)
    return parser.forms


def snapshot():
    """Rows, and non-empty values of every nullable column, in every table that matters: one
    query, so that a change of state (a ballot voided, a poll closed) shows as well as a row."""
    quote_name = connection.ops.quote_name
    parts = []
    for model in apps.get_models():
        if model._meta.app_label in UNWATCHED or not model._meta.managed:
            continue
        table = quote_name(model._meta.db_table)
        parts.append(f"(SELECT COUNT(*) FROM {table})")  # noqa: S608
        parts += [
            f"(SELECT COUNT({quote_name(field.column)}) FROM {table})"  # noqa: S608
            for field in model._meta.concrete_fields
            if field.null
        ]
    with connection.cursor() as cursor:
        # Table and column names from the models, quoted: no value from outside.
        cursor.execute("SELECT " + ", ".join(parts))
        return cursor.fetchone()


# --- The rules ---------------------------------------------------------------------------------


class Walk:
    """Sends requests and notes each one that breaks a rule."""

    def __init__(self):
        self.broken = []
        self.count = 0
        self.last = None

    def send(self, browser, method, path, *, query="", data=None, **extra):
        # The state after one request is the state before the next: one snapshot each.
        before = self.last if self.last is not None else snapshot()
        self.count += 1
        response = browser.generic(method, path, data or b"", QUERY_STRING=query, **extra)
        self.last = snapshot()
        self.judge(f"{method} {path[:80]}?{query[:80]} {str(data)[:80]}", method, response, before)
        return response

    def judge(self, label, method, response, before):
        status = response.status_code
        body = response.content.decode("utf-8", "replace") if not response.streaming else ""
        html = response.get("Content-Type", "").startswith("text/html")
        if status >= 500:
            self.broken.append(f"{status}: {label}")
            return
        if 300 <= status < 400:
            location = response["Location"]
            if not location.startswith("/") or location.startswith(("//", "/\\")):
                self.broken.append(f"{status} to {location!r}: {label}")
        if status >= 400 and html and body and not (CJK.search(body) or 'lang="en"' in body):
            self.broken.append(f"{status} without a page of the site's: {label}")
        if (
            status == 200
            and html
            and method != "HEAD"
            and not re.search(r'lang="(zh-hans|en)"', body, re.I)
        ):
            self.broken.append(f"200 that is not one of the site's pages: {label}")
        refused = status >= 400 or any(marker in body for marker in REFUSED_MARKERS)
        if (refused or method in ("GET", "HEAD")) and self.last != before:
            self.broken.append(f"{status} changed the database: {label}")

    def assert_clean(self):
        assert self.broken == [], f"{len(self.broken)} of {self.count} requests:\n" + "\n".join(
            self.broken[:60]
        )


def browser():
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


def citizen():
    verified = browser()
    verified.get("/verify/")
    token = verified.cookies["csrftoken"].value
    verified.post("/verify/", {"phone": "13812345678", "csrfmiddlewaretoken": token})
    verified.post("/verify/", {"code": last_code("13812345678"), "csrfmiddlewaretoken": token})
    return verified


def encode(fields):
    return "&".join(
        f"{quote(name, safe='')}={quote(value, safe='')}"
        for name, values in fields.items()
        for value in values
    )


# --- The walks ---------------------------------------------------------------------------------

ROUTES = public_routes()


@pytest.mark.parametrize("route", ROUTES)
def test_public_urls_with_hostile_queries_and_methods(poll, route):
    walk = Walk()
    path = fill(route)
    # The same views in English, and for a verified citizen: walked with the values that are
    # addresses, control characters or markup, what the language switch and `next` read.
    english = path.startswith("/en/")
    walks = [(browser(), HOSTILE[:12] if english else HOSTILE)]
    if not english:
        walks.append((citizen(), HOSTILE[:12]))
    for visitor, values in walks:
        for value in values:
            fields = {"next": [value], "step": [value], "size": [value], "choices": [value]}
            walk.send(visitor, "GET", path, query=encode(fields))
    anonymous = walks[0][0]
    for query in RAW_QUERIES:
        walk.send(anonymous, "GET", path, query=query)
    get = walk.send(anonymous, "GET", path)
    head = walk.send(anonymous, "HEAD", path)
    if get.status_code < 400 and head.status_code != get.status_code:
        walk.broken.append(f"HEAD {head.status_code}, GET {get.status_code}: {path}")
    for method in ["POST", *METHODS]:  # without a CSRF token
        walk.send(anonymous, method, path)
    walk.assert_clean()


@pytest.mark.parametrize("route", [route for route in ROUTES if CONVERTER.search(route)])
def test_public_urls_with_hostile_path_values(poll, route):
    walk = Walk()
    for value in PATH_VALUES:
        walk.send(browser(), "GET", fill(route, value))
    walk.assert_clean()


def test_paths_the_urlconf_does_not_have(poll):
    walk = Walk()
    for suffix in PATH_SUFFIXES:
        for prefix in ("/", "/en/", "/reforms/", "//"):
            # PATH_INFO as the server passes it: the test client would parse the path itself.
            walk.send(browser(), "GET", "/", PATH_INFO=prefix + suffix)
    walk.send(browser(), "GET", "/", PATH_INFO="//[")
    walk.send(browser(), "GET", "/", HTTP_HOST="evil.example")
    walk.send(browser(), "GET", "/", HTTP_HOST="[::1")
    walk.send(browser(), "GET", "/", HTTP_ACCEPT_LANGUAGE="zz-ZZ;q=abc, *;q=-1")
    walk.send(browser(), "GET", "/", HTTP_COOKIE="sessionid=\x00; csrftoken=[; text_size=large")
    walk.assert_clean()


def discovered_forms(visitor):
    """The POST forms of every public page as this visitor sees it."""
    found = {}
    for route in ROUTES:
        response = visitor.get(fill(route))
        if response.status_code == 200 and not response.streaming:
            for method, action, fields in forms_of(response.content.decode()):
                if method == "POST":
                    found.setdefault((action or fill(route), tuple(sorted(fields))), fields)
    return found


def pending():
    visitor = browser()
    visitor.get("/verify/")
    visitor.post(
        "/verify/",
        {"phone": "13812345679", "csrfmiddlewaretoken": visitor.cookies["csrftoken"].value},
    )
    return visitor


@pytest.mark.parametrize("state", ["anonymous", "code pending", "verified"])
def test_public_forms_with_hostile_values_and_bodies(poll, state):
    visitor = {"anonymous": browser, "code pending": pending, "verified": citizen}[state]()
    forms = discovered_forms(visitor)
    assert forms, "no form found"
    walk = Walk()
    for (action, _), fields in forms.items():
        for name in fields:
            # A token that is not the token is refused the same way, whatever it holds.
            for value in HOSTILE if name != "csrfmiddlewaretoken" else HOSTILE[:3]:
                walk.send(
                    visitor,
                    "POST",
                    action,
                    data=encode({**fields, name: [value]}),
                    content_type="application/x-www-form-urlencoded",
                )
            repeated = encode({**fields, name: [*fields[name], "1", "2", "3", "//["]})
            walk.send(visitor, "POST", action, data=repeated,
                      content_type="application/x-www-form-urlencoded")  # fmt: skip
        for content_type, body in BODIES:
            walk.send(visitor, "POST", action, data=body, content_type=content_type)
    walk.assert_clean()


# --- The admin, logged in ----------------------------------------------------------------------

ADMINS = sorted((model._meta.app_label, model._meta.model_name) for model in admin.site._registry)


# The changelist's own parameters, the same code for every list: walked on one of them.
CHANGELIST_PARAMETERS = {"o", "p", "all", "e", "_to_field", "_popup", "_changelist_filters"}


def filter_parameters(html, model_admin):
    """The list's query parameters: its filters' links, the date hierarchy, search."""
    names = {"q"}
    for href in re.findall(r'href="\?([^"]*)"', html):
        names.update(name for name, _ in parse_qsl(href.replace("&amp;", "&")))
    if model_admin.date_hierarchy:
        names.update(f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day"))
    return sorted(names)


@pytest.mark.parametrize(("app_label", "model_name"), ADMINS)
# A date filter given a number (?attempt_time__gte=111…) is read as 1111-11-11, naive: a warning
# in production, an error under this suite's filterwarnings.
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime:RuntimeWarning")
def test_admin_list_filters_and_actions_with_hostile_values(
    admin_client, poll, app_label, model_name
):
    cast(poll, [3], [5])
    admin_client.raise_request_exception = False
    model = apps.get_model(app_label, model_name)
    model_admin = admin.site._registry[model]
    changelist = f"/admin/{app_label}/{model_name}/"
    page = admin_client.get(changelist)
    assert page.status_code == 200
    html = page.content.decode()
    walk = Walk()
    parameters = filter_parameters(html, model_admin)
    if model is Ballot:
        parameters += sorted(CHANGELIST_PARAMETERS)
    for name in parameters:
        for value in ADMIN_HOSTILE:
            walk.send(admin_client, "GET", changelist, query=encode({name: [value]}))
    for date in ("9999", "99999999999", "10000"):
        walk.send(admin_client, "GET", changelist, query=f"x__year={date}")
    real = str(model._default_manager.values_list("pk", flat=True).first() or 1)
    actions = re.findall(
        r'<option value="(\w+)"', html.split('name="action"', 1)[-1].split("</select>")[0]
    )
    confirmed = {"apply": ["1"], "post": ["yes"], "reason": ["other"], "note": ["x"]}
    for action in actions:
        for value in ADMIN_HOSTILE[:5]:
            # With a real id beside it, and as the confirmation page posts it back: nothing
            # may be done to the real one either.
            data = {"action": [action], "_selected_action": [real, value], "index": [value],
                    "select_across": [value], **confirmed}  # fmt: skip
            walk.send(admin_client, "POST", changelist, data=encode(data),
                      content_type="application/x-www-form-urlencoded")  # fmt: skip
        walk.send(admin_client, "POST", changelist, data=encode({"action": [action]}),
                  content_type="application/x-www-form-urlencoded")  # fmt: skip
    for value in [*ADMIN_HOSTILE[:6], "99999999999999999999"]:
        for view in ("change", "history", "delete"):
            walk.send(admin_client, "GET", f"{changelist}{quote(value, safe='')}/{view}/")
    for pattern in model_admin.get_urls():
        route = str(pattern.pattern)
        if "<int:" in route:
            for value in ("0", "99999999999999999999"):
                walk.send(admin_client, "GET", changelist + fill(route, value))
    walk.assert_clean()
