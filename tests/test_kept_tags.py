"""Django's {% translate %}, {% url %} and {% extends %} with what is the same on every request
kept (zibo_vote/templatetags/kept.py, kept_i18n.py): the same HTML as Django's, each language
and each mounting its own, and the work done once, not on every render."""

import pytest
from django.conf import settings
from django.template import Context, Engine, Template, engines
from django.template.base import NodeList
from django.templatetags import i18n
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, set_script_prefix
from django.utils import translation

from zibo_vote.templatetags import fixed, kept, kept_i18n

from .conftest import record_calls


def render(source, language="zh-hans", autoescape=True, **context):
    with translation.override(language):
        return Template(source).render(Context(context, autoescape=autoescape))


def render_in(template, language):
    with translation.override(language):
        return template.render(Context())


def test_a_literal_translate_is_translated_once_a_language(monkeypatch):
    template = Template('{% load i18n %}<b>{% translate "投票" %}</b>')
    calls = record_calls(monkeypatch, i18n.TranslateNode, "render")
    rendered = []
    for language in ["zh-hans", "en", "zh-hans", "en", "zh-hans"]:
        with translation.override(language):
            rendered.append(template.render(Context()))
    assert rendered == ["<b>投票</b>", "<b>Vote</b>"] * 2 + ["<b>投票</b>"]
    assert len(calls) == 2  # Django's rendering once for each language, then kept


def test_the_kept_tags_look_up_the_language_once_for_a_template(monkeypatch):
    template = Template("{% load i18n %}" + '{% translate "投票" %}{% url "ballots:verify" %}' * 10)
    assert render_in(template, "en") == "Vote/en/verify/" * 10  # kept from now on
    assert render_in(template, "zh-hans") == "投票/verify/" * 10
    looked_up = record_calls(monkeypatch, translation._trans, "get_language")
    assert render_in(template, "en") == "Vote/en/verify/" * 10
    assert render_in(template, "zh-hans") == "投票/verify/" * 10
    # Once a render (and once by translation.override), where each of the twenty tags looked
    # the context-local up (3 µs each).
    assert len(looked_up) == 2 + 2


@pytest.mark.parametrize(
    "source",
    [
        '{% translate "<a> & 100%% b" %}',  # a literal is safe; %% is one % after translating
        '{% trans "结果" %}',
        '{% translate "结果" noop %}',
        '{% translate "投票" %}{% autoescape off %}{% translate "投票" %}{% endautoescape %}',
        # Inside {% language %} the kept tags speak its language, and after it the page's again.
        '{% translate "投票" %}{% url "ballots:verify" %}{% language "en" %}{% translate "投票" %}'
        '{% url "ballots:verify" %}{% language "zh-hans" %}{% translate "结果" %}{% endlanguage %}'
        '{% translate "结果" %}{% endlanguage %}{% translate "结果" %}{% url "ballots:vote" %}',
    ],
)
def test_what_a_kept_translate_shows_is_what_django_s_shows(source):
    django_s = Engine(libraries={"i18n": "django.templatetags.i18n"})  # Django's, not the site's
    ours, theirs = (
        Template("{% load i18n %}" + source),
        django_s.from_string("{% load i18n %}" + source),
    )
    # The same parsed template rendered again: the second time in each case is what was kept.
    for language in ["zh-hans", "en", "zh-hans", "en"]:
        for autoescape in [True, False, True]:
            with translation.override(language):
                expected = theirs.render(Context(autoescape=autoescape))
                assert ours.render(Context(autoescape=autoescape)) == expected


@pytest.mark.parametrize(
    ("source", "english"),
    [
        ("{% translate word %}", "Results"),
        ('{% translate "投票"|upper %}', "VOTE"),
        ('{% translate "投票" as label %}[{{ label }}]', "[Vote]"),
        ('{% translate "投票" context "no such context" %}', "投票"),
    ],
)
def test_a_translate_of_anything_but_a_plain_literal_is_django_s(source, english):
    template = Template("{% load i18n %}" + source)
    nodes = template.nodelist.get_nodes_by_type(i18n.TranslateNode)
    assert nodes and not isinstance(nodes[0], kept_i18n.KeptTranslateNode)
    for word in ["结果", "结果"]:
        with translation.override("en"):
            assert template.render(Context({"word": word})) == english


def test_an_argument_less_url_is_reversed_once_for_each_language_and_mounting(monkeypatch):
    import django.urls

    template = Template("{% url 'ballots:results' %}")
    calls = record_calls(monkeypatch, django.urls, "reverse")
    seen = []
    try:
        for language, prefix in [("zh-hans", "/"), ("en", "/"), ("zh-hans", "/zibo/")] * 2:
            set_script_prefix(prefix)
            with translation.override(language):
                seen.append(template.render(Context()))
    finally:
        set_script_prefix("/")
    assert seen == ["/results/", "/en/results/", "/zibo/results/"] * 2
    assert len(calls) == 3


