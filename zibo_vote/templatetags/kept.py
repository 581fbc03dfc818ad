"""Built-in tags whose output is the same on every request, kept once worked out (issue 15).

Added to the template engine's builtins (settings.TEMPLATES), after Django's own, so they take
the place of Django's tags of the same names in every template, the admin's included; each
parses exactly as Django's and renders the same HTML:

- `{% url "name" %}` (or `{% url "name" as var %}`) of a view that takes no arguments: its
  path depends only on the language, the script prefix and the URLconf
  (`zibo_vote.http.url_context`) and on the current application's namespace, so it is
  reversed once for each of those, not on every request. Any other `{% url %}` is Django's.
- `{% extends %}`: the root template's blocks are found once per parsed template; Django walks
  all of the root's nodes for them on every render (a fifth of a millisecond a page here).

What is kept lasts as long as the cached loader keeps the template; a changed setting forgets
it, as it forgets the `{% fixed %}` parts (zibo_vote/templatetags/fixed.py).
"""

import weakref

from django import template
from django.template import defaulttags, loader_tags
from django.template.base import TextNode, Variable
from django.template.loader_tags import BLOCK_CONTEXT_KEY, BlockContext, BlockNode

from .fixed import Keeping, render_url_context

register = template.Library()


def is_constant(expression):
    """A FilterExpression that is a quoted string and nothing else: the same on every render.
    (Django keeps a quoted string as the string itself; {% translate %} makes it a Variable
    with that literal, to translate.)"""
    var = expression.var
    return not expression.filters and (
        isinstance(var, str) or (isinstance(var, Variable) and var.literal is not None)
    )


class KeptURLNode(Keeping, defaulttags.URLNode):
    """Django's URLNode for a literal view name and no arguments, shown or stored `as`."""

    def __init__(self, view_name, asvar):
        super().__init__(view_name, [], {}, asvar)
        self.start_keeping()

    def render(self, context):
        # What Django's URLNode takes as the current application, in the same way.
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        key = (*render_url_context(context), current_app, context.autoescape)
        try:
            url = self.rendered[key]
        except KeyError:
            # Django's: a NoReverseMatch raised, or with `as` the variable set to "".
            url = super().render(context)
            url = self.keep(key, context[self.asvar] if self.asvar else url)
        if self.asvar:
            context[self.asvar] = url
            return ""
        return url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    if not node.args and not node.kwargs and is_constant(node.view_name):
        return KeptURLNode(node.view_name, node.asvar)
    return node


_root_blocks = weakref.WeakKeyDictionary()  # a parsed root template → its blocks by name


def root_blocks(compiled):
    """The blocks of a template that extends no other, by name; None if it extends one."""
    try:
        return _root_blocks[compiled]
    except KeyError:
        pass
    blocks = None
    for node in compiled.nodelist:
        # As Django's ExtendsNode: the {% extends %} has to be the first non-text node.
        if not isinstance(node, TextNode):
            if not isinstance(node, loader_tags.ExtendsNode):
                blocks = {n.name: n for n in compiled.nodelist.get_nodes_by_type(BlockNode)}
            break
    _root_blocks[compiled] = blocks
    return blocks


class KeptExtendsNode(loader_tags.ExtendsNode):
    """Django's ExtendsNode.render, with the root's blocks from root_blocks()."""

    def render(self, context):
        compiled_parent = self.get_parent(context)
        if BLOCK_CONTEXT_KEY not in context.render_context:
            context.render_context[BLOCK_CONTEXT_KEY] = BlockContext()
        block_context = context.render_context[BLOCK_CONTEXT_KEY]
        block_context.add_blocks(self.blocks)
        blocks = root_blocks(compiled_parent)
        if blocks is not None:
            block_context.add_blocks(blocks)
        with context.render_context.push_state(compiled_parent, isolated_context=False):
            return compiled_parent._render(context)


@register.tag
def extends(parser, token):
    node = loader_tags.do_extends(parser, token)
    node.__class__ = KeptExtendsNode  # the same node, parsed by Django; only render differs
    return node
