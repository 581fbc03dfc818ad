"""Public pages served from the shared cache: cheap, never stale after an edit, never personal."""

import pytest
from django.test import Client, override_settings

from ballots.models import VoidReason
from reforms.models import Reform

from .conftest import cast, record_calls, text, verify

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/reforms/3/", "/results/", "/en/"])
def test_a_second_visitor_gets_the_page_without_touching_the_database(
    client, poll, path, django_assert_num_queries
):
    first = Client().get(path)
    with django_assert_num_queries(0):
        second = client.get(path)
    assert second.status_code == 200
    assert second.content == first.content
    assert "Cookie" in second["Vary"]


def test_an_edit_shows_once_committed(client, poll, django_capture_on_commit_callbacks):
    client.get("/reforms/3/")
    entry = Reform.objects.get(number=3)
    entry.title = "修改后的标题"
    with django_capture_on_commit_callbacks(execute=True):
        entry.save()
    assert "修改后的标题" in text(client.get("/reforms/3/"))
    assert "修改后的标题" in text(client.get("/"))


def test_unpublishing_and_closing_show_once_committed(
    client, poll, django_capture_on_commit_callbacks
):
    client.get("/")
    entry = Reform.objects.get(number=7)
    entry.published = False
    with django_capture_on_commit_callbacks(execute=True):
        entry.save()
    assert entry.title not in text(client.get("/"))
    client.get("/results/")
    with django_capture_on_commit_callbacks(execute=True):
        poll.close()
    assert "最终结果" in text(client.get("/results/"))


def test_voiding_after_the_close_shows_at_once(
    client, poll, admin_user, django_capture_on_commit_callbacks
):
    ballots = cast(poll, [3], [3], [5])
    poll.close()
    assert "2票，占66.67%" in text(client.get("/results/"))
    with django_capture_on_commit_callbacks(execute=True):  # the voiding commits
        ballots[0].void(by=admin_user, reason=VoidReason.STUFFING)
    assert "1票，占50.00%" in text(client.get("/results/"))


def test_a_citizens_own_state_is_never_cached_for_others(poll):
    citizen = Client()
    verify(citizen)
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    assert "您已投票" in text(citizen.get("/"))
    assert "您已投票" not in text(Client().get("/"))
    assert "您已投票" in text(citizen.get("/"))


def test_an_edit_is_not_published_before_it_is_committed(
    client, poll, django_capture_on_commit_callbacks
):
    # A page rendered while the change is still uncommitted must not be kept as current.
    client.get("/reforms/3/")
    entry = Reform.objects.get(number=3)
    entry.title = "尚未提交的标题"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        entry.save()
    assert len(callbacks) == 1  # invalidation waits for the commit
    assert "尚未提交的标题" not in text(client.get("/reforms/3/"))  # the cached copy still
    callbacks[0]()  # the commit
    assert "尚未提交的标题" in text(client.get("/reforms/3/"))


def test_made_up_addresses_do_not_make_new_pages(client, poll):
    response = client.get("/reforms/0003/")
    assert response.status_code == 301 and response["Location"] == "/reforms/3/"
    assert client.get("/en/reforms/03/")["Location"] == "/en/reforms/3/"


def test_citizens_with_a_session_get_the_shared_pages_too(poll, django_assert_num_queries):
    Client().get("/reforms/3/")
    citizen = Client()
    verify(citizen)
    with django_assert_num_queries(0):  # not even the session: these pages never read it
        assert citizen.get("/reforms/3/").status_code == 200
    Client().get("/")
    with django_assert_num_queries(1):  # the session, for whether they voted
        assert "参加投票" in text(citizen.get("/"))


def test_voters_share_the_voted_page_and_no_one_else_sees_it(poll):
    first, second = Client(), Client()
    verify(first, "13812345678")
    first.post("/vote/", {"choices": "3", "confirm": "1"})
    assert "您已投票" in text(first.get("/"))
    verify(second, "13912345678")
    assert "参加投票" in text(second.get("/"))  # verified, not yet voted
    second.post("/vote/", {"choices": "4", "confirm": "1"})
    assert "您已投票" in text(second.get("/"))
    assert "参加投票" in text(Client().get("/"))


def test_large_text_and_languages_are_cached_apart(poll):
    large = Client()
    large.cookies["text_size"] = "large"
    assert 'class="large-text"' in text(large.get("/"))
    assert 'class="large-text"' not in text(Client().get("/"))
    assert 'class="large-text"' in text(large.get("/"))
    assert '<html lang="en"' in text(Client().get("/en/"))


@override_settings(PUBLIC_PAGE_CACHE_SECONDS=0)
def test_the_cache_can_be_turned_off(client, poll, django_assert_max_num_queries):
    client.get("/")
    with django_assert_max_num_queries(10) as queries:
        client.get("/")
    assert len(queries) > 0


def _headers(decorator, response):
    """The caching headers a view so decorated answers with, its own headers set first."""
    from django.test import RequestFactory

    def view(request):
        return response()

    answered = decorator(view)(RequestFactory().get("/"))
    return {name: answered.get(name) for name in ("Cache-Control", "Expires")}


def _plain():
    from django.http import HttpResponse

    return HttpResponse("页面")


def _own_cache_control():
    response = _plain()
    response["Cache-Control"] = "public, max-age=60"
    return response


def _own_expires():
    response = _plain()
    response["Expires"] = "Thu, 01 Jan 2026 00:00:00 GMT"
    return response


@pytest.mark.parametrize("response", [_plain, _own_cache_control, _own_expires])
def test_the_sites_cache_decorators_answer_as_djangos(response, monkeypatch):
    import time

    from django.views.decorators import cache

    from zibo_vote import http

    monkeypatch.setattr(time, "time", lambda: 1_796_000_000.25)  # one second for both
    assert _headers(http.never_cache, response) == _headers(cache.never_cache, response)
    revalidate = cache.cache_control(private=True, no_cache=True, must_revalidate=True)
    assert _headers(http.revalidate, response) == _headers(revalidate, response)


def test_a_citizens_pages_get_their_caching_headers_without_parsing_any(citizen, monkeypatch):
    from django.utils import cache

    from zibo_vote import http

    parsed = record_calls(monkeypatch, cache, "patch_cache_control")
    parsed += record_calls(monkeypatch, http, "patch_cache_control")  # Django's, by its name
    parsed += record_calls(monkeypatch, http, "add_never_cache_headers")
    verify_page = citizen.get("/verify/?step=phone")
    ballot = citizen.get("/vote/")
    assert verify_page["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert "GMT" in verify_page["Expires"]
    assert ballot["Cache-Control"] == "private, no-cache, must-revalidate"
    assert parsed == []
