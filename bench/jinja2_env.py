"""The Jinja2 environment of bench/jinja2/, the flow's pages ported for bench/engines.py only.

Not the site's: nothing outside bench/ uses Jinja2, and it is no dependency of the site. What
the ports call is Django's own: reverse() for `url`, the static files' storage for `static`,
Django's gettext and ngettext behind the i18n extension (the same .mo catalogues, the same
msgids as the DTL templates'), and Django's `date`, `urlencode` and `cut` filters.
"""

from django.template.defaultfilters import cut, date, urlencode
from django.templatetags.static import static
from django.urls import reverse
from django.utils.timezone import template_localtime
from django.utils.translation import gettext, ngettext
from jinja2 import Environment


def url(name, *args, **kwargs):
    return reverse(name, args=args or None, kwargs=kwargs or None)


def local_date(value, arg=None):
    """DTL's `date`: its engine turns the value into local time first (expects_localtime)."""
    return date(template_localtime(value), arg)


def environment(**options):
    # Autoescaped, as DTL is (Django's backend asks for it too). A template's last newline kept,
    # as DTL keeps it; the rest of Jinja2's whitespace handling (no trim_blocks, no
    # lstrip_blocks) is DTL's already.
    options.pop("autoescape", None)
    env = Environment(
        autoescape=True, extensions=["jinja2.ext.i18n"], keep_trailing_newline=True, **options
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)
    env.globals.update(url=url, static=static)
    env.filters.update(date=local_date, urlencode=urlencode, cut=cut)
    return env
