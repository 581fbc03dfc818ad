from django import template
from django.utils.translation import get_language, gettext

from reforms.models import restored_version

register = template.Library()


@register.filter
def item_label(reform):
    """第三项 in Chinese; "Item 3" in English, whose readers would not read 三."""
    if (get_language() or "zh-hans").startswith("zh"):
        return f"第{reform.numeral}项"
    return gettext("第%(number)d项") % {"number": reform.number}


@register.filter
def history_action(record):
    """What a row of an entry's history did: 恢复（自版本 #3） for a restore, else simple_history's
    已创建 / 已修改 / 已删除, with the change reason if there is one (已创建（载入公示原文）)."""
    version = restored_version(record.history_change_reason)
    if version is not None:
        return gettext("恢复（自版本 #%(version)s）") % {"version": version}
    if record.history_change_reason:
        return gettext("%(action)s（%(reason)s）") % {
            "action": record.get_history_type_display(),
            "reason": record.history_change_reason,
        }
    return record.get_history_type_display()
