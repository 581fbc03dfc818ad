from django import template
from django.utils.translation import get_language, gettext

register = template.Library()


@register.filter
def item_label(reform):
    """第三项 in Chinese; "Item 3" in English, whose readers would not read 三."""
    if (get_language() or "zh-hans").startswith("zh"):
        return f"第{reform.numeral}项"
    return gettext("第%(number)d项") % {"number": reform.number}
