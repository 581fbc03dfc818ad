"""Django's templates.W003, without the one library name the site replaces on purpose.

settings.TEMPLATES names zibo_vote/templatetags/kept_i18n.py as the `i18n` library (Django's
tags, with literal translations kept), and W003 warns of any name given to two modules, so it
is silenced in the settings and made again here for every other name: two apps' tag modules of
the same name are still reported, under this check's id.
"""

from collections import defaultdict

from django.core import checks
from django.template import engines
from django.template.backends.django import DjangoTemplates, get_template_tag_modules

REPLACED = {"i18n": {"django.templatetags.i18n", "zibo_vote.templatetags.kept_i18n"}}


@checks.register(checks.Tags.templates)
def check_tag_library_names(app_configs, **kwargs):
    found = []
    for engine in engines.all():
        if not isinstance(engine, DjangoTemplates):
            continue
        # As Django's DjangoTemplates._check_for_template_tags_with_the_same_name.
        modules = defaultdict(set)
        for name, path in [*get_template_tag_modules(), *engine.engine.libraries.items()]:
            modules[name].add(path)
        for name, paths in sorted(modules.items()):
            if len(paths) > 1 and REPLACED.get(name) != paths:
                listed = ", ".join(repr(path) for path in sorted(paths))
                message = f"{name!r} is used for multiple template tag modules: {listed}"
                found.append(checks.Warning(message, obj=engine, id="zibo_vote.W003"))
    return found
