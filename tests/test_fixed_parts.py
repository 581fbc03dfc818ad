"""The header, the navigation, the footer and the privacy note are rendered once a language and
kept on the template ({% fixed %}, zibo_vote/templatetags/fixed.py): each page must still show
its own language, its own current section and the settings of the moment."""

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory, override_settings

from reforms.models import Reform
from zibo_vote import page_cache
from zibo_vote.templatetags import fixed

from .conftest import record_calls, text

pytestmark = pytest.mark.django_db


def current_link(html):
    nav = html[html.index('<ul class="sections">') : html.index('<ul class="tools">')]
    return [item for item in nav.split("<li>") if 'aria-current="page"' in item]


def test_the_parts_are_kept_between_requests(client, poll):
    client.get("/results/")
    # The production loader (cached) keeps the parsed templates, and so the rendered parts.
    kept = {
        node.name: dict(node.rendered)
        for node in fixed._nodes
        if isinstance(node, fixed.FixedNode) and node.rendered
    }
    assert {"head", "header", "sections", "footer"} <= set(kept)
    assert any(key[0] == "zh-hans" for key in kept["footer"])


def test_each_page_marks_its_own_section_after_another_was_shown(client, poll):
    for path, label in [("/results/", "结果"), ("/", "首页"), ("/results/", "结果")]:
        links = current_link(text(client.get(path)))
        assert len(links) == 1 and f">{label}</a>" in links[0], path


def test_each_language_gets_its_own_header_and_footer(client, poll):
    chinese = text(client.get("/"))
    english = text(client.get("/en/"))
    again = text(client.get("/"))
    assert "主办：淄博市委改革办" in chinese and "主办：淄博市委改革办" in again
    assert "主办：淄博市委改革办" not in english
    assert 'href="/en/results/"' in english and 'href="/results/"' in again


def test_a_changed_setting_shows_in_the_footer_and_the_privacy_note(client, poll):
    assert "0533-3181234" not in text(client.get("/verify/"))
    with override_settings(SITE_CONTACT_PHONE="0533-3181234", PERSONAL_DATA_RETENTION_DAYS=45):
        html = text(client.get("/verify/"))
        assert 'href="tel:05333181234"' in html
        assert "在投票结果确认满45天后一天内删除" in html
    html = text(client.get("/verify/"))
    assert "0533-3181234" not in html and "在投票结果确认满30天后一天内删除" in html


def test_a_part_keeps_no_more_than_its_bound_of_variants():
    template = Template('{% load fixed %}{% fixed "test" value %}[{{ value }}]{% endfixed %}')
    request = RequestFactory().get("/")
    rendered = [template.render(Context({"value": n, "request": request})) for n in range(100)]
    assert rendered == [f"[{n}]" for n in range(100)]  # past the bound: rendered, not kept
    node = next(n for n in fixed._nodes if isinstance(n, fixed.FixedNode) and n.name == "test")
    assert len(node.rendered) == 64


def test_a_part_without_a_name_is_refused_when_the_template_is_read():
    with pytest.raises(TemplateSyntaxError, match="takes a name"):
        Template("{% load fixed %}{% fixed %}x{% endfixed %}")


def ballot_card(html, number):
    start = html.index(f'name="choices" value="{number}"')
    return html[start : html.index("</li>", start)]


def test_the_ballot_shows_an_entry_as_it_was_just_edited_and_escaped(citizen, poll):
    # The cards' words are kept by their wording (ballots.forms.card_item): a new wording is
    # a new card at once, and what staff typed is text, not markup.
    before = ballot_card(text(citizen.get("/vote/")), 3)
    reform = Reform.objects.get(number=3)
    assert reform.title in before
    reform.title = "数据<b>共享</b>改革"
    reform.body = "第一段。\n\n第二段 & 附件"
    reform.save()
    card = ballot_card(text(citizen.get("/vote/")), 3)
    assert "数据&lt;b&gt;共享&lt;/b&gt;改革" in card and "<b>" not in card
    assert "<p>第一段。</p>" in card and "<p>第二段 &amp; 附件</p>" in card
    assert before.split("</label>")[1] != card.split("</label>")[1]


def test_each_language_gets_its_own_ballot_cards(citizen, poll):
    chinese = ballot_card(text(citizen.get("/vote/")), 3)
    english = ballot_card(text(citizen.get("/en/vote/")), 3)
    assert '<span class="visually-hidden"> 第三项</span>' in chinese and "展开全文" in chinese
    assert '<span class="visually-hidden"> Item 3</span>' in english and "展开全文" not in english
    assert 'id="id_choices_2"' in chinese and 'id="id_choices_2"' in english


@override_settings(SITE_CONTACT_PHONE="0533-3181234", SITE_ICP_RECORD="鲁ICP备05012345号")
def test_a_refused_request_first_does_not_become_everyones_footer(client, poll):
    # The 400 page is drawn before the context processors, with no `office` to show.
    assert client.get("/verify/?x=%00").status_code == 400
    assert client.get("/en/?x=%00").status_code == 400
    for path in ["/verify/", "/en/"]:
        html = text(client.get(path))
        assert 'href="tel:05333181234"' in html and "鲁ICP备05012345号" in html, path


def test_the_ballots_template_work_does_not_grow_with_its_entries(citizen, poll, monkeypatch):
    from django.template.base import VariableNode

    rendered = record_calls(monkeypatch, VariableNode, "render")
    page = citizen.get("/vote/?choices=3").content.decode()
    fifteen = len(rendered)
    assert fifteen > 0  # the page's own variables are counted
    assert page.count('name="choices"') == 15 and 'value="3" id="id_choices_2" checked' in page
    Reform.objects.filter(number__gt=5).update(published=False)
    page_cache.invalidate()
    rendered.clear()
    page = citizen.get("/vote/").content.decode()
    assert page.count('name="choices"') == 5
    assert len(rendered) == fifteen  # the boxes are written in Python, not a node each
