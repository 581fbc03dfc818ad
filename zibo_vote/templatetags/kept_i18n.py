"""Django's i18n tag library, with `{% translate "a literal" %}` kept per language (issue 15).

settings.TEMPLATES names this module as the `i18n` library, so `{% load i18n %}` loads it in
every template, the admin's included. Every tag and filter is Django's; only a translate of a
quoted string with no filter, no context and no `as` is rendered once for each language (and
autoescaping) and kept on the node: it is the same text on every request, and the pages have
about fifty of them a flow (gettext on each: a twentieth of a flow's template time). A
changed setting (a test's LOCALE_PATHS) forgets what was kept, as for the `{% fixed %}` parts;
a new .mo file is read when the server starts again (gunicorn, as `make run` serves; runserver
reloads a catalogue in place, and its kept text then only after a restart).
"""

from django import template
from django.templatetags import i18n

from .fixed import LANGUAGE, URL_CONTEXT, Keeping, render_language
from .kept import is_constant

register = template.Library()
register.tags.update(i18n.register.tags)
register.filters.update(i18n.register.filters)


class KeptTranslateNode(Keeping, i18n.TranslateNode):
    def __init__(self, filter_expression, noop):
        super().__init__(filter_expression, noop)
        self.start_keeping()

    def render(self, context):
        key = (render_language(context), context.autoescape)
        try:
            return self.rendered[key]
        except KeyError:
            return self.keep(key, super().render(context))


@register.tag("translate")
@register.tag("trans")
def translate(parser, token):
    node = i18n.do_translate(parser, token)
    if node.asvar is None and node.message_context is None and is_constant(node.filter_expression):
        return KeptTranslateNode(node.filter_expression, node.noop)
    return node


class LanguageNode(i18n.LanguageNode):
    """Django's `{% language %}`: the kept parts inside it look up the language it sets."""

    def render(self, context):
        state = context.render_context.dicts[-1]
        outside = {name: state.pop(name) for name in (LANGUAGE, URL_CONTEXT) if name in state}
        try:
            return super().render(context)
        finally:
            for name in (LANGUAGE, URL_CONTEXT):
                state.pop(name, None)
            state.update(outside)


@register.tag("language")
def language(parser, token):
    node = i18n.language(parser, token)
    return LanguageNode(node.nodelist, node.language)
