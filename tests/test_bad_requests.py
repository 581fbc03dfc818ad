"""Requests nobody's browser sends still get a decided answer: a 4xx or a Chinese message.

Each test here is one case found by trying the site as an attacker would (issue 11); the corpus
walk over every URL and form is tests/test_fuzz.py.
"""

import logging

import pytest
from django.test import Client

from ballots.models import Ballot

from .conftest import cast, text

pytestmark = pytest.mark.django_db

CHINESE_400 = "请求无法处理"


@pytest.mark.parametrize("path", ["/", "/verify/", "/results/", "/reforms/3/", "/en/", "/vote/"])
def test_a_next_that_urlsplit_cannot_read_is_ignored(client, poll, path):
    response = client.get(path, {"next": "//["})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        # The language switch carries no `next` it cannot vouch for.
        assert "%5B" not in text(response).split("hreflang")[0].rsplit("<a", 1)[-1]


def test_a_path_that_urlsplit_cannot_read_is_a_404(client, poll):
    response = client.get("/", PATH_INFO="//[")
    assert response.status_code == 404
    assert "页面不存在" in text(response)


def test_verify_never_sends_a_citizen_off_the_site(client, poll):
    for target in ["//[", "//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\x"]:
        response = client.get("/text-size/", {"size": "large", "next": target})
        assert response["Location"] == "/"


def csrf_client():
    browser = Client(enforce_csrf_checks=True)
    browser.get("/verify/")
    return browser, browser.cookies["csrftoken"].value


@pytest.mark.parametrize("path", ["/verify/", "/vote/", "/admin/login/"])
@pytest.mark.parametrize("charset", ["gbk", "GB2312", "utf-16"])
def test_a_form_in_another_charset_is_a_400(poll, path, charset):
    browser, token = csrf_client()
    response = browser.generic(  # .post() would encode the body in that charset itself
        "POST",
        path,
        f"phone=13812345678&csrfmiddlewaretoken={token}",
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )
    assert response.status_code == 400
    assert CHINESE_400 in text(response)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"phone=1"),  # no boundary
        ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 1001)),
        ("application/x-www-form-urlencoded", b"phone=" + b"1" * (3 * 1024 * 1024)),
    ],
)
def test_a_body_django_cannot_parse_is_a_400_in_one_log_line(poll, caplog, content_type, body):
    browser, _ = csrf_client()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = browser.generic("POST", "/verify/", body, content_type=content_type)
    assert response.status_code == 400
    assert CHINESE_400 in text(response)
    assert [record.exc_info for record in caplog.records] == [None]


def test_a_refused_host_is_a_400_in_one_log_line_without_a_traceback(poll, caplog):
    with caplog.at_level(logging.INFO):
        response = Client(HTTP_HOST="evil.example").get("/")
    assert response.status_code == 400
    assert CHINESE_400 in text(response)
    [record] = caplog.records
    assert record.exc_info is None and "evil.example" in record.getMessage()


def test_a_nul_in_the_query_string_is_a_chinese_400(client, poll):
    response = client.get("/?q=%00")
    assert response.status_code == 400
    assert CHINESE_400 in text(response)


@pytest.mark.parametrize("path", ["/", "/verify/", "/vote/", "/results/", "/reforms/3/", "/en/"])
def test_head_works_wherever_get_does_and_logs_nothing(client, poll, path, caplog):
    with caplog.at_level(logging.INFO):
        head = client.head(path)
    assert head.status_code == client.get(path).status_code
    assert head.status_code in (200, 302)
    assert caplog.records == []


def test_head_on_the_ballot_of_a_verified_citizen(citizen):
    assert citizen.head("/vote/").status_code == 200


@pytest.mark.parametrize(("field", "value"), [("phone", "138\x0012345678"), ("code", "12\x003456")])
def test_a_nul_in_a_form_field_gets_a_clear_chinese_message(client, poll, field, value):
    if field == "code":
        client.post("/verify/", {"phone": "13812345678"})
    response = client.post("/verify/", {field: value}, follow=True)
    assert response.status_code == 200
    html = text(response)
    assert "不允许是用空字符串" not in html
    assert "含有无法识别的字符" in html
    assert 'aria-invalid="true"' in html


def test_a_ballot_after_the_close_is_a_409(citizen, poll):
    poll.close()
    response = citizen.post("/vote/", {"choices": "3"})
    assert response.status_code == 409
    assert "投票已结束" in text(response)
    assert Ballot.objects.count() == 0


class TestAdminBadParameters:
    @pytest.mark.parametrize("selected", ["abc", "1.5", "99999999999999999999", ""])
    def test_an_action_on_ids_that_are_not_ids_changes_nothing(self, admin_client, poll, selected):
        [ballot] = cast(poll, [3])
        response = admin_client.post(
            "/admin/ballots/ballot/",
            {"action": "void_ballots", "_selected_action": [ballot.pk, selected],
             "reason": "stuffing", "apply": "1"},
        )  # fmt: skip
        assert response.status_code == 302
        page = text(admin_client.get(response["Location"]))
        assert "所选对象无效" in page
        assert not Ballot.objects.filter(voided_at__isnull=False).exists()

    @pytest.mark.parametrize(
        "query",
        [
            "cast_at__year=9999",
            "cast_at__year=99999999999",
            "cast_at__year=2024&cast_at__month=12&cast_at__day=31",
            "cast_at__year=9999&cast_at__month=12",
            "cast_at__year=9999&cast_at__month=12&cast_at__day=31",
            "cast_at__year=-1",
        ],
    )
    def test_a_date_out_of_range_is_an_invalid_filter_not_a_500(self, admin_client, poll, query):
        cast(poll, [3])
        response = admin_client.get(f"/admin/ballots/ballot/?{query}")
        assert response.status_code in (200, 302)
        if response.status_code == 302:
            assert response["Location"].endswith("?e=1")
