"""Chinese by default, English under /en/; every interface string translated.

The strong check: an English page may hold Chinese characters only inside elements marked
lang="zh-Hans" (the entries, the poll's own title and intro), never in its interface.
"""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client, override_settings

from verification import sms

from .conftest import last_code, record_calls, verify

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                 "source", "track", "wbr"}  # fmt: skip


class InterfaceText(HTMLParser):
    """Collects text and attribute values outside elements marked as Chinese content."""

    def __init__(self):
        super().__init__()
        self.stack, self.found = [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        chinese = attributes.get("lang") == "zh-Hans" and tag != "html"
        inside = bool(self.stack and self.stack[-1])
        if not (inside or chinese):
            for name in ("title", "aria-label", "alt", "placeholder", "value", "content"):
                if CJK.search(attributes.get(name) or ""):
                    self.found.append(f"<{tag} {name}={attributes[name]!r}>")
        if tag not in VOID_ELEMENTS:
            self.stack.append(inside or chinese)

    def handle_endtag(self, tag):
        if tag not in VOID_ELEMENTS and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]) and CJK.search(data):
            self.found.append(data.strip())


def interface_chinese(response):
    parser = InterfaceText()
    parser.feed(response.content.decode("utf-8"))
    # The page title names the entry on entry pages; that one may stay in Chinese.
    return [text for text in parser.found if not text.startswith(("一", "二", "三"))]


def english(client, path, **kwargs):
    response = client.get(path, **kwargs)
    assert '<html lang="en"' in response.content.decode()
    assert interface_chinese(response) == [], path
    return response


def test_chinese_is_the_default_whatever_the_browser_asks(client, poll):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "参加投票" in html
    assert 'href="/en/" lang="en" hreflang="en">English</a>' in html


def test_english_pages_translate_the_interface_and_keep_the_entries(client, poll):
    html = english(client, "/en/").content.decode()
    assert "Vote now" in html
    assert "15 reform experiences" in html
    assert "张店区“四位一体”创新推进社会治理" in html  # entries stay in Chinese
    assert 'href="/en/reforms/3/"' in html
    assert 'href="/" lang="zh-Hans" hreflang="zh-Hans">简体中文</a>' in html

    html = english(client, "/en/reforms/3/").content.decode()
    assert "Item 3" in html and "Responsible unit" in html
    assert 'href="/reforms/3/" lang="zh-Hans"' in html  # the same page in Chinese
    english(client, "/en/results/")
    english(client, "/en/no-such-page/")
    assert client.get("/en/no-such-page/").status_code == 404


def test_the_whole_flow_in_english(client, poll):
    english(client, "/en/verify/")
    bad = client.post("/en/verify/", {"phone": "12345"}, follow=True)
    assert "Please enter an 11-digit mainland China mobile number" in bad.content.decode()
    assert interface_chinese(bad) == []

    sent = client.post("/en/verify/", {"phone": "13812345678", "next": "/en/vote/"})
    assert sent["Location"] == "/en/verify/?next=/en/vote/"
    code_step = english(client, sent["Location"]).content.decode()
    assert "A verification code was sent to <strong>1381234****</strong>" in code_step
    assert sms.outbox[-1]["text"].startswith("Your verification code is ")
    # The resend needs no retyping, and too early it is a notice, in English too.
    assert client.post("/en/verify/resend/", {"next": "/en/vote/"}).status_code == 302
    notice = english(client, "/en/verify/?next=/en/vote/").content.decode()
    assert "The code was sent a moment ago" in notice
    wrong = client.post("/en/verify/", {"code": "12", "next": "/en/vote/"}, follow=True)
    assert "The verification code has 6 digits" in wrong.content.decode()
    assert interface_chinese(wrong) == []
    wrong = client.post("/en/verify/", {"code": "000000", "next": "/en/vote/"}, follow=True)
    if "The verification code is incorrect" in wrong.content.decode():  # not the real one
        assert "4 tries left" in wrong.content.decode()
    assert interface_chinese(wrong) == []
    response = client.post("/en/verify/", {"code": last_code("13812345678"), "next": "/en/vote/"})
    assert response["Location"] == "/en/vote/"

    english(client, "/en/vote/")
    refused = client.post("/en/vote/", {"choices": ["3", "4"], "confirm": "1"})
    assert "you selected 2" in refused.content.decode()
    assert interface_chinese(refused) == []
    assert (
        client.post("/en/vote/", {"choices": "3", "confirm": "1"})["Location"] == "/en/vote/done/"
    )
    english(client, "/en/vote/done/")
    again = client.post("/en/vote/", {"choices": "4", "confirm": "1"})
    assert "You have voted" in again.content.decode()
    assert interface_chinese(again) == []

    poll.close()
    html = english(client, "/en/results/").content.decode()
    assert "Preliminary result" in html and "No. 1" in html


@override_settings(RATE_LIMITS={"send_per_phone": "0/h", "unverified_sends_per_ip": 30,
                                "send_per_ip": "1000/h", "check_per_ip": "1000/h",
                                "check_per_session": "20/h", "vote_per_ip": "1000/h",
                                "vote_per_citizen": "10/10m"})  # fmt: skip
def test_the_429_page_in_english(client, poll):
    response = client.post("/en/verify/", {"phone": "13812345678"})
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert interface_chinese(response) == []


def test_sms_follows_the_page_language(poll):
    verify(Client(), "13812345678")
    assert sms.outbox[-1]["text"].startswith("您的验证码是")


def test_the_other_language_link_is_worked_out_once_for_a_page(client, poll, monkeypatch):
    from zibo_vote import context_processors

    asked = record_calls(monkeypatch, context_processors, "translate_url")
    context_processors._translated.cache_clear()
    for _ in range(3):
        html = client.get("/verify/?next=/reforms/3/").content.decode()
        assert 'href="/en/verify/?next=%2Fen%2Freforms%2F3%2F" lang="en"' in html
    assert sorted(path for path, _code in asked) == ["/reforms/3/", "/verify/"]
    english_page = english(client, "/en/reforms/3/").content.decode()
    assert 'href="/reforms/3/" lang="zh-Hans"' in english_page


def test_the_kept_paths_to_views_follow_the_language_and_the_mount_point():
    from django.urls import reverse, set_script_prefix
    from django.utils import translation

    from zibo_vote.http import path_to

    for language, expected in (("zh-hans", "/vote/"), ("en", "/en/vote/"), ("zh-hans", "/vote/")):
        with translation.override(language):
            assert path_to("ballots:vote") == expected == reverse("ballots:vote")
    with translation.override("zh-hans"):
        try:
            set_script_prefix("/zibo/")
            assert path_to("ballots:vote") == "/zibo/vote/" == reverse("ballots:vote")
        finally:
            set_script_prefix("/")
        assert path_to("ballots:vote") == "/vote/"