def test_the_current_application_is_part_of_what_a_url_is_kept_for(monkeypatch):
    import django.urls

    template = engines["django"].from_string("{% url 'ballots:results' %}")
    calls = record_calls(monkeypatch, django.urls, "reverse")
    request = RequestFactory().get("/")
    for app in ["ballots", "record", "ballots"]:
        request.current_app = app
        assert template.render({}, request) == "/results/"
    assert len(calls) == 2


def test_a_url_with_arguments_or_a_variable_s_name_is_django_s():
    for source in ["{% url name %}", "{% url 'a' 1 %}", "{% url 'a' pk=1 as link %}"]:
        node = Template(source).nodelist[0]
        assert not isinstance(node, kept.KeptURLNode), source
    assert render("{% url name %}", name="ballots:privacy") == "/privacy/"


def test_a_url_stored_as_a_variable_is_kept_and_stored_each_time(monkeypatch):
    import django.urls

    template = Template("{% url 'ballots:results' as link %}[{{ link }}]")
    assert isinstance(template.nodelist[0], kept.KeptURLNode)
    calls = record_calls(monkeypatch, django.urls, "reverse")
    seen = [render_in(template, language) for language in ["en", "zh-hans", "en", "zh-hans"]]
    assert seen == ["[/en/results/]", "[/results/]"] * 2 and len(calls) == 2
    # As Django's: a view that does not exist leaves the variable empty, no error.
    assert render("{% url 'ballots:nowhere' as link %}[{{ link }}]") == "[]"


def test_a_url_that_does_not_exist_is_refused_every_time():
    template = Template("{% url 'ballots:nowhere' %}")
    for _ in range(2):
        with pytest.raises(NoReverseMatch):
            template.render(Context())


@pytest.mark.django_db
def test_the_root_template_s_blocks_are_found_once(monkeypatch, rf):
    page = engines["django"].from_string(
        "{% extends 'base.html' %}{% block title %}个人信息保护说明{% endblock %}"
        "{% block content %}<p>…</p>{% endblock %}"
    )
    request = rf.get("/privacy/")
    first = page.render({}, request)
    calls = record_calls(monkeypatch, NodeList, "get_nodes_by_type")
    again = page.render({}, request)
    assert again == first
    assert "<title>个人信息保护说明" in again and '<main id="main"' in again
    assert calls == []  # Django walks base.html's nodes for its blocks on every render


def test_blocks_still_come_from_the_nearest_template_that_fills_them():
    engine = Engine(
        builtins=["zibo_vote.templatetags.kept"],
        loaders=[
            (
                "django.template.loaders.locmem.Loader",
                {
                    "root": "<{% block a %}root a{% endblock %}|{% block b %}root b{% endblock %}>",
                    "middle": "{% extends 'root' %}{% block a %}middle a{% endblock %}",
                    "leaf": "{% extends 'middle' %}"
                    "{% block b %}{{ block.super }}+leaf{% endblock %}",
                },
            )
        ],
    )
    leaf = engine.get_template("leaf")
    assert isinstance(leaf.nodelist[0], kept.KeptExtendsNode)
    assert [leaf.render(Context()) for _ in range(2)] == ["<middle a|root b+leaf>"] * 2
    assert engine.get_template("middle").render(Context()) == "<middle a|root b>"


def test_a_changed_setting_forgets_what_the_tags_kept():
    template = Template("{% load i18n %}{% translate '投票' %}{% url 'ballots:vote' %}")
    assert template.render(Context()) == "投票/vote/"
    nodes = [node for node in template.nodelist if hasattr(node, "rendered")]
    assert len(nodes) == 2 and all(node.rendered for node in nodes)
    assert all(node in fixed._nodes for node in nodes)
    with override_settings(LOCALE_PATHS=[]):
        assert not any(node.rendered for node in nodes)


def test_the_i18n_library_is_the_one_name_given_to_two_modules():
    from django.core.checks import run_checks

    def reported():
        return [m for m in run_checks(tags=["templates"]) if not m.is_silenced()]

    assert reported() == []
    libraries = {"i18n": "zibo_vote.templatetags.kept_i18n", "kept": "django.templatetags.static"}
    with override_settings(TEMPLATES=[{**settings.TEMPLATES[0], "OPTIONS": {
        **settings.TEMPLATES[0]["OPTIONS"], "libraries": libraries}}]):  # fmt: skip
        found = reported()
    assert [(m.id, m.msg.split()[0]) for m in found] == [("zibo_vote.W003", "'kept'")]
