"""The header, the navigation, the footer and the privacy note are rendered once a language and
kept on the template ({% fixed %}, zibo_vote/templatetags/fixed.py): each page must still show
its own language, its own current section and the settings of the moment."""

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings

from zibo_vote.templatetags import fixed

from .conftest import text

pytestmark = pytest.mark.django_db


def current_link(html):
    nav = html[html.index('<ul class="sections">') : html.index('<ul class="tools">')]
    return [item for item in nav.split("<li>") if 'aria-current="page"' in item]


def test_the_parts_are_kept_between_requests(client, poll):
    client.get("/results/")
    # The production loader (cached) keeps the parsed templates, and so the rendered parts.
    kept = {node.name: dict(node.rendered) for node in fixed._nodes if node.rendered}
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
    rendered = [template.render(Context({"value": n})) for n in range(100)]
    assert rendered == [f"[{n}]" for n in range(100)]  # past the bound: rendered, not kept
    node = next(node for node in fixed._nodes if node.name == "test")
    assert len(node.rendered) == 64


def test_a_part_without_a_name_is_refused_when_the_template_is_read():
    with pytest.raises(TemplateSyntaxError, match="takes a name"):
        Template("{% load fixed %}{% fixed %}x{% endfixed %}")
