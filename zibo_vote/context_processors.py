from django.urls import translate_url
from django.utils.translation import get_language

from .views import TEXT_SIZE_COOKIE

# The language of each page, as the `lang` attribute spells it (BCP 47), and the way to the
# other language of the same page.
HTML_LANG = {"zh-hans": "zh-Hans", "en": "en"}
SWITCH = {
    "zh-hans": {"code": "en", "lang": "en", "name": "English"},
    "en": {"code": "zh-hans", "lang": "zh-Hans", "name": "简体中文"},
}
HOME = {"en": "/en/", "zh-hans": "/"}


def site(request):
    language = get_language() or "zh-hans"
    switch = dict(SWITCH.get(language, SWITCH["zh-hans"]))
    path = request.get_full_path()
    translated = translate_url(path, switch["code"])
    switch["url"] = translated if translated != path else HOME[switch["code"]]
    return {
        "html_lang": HTML_LANG.get(language, "zh-Hans"),
        "other_language": switch,
        "large_text": request.COOKIES.get(TEXT_SIZE_COOKIE) == "large",
        "current_url_name": getattr(request.resolver_match, "url_name", ""),
    }
