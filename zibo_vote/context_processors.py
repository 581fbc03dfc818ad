import re
from functools import lru_cache

from django.conf import settings
from django.urls import translate_url
from django.utils.translation import get_language

from .http import local_path, url_context
from .views import HOME, HTML_LANG, TEXT_SIZE_COOKIE

# The way to the other language of the same page.
SWITCH = {
    "zh-hans": {"code": "en", "lang": "en", "name": "English"},
    "en": {"code": "zh-hans", "lang": "zh-Hans", "name": "简体中文"},
}


@lru_cache(maxsize=256)
def _translated(path, code, language, script_prefix, urlconf):
    """translate_url(), which resolves the path and reverses it again (about 0.04 ms), kept for
    the paths asked most: the answer depends only on the path, the language asked for and
    http.url_context()."""
    return translate_url(path, code)


def in_language(request, code):
    """This page in the other language, with a `next` address carried over too.

    translate_url() raises on what urlsplit() cannot read (`//[`), so only paths that
    http.local_path vouches for are given to it; anything else is left behind.
    """
    where = url_context()
    path = local_path(request.path, None)
    translated = _translated(path, code, *where) if path else None
    if translated in (None, request.path):  # not a page of ours (a 404): that language's home
        return HOME[code]
    query = request.GET.copy()
    query.pop("next", None)
    target = local_path(request.GET.get("next", ""), None)
    if target:
        query["next"] = _translated(target, code, *where)
    return f"{translated}?{query.urlencode()}" if query else translated


def office():
    """The office's contact and the site's registrations, from the SITE_* settings."""
    security = settings.SITE_PUBLIC_SECURITY_RECORD
    digits = re.search(r"\d{6,}", security)
    return {
        "contact_phone": settings.SITE_CONTACT_PHONE,
        "contact_email": settings.SITE_CONTACT_EMAIL,
        "gov_id": settings.SITE_GOV_ID,
        "icp_record": settings.SITE_ICP_RECORD,
        "public_security_record": security,
        # The national registry's page for this record, which the footer must link to.
        "public_security_code": digits.group() if digits else "",
    }


def site(request):
    language = get_language() or "zh-hans"
    switch = dict(SWITCH.get(language, SWITCH["zh-hans"]))
    switch["url"] = in_language(request, switch["code"])
    return {
        "html_lang": HTML_LANG.get(language, "zh-Hans"),
        "other_language": switch,
        "large_text": request.COOKIES.get(TEXT_SIZE_COOKIE) == "large",
        "office": office(),
    }
