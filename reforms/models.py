import re

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

# The notice numbers its fifteen experiences 一 … 十五.
FIRST_NUMBER = 1
LAST_NUMBER = 15

_DIGITS = "零一二三四五六七八九"


def chinese_numeral(number):
    """1 → 一, 10 → 十, 15 → 十五, 20 → 二十: how the notice and citizens count."""
    if not 1 <= number <= 99:
        raise ValueError(f"no Chinese numeral for {number}")
    tens, units = divmod(number, 10)
    if tens == 0:
        return _DIGITS[units]
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[units] if units else "")


# A restore from the admin's history leaves this change reason on the history row it makes, so
# that the history page can show the row as 恢复（自版本 #3） rather than as one more 已修改. It
# is stored in Chinese whatever the page's language, like 载入公示原文: it is data, not interface.
RESTORE_REASON = "从修改记录恢复（版本 #{version}）"
_RESTORE_REASON = re.compile(r"从修改记录恢复（版本 #(\d+)）")


def restore_reason(version):
    return RESTORE_REASON.format(version=int(version))


def restored_version(change_reason):
    """3 for the change reason of a restore of version #3; None for any other change."""
    found = _RESTORE_REASON.fullmatch(change_reason or "")
    return int(found[1]) if found else None


class ReformQuerySet(models.QuerySet):
    def published(self):
        return self.filter(published=True)


class Reform(models.Model):
    number = models.PositiveSmallIntegerField(
        _("序号"),
        unique=True,
        validators=[MinValueValidator(FIRST_NUMBER), MaxValueValidator(LAST_NUMBER)],
        help_text=_("公示中的编号，1至15，网站上显示为“一”至“十五”。"),
    )
    title = models.CharField(_("标题"), max_length=200)
    unit = models.CharField(
        _("责任单位"),
        max_length=100,
        help_text=_("承担这项改革的区县或部门，例如桓台县、张店区、淄博市公安局。"),
    )
    summary = models.TextField(_("摘要"), help_text=_("列表中显示的一句话，一般为正文第一句。"))
    body = models.TextField(_("正文"), help_text=_("空一行即另起一段。"))
    published = models.BooleanField(
        _("已发布"),
        default=True,
        help_text=_("取消勾选后，该项经验不在网站上显示，群众也不能投票选择该项。"),
    )
    order = models.PositiveSmallIntegerField(
        _("显示顺序"),
        default=0,
        help_text=_("数字小的排在前面；相同时按序号排列。"),
    )

    objects = ReformQuerySet.as_manager()
    # Every change staff make is kept, with who and when, and can be restored from admin.
    history = HistoricalRecords(verbose_name=_("改革创新经验修改记录"))

    class Meta:
        ordering = ["order", "number"]
        verbose_name = _("改革创新经验")
        verbose_name_plural = _("改革创新经验")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(number__gte=FIRST_NUMBER, number__lte=LAST_NUMBER),
                name="reforms_number_in_notice_range",
                violation_error_message=_("序号须在1至15之间。"),
            ),
        ]

    def __str__(self):
        return f"{self.numeral}、{self.title}"

    def get_absolute_url(self):
        return reverse("reforms:detail", args=[self.number])

    @property
    def numeral(self):
        return chinese_numeral(self.number)

    def _neighbours(self):
        return Reform.objects.published().exclude(pk=self.pk)

    def previous_published(self):
        """The published entry shown just before this one, in display order."""
        before = models.Q(order__lt=self.order) | models.Q(order=self.order, number__lt=self.number)
        return self._neighbours().filter(before).last()

    def next_published(self):
        after = models.Q(order__gt=self.order) | models.Q(order=self.order, number__gt=self.number)
        return self._neighbours().filter(after).first()
