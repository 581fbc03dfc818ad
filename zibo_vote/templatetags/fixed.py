"""`{% fixed %}`: a part of a page that is the same on every request, rendered once a language.

The site's header, its footer and the privacy notice depend on nothing but the language and the
settings (through the site's context processor), which do not change while the process runs;
rendering their dozens of nodes again on every page was about a quarter of a flow's template
time (docs/benchmark.md, "Flow CPU"). Inside the tag, use only what the settings and the
language decide, and name anything else the part shows (`{% fixed "nav" section %}`): the key
is the language and those values, so each must have few values (a section's name, a setting;
never a path, a phone or a token). A part is kept only from a page rendered for a request, so
with the context processors' values.

Kept on the template's node, so it lasts as long as the cached template loader keeps the
template (the process; in development the autoreloader resets it when a template changes).
"""

import weakref

from django import template
from django.core.signals import setting_changed
from django.utils.translation import get_language

from ..http import url_context

register = template.Library()
BOUND = 64  # what one node keeps at most: past it, a variant is rendered and not kept
_nodes = weakref.WeakSet()  # every node that keeps what it rendered (here and in kept.py)


class Keeping:
    """A node that keeps what it rendered in `self.rendered`, by key: at most BOUND variants,
    forgotten when a setting changes."""

    def start_keeping(self):
        self.rendered = {}
        _nodes.add(self)

    def keep(self, key, value):
        if len(self.rendered) < BOUND:
            self.rendered[key] = value
        return value


# Where the kept parts find the language and the URL context of the template being rendered.
LANGUAGE = "zibo_vote.language"
URL_CONTEXT = "zibo_vote.url_context"


def render_language(context):
    """get_language() for the template being rendered, looked up once. Each look-up of the
    active language is a look-up of asgiref's context-local (about 3 µs), and a page's kept
    parts ask about thirty times. The render context holds it for one template's render (an
    included template has its own); `{% language %}` (kept_i18n) begins its block without it."""
    state = context.render_context
    try:
        return state[LANGUAGE]
    except KeyError:
        state[LANGUAGE] = language = get_language()
        return language


def render_url_context(context):
    """zibo_vote.http.url_context() for the template being rendered, looked up once."""
    state = context.render_context
    try:
        return state[URL_CONTEXT]
    except KeyError:
        state[URL_CONTEXT] = where = url_context(render_language(context))
        return where


def forget(**kwargs):
    """A setting changed (tests' override_settings): what was rendered from it is stale."""
    for node in list(_nodes):
        node.rendered.clear()


setting_changed.connect(forget)


class FixedNode(Keeping, template.Node):
    def __init__(self, nodelist, name, varies_on):
        self.nodelist = nodelist
        self.name = name
        self.varies_on = varies_on
        self.start_keeping()  # (language, values…) -> the part's HTML

    def render(self, context):
        key = (render_language(context), *(value.resolve(context) for value in self.varies_on))
        try:
            return self.rendered[key]
        except KeyError:
            pass
        html = self.nodelist.render(context)  # a SafeString already, as every NodeList's
        # Only a page rendered for a request has had the context processors (the footer's
        # `office`): the 400 page, drawn before any of them, must not become everyone's footer.
        return self.keep(key, html) if context.get("request") is not None else html


@register.tag
def fixed(parser, token):
    """{% fixed "name" [value …] %} … {% endfixed %}"""
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError("{% fixed %} takes a name, then what it varies on.")
    nodelist = parser.parse(("endfixed",))
    parser.delete_first_token()
    varies_on = [parser.compile_filter(bit) for bit in bits[2:]]
    return FixedNode(nodelist, bits[1].strip("\"'"), varies_on)
