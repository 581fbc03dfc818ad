from django.urls import translate_url
from django.utils.translation import get_language

from .views import HOME, HTML_LANG, TEXT_SIZE_COOKIE

# The way to the other language of the same page.
SWITCH = {
    "zh-hans": {"code": "en", "lang": "en", "name": "English"},
    "en": {"code": "zh-hans", "lang": "zh-Hans", "name": "简体中文"},
}


def in_language(request, code):
    """This page in the other language, with a `next` address carried over too."""
    translated = translate_url(request.path, code)
    if translated == request.path:  # not a page of ours (a 404): that language's home
        return HOME[code]
    query = request.GET.copy()
    if query.get("next", "").startswith("/"):
        query["next"] = translate_url(query["next"], code)
    return f"{translated}?{query.urlencode()}" if query else translated


def site(request):
    language = get_language() or "zh-hans"
    switch = dict(SWITCH.get(language, SWITCH["zh-hans"]))
    switch["url"] = in_language(request, switch["code"])
    return {
        "html_lang": HTML_LANG.get(language, "zh-Hans"),
        "other_language": switch,
        "large_text": request.COOKIES.get(TEXT_SIZE_COOKIE) == "large",
    }
