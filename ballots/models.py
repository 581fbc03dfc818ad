from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from reforms.models import Reform


class PollStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("未开始")
    OPEN = "open", _("投票中")
    CLOSED = "closed", _("已结束")


class PollQuerySet(models.QuerySet):
    def open(self, now=None):
        now = now or timezone.now()
        return self.filter(opens_at__lte=now, closed_at__isnull=True).filter(
            Q(closes_at__isnull=True) | Q(closes_at__gt=now)
        )

    def current(self, now=None):
        """The poll the home page presents: the latest open one, else the latest of all."""
        return self.open(now).order_by("-opens_at").first() or self.order_by("-opens_at").first()


class Poll(models.Model):
    title = models.CharField(_("标题"), max_length=200)
    slug = models.SlugField(
        _("代号"),
        unique=True,
        help_text=_("英文字母、数字和连字符，用于命令行导出和关闭投票，例如 reform-2016。"),
    )
    intro = models.TextField(_("说明"), blank=True)
    reforms = models.ManyToManyField(Reform, verbose_name=_("参评条目"), related_name="polls")
    opens_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    closes_at = models.DateTimeField(
        _("截止时间"),
        null=True,
        blank=True,
        help_text=_("北京时间。留空表示一直开放，直到工作人员结束投票。"),
    )
    max_choices = models.PositiveSmallIntegerField(
        _("每票最多可选"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("一张选票最多可以选择的条目数。"),
    )
    results_visible_while_open = models.BooleanField(
        _("投票期间公开结果"),
        default=False,
        help_text=_("勾选后，投票进行中也显示各条目票数；否则只显示参与人数，结束后公布结果。"),
    )
    closed_at = models.DateTimeField(_("结束于"), null=True, blank=True, editable=False)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("结束操作人"),
        # Who closed a poll is part of its record: deactivate such an account, never delete it.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    objects = PollQuerySet.as_manager()

    class Meta:
        ordering = ["-opens_at"]
        verbose_name = _("投票活动")
        verbose_name_plural = _("投票活动")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_choices__gte=1), name="ballots_poll_max_choices_positive"
            ),
            models.CheckConstraint(
                condition=Q(closes_at__isnull=True) | Q(closes_at__gt=models.F("opens_at")),
                name="ballots_poll_closes_after_opens",
            ),
            models.CheckConstraint(
                # closed_by may stay empty when the poll was closed from the command line.
                condition=Q(closed_by__isnull=True) | Q(closed_at__isnull=False),
                name="ballots_poll_closed_by_only_when_closed",
            ),
        ]

    def __str__(self):
        return self.title

    def status_at(self, now):
        if self.closed_at is not None or (self.closes_at is not None and now >= self.closes_at):
            return PollStatus.CLOSED
        if now < self.opens_at:
            return PollStatus.SCHEDULED
        return PollStatus.OPEN

    @cached_property
    def status(self):
        # Read once per instance, so one page never shows two statuses across a boundary.
        return self.status_at(timezone.now())

    @property
    def status_label(self):
        return PollStatus(self.status).label

    @property
    def ended_at(self):
        """When voting stopped: staff's close, or the scheduled end if that came first."""
        if self.closed_at is not None and self.closes_at is not None:
            return min(self.closed_at, self.closes_at)
        return self.closed_at or self.closes_at
