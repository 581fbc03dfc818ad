"""What a citizen sees on the entry list and the entry pages."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ballots.models import Poll
from reforms.models import Reform

from .conftest import TITLES, record_calls, text

pytestmark = pytest.mark.django_db


def test_home_lists_the_fifteen_entries_in_order(client, poll):
    response = client.get("/")
    assert response.status_code == 200
    html = text(response)
    assert '<html lang="zh-Hans">' in html
    assert '<h1 id="poll-title" lang="zh-Hans">淄博市改革创新经验评选</h1>' in html
    assert "15项改革创新经验" in html
    positions = [html.index(f"{title}</a>") for title in TITLES.values()]
    assert positions == sorted(positions)
    assert "十五、</span>" in html
    assert 'href="/reforms/15/"' in html
    assert "淄博市公安局" in html
    assert "根据淄博市委、市政府的统一部署，淄博市启动农村集体资产股份制改革试点工作。" in html


def test_home_shows_the_poll_intro_and_that_voting_is_open(client, poll):
    html = text(client.get("/"))
    assert poll.intro in html
    assert "投票中" in html
    assert "截止时间以市委改革办公告为准" in html


def test_home_shows_closing_time_in_beijing_time(client, poll):
    # 2030-01-01 02:00 UTC is 10:00 in Beijing.
    poll.closes_at = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    poll.save()
    assert "投票截止时间：2030年1月1日 10:00（北京时间）" in text(client.get("/"))


def test_home_says_when_a_scheduled_poll_opens(client, poll):
    poll.opens_at = timezone.now() + timedelta(days=2)
    poll.save()
    html = text(client.get("/"))
    assert "未开始" in html
    assert "投票将于" in html


def test_home_says_when_voting_ended(client, poll):
    poll.close()
    html = text(client.get("/"))
    assert "公示中" in html
    assert "投票已于" in html


def test_unpublished_entry_leaves_the_list(client, poll):
    Reform.objects.filter(number=7).update(published=False)
    html = text(client.get("/"))
    assert TITLES[7] not in html
    assert "14项改革创新经验" in html
    assert client.get("/reforms/7/").status_code == 404


def test_counts_on_the_home_page_follow_what_is_published(client, poll):
    # The notice's "这15项改革创新经验是：" sat above a list of 14 once staff unpublished one.
    Reform.objects.filter(number=7).update(published=False)
    html = text(client.get("/"))
    assert "14项改革创新经验" in html
    assert "这15项" not in html
    # The poll's 说明 is the office's text (15 were collected); nothing else counts fifteen.
    assert "15项" not in html.replace(poll.intro, "")


def test_home_without_any_poll_still_lists_published_entries(client, poll):
    Poll.objects.all().delete()
    html = text(client.get("/"))
    assert all(title in html for title in TITLES.values())


def test_entry_page_shows_the_whole_text_unit_and_neighbours(client, poll):
    reform = Reform.objects.get(number=3)
    response = client.get("/reforms/3/")
    assert response.status_code == 200
    html = text(response)
    assert f'<h1 lang="zh-Hans">{TITLES[3]}</h1>' in html
    assert '责任单位：<span lang="zh-Hans">张店区</span>' in html
    assert "全区110接报总警情同比下降4.5%，入室盗窃警情同比下降28.3%。" in html
    # The whole paragraph, not an excerpt (quotes survive HTML escaping unchanged).
    assert reform.body in html
    assert 'href="/reforms/2/" rel="prev"' in html
    assert 'href="/reforms/4/" rel="next"' in html
    assert 'href="/"' in html


def test_first_and_last_entries_have_one_neighbour(client, poll):
    first = text(client.get("/reforms/1/"))
    last = text(client.get("/reforms/15/"))
    assert 'rel="prev"' not in first and 'href="/reforms/2/" rel="next"' in first
    assert 'rel="next"' not in last and 'href="/reforms/14/" rel="prev"' in last


def test_neighbours_follow_display_order_and_skip_unpublished(client, poll):
    Reform.objects.filter(number=4).update(published=False)
    Reform.objects.filter(number=15).update(order=0)  # staff moved it to the top
    html = text(client.get("/reforms/3/"))
    assert 'href="/reforms/5/" rel="next"' in html
    html = text(client.get("/reforms/1/"))
    assert 'href="/reforms/15/" rel="prev"' in html


@pytest.mark.parametrize("path", ["/reforms/16/", "/reforms/0/", "/reforms/abc/", "/nowhere/"])
def test_unknown_pages_get_a_chinese_404(client, poll, path):
    response = client.get(path)
    assert response.status_code == 404
    html = text(response)
    assert "页面不存在" in html
    assert '<html lang="zh-Hans">' in html


def test_pages_refuse_posts_without_a_500(client, poll):
    assert client.post("/").status_code == 405
    assert client.post("/reforms/1/").status_code == 405


def test_pages_load_nothing_from_other_sites(client, poll):
    for path in ["/", "/reforms/1/", "/reforms/99/"]:
        html = text(client.get(path))
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html), path
        assert "<script" not in html


def test_health_check_answers_when_the_database_does(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content.decode().startswith("ok\ndatabase: ok\n")
    assert "no-cache" in response["Cache-Control"]


def test_the_sites_own_icon_is_served_and_linked(client, poll):
    for path in ["/", "/reforms/3/", "/verify/", "/results/", "/en/", "/reforms/99/"]:
        assert '<link rel="icon" href="/favicon.ico" sizes="16x16 32x32">' in text(client.get(path))
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    icon = b"".join(response.streaming_content)
    assert icon[:4] == b"\x00\x00\x01\x00" and len(icon) < 2000  # an ICO: 16 and 32 px


def test_a_message_storage_is_made_only_for_a_page_that_adds_or_shows_messages(
    client, poll, monkeypatch
):
    from django.contrib.messages import storage

    made = record_calls(monkeypatch, storage, "default_storage")
    assert client.get("/reforms/3/").status_code == 200
    assert client.post("/verify/", {"phone": "13812345678"}).status_code == 302
    assert made == []  # Django made one (and a cookie signer) for every request
    assert client.post("/verify/", {"phone": "13812345678"}).status_code == 302  # adds one
    assert "验证码刚刚已发送" in text(client.get("/verify/"))  # and shows it, once
    assert "验证码刚刚已发送" not in text(client.get("/verify/"))
    assert len(made) == 3
