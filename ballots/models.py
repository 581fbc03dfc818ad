import secrets
from functools import partial

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from reforms.models import Reform

from . import signals


class PollNotOpen(Exception):
    """The poll has not opened yet, has passed its closing time, or was closed by staff."""

    def __init__(self, poll):
        super().__init__(f"poll {poll.slug} is {poll.status}")
        self.poll = poll


class AlreadyVoted(Exception):
    """This citizen (or this ID number) already has a ballot in this poll."""

    def __init__(self, ballot, by_id_number=False):
        super().__init__(f"already voted: {ballot.receipt}")
        self.ballot = ballot
        self.by_id_number = by_id_number


class InvalidChoices(Exception):
    """The numbers chosen are not 1 … max_choices distinct published entries of the poll."""


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

    def for_results(self, now=None):
        """The poll the results page presents: the open one, else the one that ended last.

        A poll scheduled for later has no results yet and must not hide the finished one's.
        """
        now = now or timezone.now()
        open_poll = self.open(now).order_by("-opens_at").first()
        if open_poll is not None:
            return open_poll
        ended = self.filter(Q(closed_at__isnull=False) | Q(closes_at__lte=now))
        return ended.order_by(Coalesce("closed_at", "closes_at").desc()).first()


class Poll(models.Model):
    title = models.CharField(_("标题"), max_length=200)
    slug = models.SlugField(
        _("英文标识"),
        unique=True,
        help_text=_("英文字母、数字和连字符，用于命令行导出和关闭投票，例如 reform-2016。"),
    )
    intro = models.TextField(_("说明"), blank=True)
    reforms = models.ManyToManyField(Reform, verbose_name=_("参评经验"), related_name="polls")
    opens_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    closes_at = models.DateTimeField(
        _("截止时间"),
        null=True,
        blank=True,
        help_text=_("北京时间。留空表示一直开放，直到工作人员结束投票。"),
    )
    max_choices = models.PositiveSmallIntegerField(
        _("每张选票最多可选项数"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("一张选票最多可以选择的项数。"),
    )
    require_id_number = models.BooleanField(
        _("需填写身份证号码"),
        default=False,
        help_text=_("勾选后，投票时还须填写居民身份证号码，每个号码只能投一次。"),
    )
    id_region_prefixes = models.CharField(
        _("限定身份证地区代码"),
        max_length=100,
        blank=True,
        validators=[
            RegexValidator(
                r"^\d{2,6}(,\d{2,6})*$", _("请填写2至6位数字的地区代码，多个用英文逗号分隔。")
            )
        ],
        help_text=_(
            "身份证号码须以这些数字开头，例如淄博市为 3703；多个用英文逗号分隔，留空不限。"
        ),
    )
    results_visible_while_open = models.BooleanField(
        _("投票期间公开结果"),
        default=False,
        help_text=_("勾选后，投票进行中也公布各项得票；否则只显示有效选票数，投票结束后公布结果。"),
    )
    # Running counts, kept in the ballot's own transaction (cast_ballot, Ballot.void) under the
    # poll's row lock: the public pages read them instead of counting a million rows.
    ballot_count = models.PositiveIntegerField(_("已投选票"), default=0, editable=False)
    voided_count = models.PositiveIntegerField(_("已作废选票"), default=0, editable=False)
    closed_at = models.DateTimeField(_("实际结束时间"), null=True, blank=True, editable=False)
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
                condition=Q(max_choices__gte=1),
                name="ballots_poll_max_choices_positive",
                violation_error_message=_("每张选票最多可选项数至少为1。"),
            ),
            models.CheckConstraint(
                condition=Q(closes_at__isnull=True) | Q(closes_at__gt=models.F("opens_at")),
                name="ballots_poll_closes_after_opens",
                violation_error_message=_("截止时间必须晚于开始时间。"),
            ),
            models.CheckConstraint(
                # closed_by may stay empty when the poll was closed from the command line.
                condition=Q(closed_by__isnull=True) | Q(closed_at__isnull=False),
                name="ballots_poll_closed_by_only_when_closed",
            ),
        ]
        permissions = [
            ("close_poll", _("可以结束投票")),
            ("export_tally", _("可以导出计票结果")),
        ]

    def __str__(self):
        return self.title

    # Changed only by the poll's own transactions, under its row lock (cast_ballot, voiding,
    # close, reset_counts). A plain save() of a copy loaded earlier, such as the admin's, must
    # not write its stale values back: it would undo votes from the running count, or reopen a
    # closed poll. So save() leaves them out, and refuses a copy on which they were changed.
    GUARDED_FIELDS = frozenset({"ballot_count", "voided_count", "closed_at", "closed_by"})

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is None and not self._state.adding:
            loaded = getattr(self, "_guarded_as_loaded", {})
            changed = sorted(
                attname
                for attname, value in self._guarded().items()
                if attname in loaded and loaded[attname] != value
            )
            if changed:
                raise ValueError(
                    f"Poll.save() does not write {', '.join(changed)}: they change only under "
                    "the poll's row lock (cast_ballot, close, voiding, reset_counts)."
                )
            update_fields = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.GUARDED_FIELDS
            ]
        super().save(*args, update_fields=update_fields, **kwargs)
        self._remember_guarded(update_fields)

    @classmethod
    def from_db(cls, db, field_names, values):
        poll = super().from_db(db, field_names, values)
        poll._remember_guarded()
        return poll

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using, fields, from_queryset)
        self._remember_guarded(fields)

    def _guarded(self, names=None):
        """{attname: value} of the guarded fields this instance holds (deferred ones left out)."""
        fields = [self._meta.get_field(name) for name in self.GUARDED_FIELDS]
        return {
            field.attname: self.__dict__[field.attname]
            for field in fields
            if field.attname in self.__dict__
            and (names is None or field.name in names or field.attname in names)
        }

    def _remember_guarded(self, names=None):
        self._guarded_as_loaded = {
            **getattr(self, "_guarded_as_loaded", {}),
            **self._guarded(names),
        }

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

    def is_open_at(self, now):
        return self.status_at(now) == PollStatus.OPEN

    @property
    def counted_ballots(self):
        return self.ballot_count - self.voided_count

    @property
    def region_prefixes(self):
        return tuple(p for p in self.id_region_prefixes.split(",") if p)

    def close(self, by=None):
        """Close the poll for good. Returns False if it was already closed.

        Takes the poll's row lock, the same one cast_ballot() takes: a ballot in progress
        commits before the close, and any ballot after it finds the poll closed.
        """
        with transaction.atomic():
            locked = Poll.objects.select_for_update().get(pk=self.pk)
            closed_now = locked.closed_at is None
            if closed_now:
                locked.closed_at = timezone.now()
                locked.closed_by = by
                locked.save(update_fields=["closed_at", "closed_by"])
        self.closed_at, self.closed_by_id = locked.closed_at, locked.closed_by_id
        self._remember_guarded(["closed_at", "closed_by"])
        self.__dict__.pop("status", None)
        return closed_now

    def reset_counts(self):
        """Set the running counts from a recount, under the poll's lock (no vote moves them
        meanwhile): after an upgrade in which old servers kept voting, or a bulk load."""
        from .tally import recount  # tally reads these models; imported here to keep one way

        with transaction.atomic():
            Poll.objects.select_for_update().get(pk=self.pk)
            exact = recount(self)
            VoteCount.objects.filter(poll=self).delete()
            VoteCount.objects.bulk_create(
                VoteCount(poll=self, reform=row.reform, votes=row.votes)
                for row in exact.rows
                if row.votes
            )
            Poll.objects.filter(pk=self.pk).update(
                ballot_count=exact.ballots + exact.voided, voided_count=exact.voided
            )
            transaction.on_commit(partial(signals.counts_reset.send, sender=Poll, poll=self))
        self.ballot_count, self.voided_count = exact.ballots + exact.voided, exact.voided
        self._remember_guarded(["ballot_count", "voided_count"])

    def cast_ballot(
        self, *, citizen_hash, numbers, id_number_hash=None, network="", phone_masked=""
    ):
        """Record one citizen's ballot, or raise PollNotOpen, AlreadyVoted or InvalidChoices."""
        numbers = list(numbers)
        if not numbers or len(set(numbers)) != len(numbers):
            raise InvalidChoices
        try:
            with transaction.atomic():
                # Lock the poll row first: close() takes the same lock, so this ballot either
                # commits before the poll closes or finds it closed. The time is read under the
                # lock too, so no ballot is dated after a scheduled closing time.
                poll = Poll.objects.select_for_update().get(pk=self.pk)
                now = timezone.now()
                if not poll.is_open_at(now):
                    raise PollNotOpen(poll)
                if len(numbers) > poll.max_choices:
                    raise InvalidChoices
                reforms = list(poll.reforms.published().filter(number__in=numbers))
                if len(reforms) != len(numbers):
                    raise InvalidChoices
                # One ballot per citizen is the database's unique constraint, not a prior
                # SELECT: two requests from the same citizen can both pass any check made here.
                ballot = Ballot.objects.create(
                    poll=poll,
                    citizen_hash=citizen_hash,
                    id_number_hash=id_number_hash,
                    cast_at=now,
                    receipt=new_receipt(),
                    network=network,
                    phone_masked=phone_masked,
                )
                Choice.objects.bulk_create(Choice(ballot=ballot, reform=r) for r in reforms)
                VoteCount.add(poll, [reform.pk for reform in reforms], +1)
                Poll.objects.filter(pk=poll.pk).update(ballot_count=F("ballot_count") + 1)
        except IntegrityError:
            existing = Ballot.objects.filter(poll=self, citizen_hash=citizen_hash).first()
            if existing is not None:
                raise AlreadyVoted(existing) from None
            if id_number_hash is not None:
                existing = Ballot.objects.filter(poll=self, id_number_hash=id_number_hash).first()
                if existing is not None:
                    raise AlreadyVoted(existing, by_id_number=True) from None
            raise
        return ballot

    @property
    def ended_at(self):
        """When voting stopped: staff's close, or the scheduled end if that came first."""
        if self.closed_at is not None and self.closes_at is not None:
            return min(self.closed_at, self.closes_at)
        return self.closed_at or self.closes_at


# No 0/O, 1/I/L: a receipt is read aloud over the phone and copied by hand.
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 12  # 31^12 ≈ 8·10^17: guessing someone else's receipt is hopeless


def new_receipt():
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


class VoidReason(models.TextChoices):
    STUFFING = "stuffing", _("疑似刷票")
    DUPLICATE_IDENTITY = "duplicate_identity", _("身份重复")
    TEST_DATA = "test_data", _("测试数据")
    OTHER = "other", _("其他")


class BallotQuerySet(models.QuerySet):
    def counted(self):
        return self.filter(voided_at__isnull=True)

    def void(self, *, by, reason, note=""):
        """Take these ballots out of the tally, for good, with who, when and why.

        Ballots already voided are left as they are. Returns the ids of the ballots voided.
        One transaction a poll, however many ballots: a stuffing wave is voided in a few
        statements, not a few per ballot.
        """
        now = timezone.now()
        voided = []
        polls = self.order_by().values_list("poll_id", flat=True).distinct()
        with transaction.atomic():
            # The polls' locks first, in one order, as cast_ballot() takes them: a vote and a
            # voiding never wait on each other in a circle, and under the lock no ballot of
            # the poll changes between the counting and the update below.
            for poll in Poll.objects.select_for_update().filter(pk__in=list(polls)).order_by("pk"):
                targets = self.filter(poll=poll, voided_at__isnull=True).order_by()
                ids = list(targets.values_list("pk", flat=True))
                if not ids:
                    continue
                lost = (
                    Choice.objects.filter(ballot__in=targets)
                    .order_by()
                    .values_list("reform_id")
                    .annotate(votes=Count("pk"))
                )
                for reform_id, votes in lost:
                    VoteCount.objects.filter(poll=poll, reform_id=reform_id).update(
                        votes=F("votes") - votes
                    )
                Ballot.objects.filter(pk__in=targets.values("pk")).update(
                    voided_at=now, voided_by=by, void_reason=reason, void_note=note
                )
                Poll.objects.filter(pk=poll.pk).update(voided_count=F("voided_count") + len(ids))
                voided += ids
                transaction.on_commit(
                    partial(signals.ballots_voided.send, sender=Poll, poll=poll, ballot_ids=ids)
                )
        return voided


class Ballot(models.Model):
    poll = models.ForeignKey(
        Poll, verbose_name=_("投票活动"), on_delete=models.PROTECT, related_name="ballots"
    )
    # HMAC-SHA256 of the phone number under CITIZEN_HASH_KEY (verification.identity),
    # never the number.
    citizen_hash = models.CharField(_("手机号摘要"), max_length=64)
    # NULL, not "", when the poll asks no ID: the unique constraint below skips NULLs.
    id_number_hash = models.CharField(  # noqa: DJ001
        _("身份证号摘要"), max_length=64, null=True, blank=True
    )
    # What staff may see of the number: its 号段, 1381234**** (verification.identity.mask_phone).
    phone_masked = models.CharField(_("手机号"), max_length=11, blank=True)
    cast_at = models.DateTimeField(_("投票时间"), default=timezone.now)
    receipt = models.CharField(_("回执编号"), max_length=RECEIPT_LENGTH)
    network = models.CharField(
        _("来源IP地址段"),
        max_length=50,
        blank=True,
        help_text=_("投票者IP地址所在网段（IPv4取前24位），仅供核查刷票。"),
    )
    voided_at = models.DateTimeField(_("作废时间"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("作废操作人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    void_reason = models.CharField(
        _("作废原因"), max_length=32, choices=VoidReason.choices, blank=True
    )
    void_note = models.TextField(_("作废说明"), blank=True)

    objects = BallotQuerySet.as_manager()

    class Meta:
        ordering = ["-cast_at"]
        verbose_name = _("选票")
        verbose_name_plural = _("选票")
        constraints = [
            # The rule "one ballot per citizen per poll", held by the database under any load.
            # A voided ballot keeps its place: voiding removes a vote, it does not grant another.
            models.UniqueConstraint(
                fields=["poll", "citizen_hash"], name="ballots_one_per_citizen"
            ),
            models.UniqueConstraint(
                fields=["poll", "id_number_hash"],
                condition=Q(id_number_hash__isnull=False),
                name="ballots_one_per_id_number",
            ),
            # A constraint, not unique=True: PostgreSQL would add a LIKE index nobody uses.
            models.UniqueConstraint(fields=["receipt"], name="ballots_receipt_unique"),
            models.CheckConstraint(
                condition=(
                    Q(voided_at__isnull=True, void_reason="")
                    | Q(voided_at__isnull=False) & ~Q(void_reason="")
                ),
                name="ballots_void_has_reason",
            ),
        ]
        permissions = [("void_ballot", _("可以作废选票"))]

    def __str__(self):
        return self.receipt

    def void(self, *, by, reason, note=""):
        """Take this ballot out of the tally, for good, with who, when and why.

        Returns False if it was already voided (by someone else a moment ago, say).
        """
        if not Ballot.objects.filter(pk=self.pk).void(by=by, reason=reason, note=note):
            return False
        self.refresh_from_db(fields=["voided_at", "voided_by", "void_reason", "void_note"])
        return True

    @property
    def is_voided(self):
        return self.voided_at is not None

    @property
    def receipt_display(self):
        return "-".join(self.receipt[i : i + 4] for i in range(0, len(self.receipt), 4))


class Choice(models.Model):
    ballot = models.ForeignKey(
        Ballot, verbose_name=_("选票"), on_delete=models.CASCADE, related_name="choices"
    )
    reform = models.ForeignKey(
        Reform, verbose_name=_("经验"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("所选经验")
        verbose_name_plural = _("所选经验")
        constraints = [
            models.UniqueConstraint(fields=["ballot", "reform"], name="ballots_choice_distinct"),
        ]

    def __str__(self):
        return str(self.reform)


class VoteCount(models.Model):
    """Counted votes for one entry in one poll: what the results page reads.

    Changed only inside cast_ballot() and Ballot.void(), under the poll's row lock, in the same
    transaction as the ballot itself, so it is exact, not an estimate. `manage.py check_tally`
    recounts from the ballots and compares.
    """

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="vote_counts")
    reform = models.ForeignKey(Reform, on_delete=models.PROTECT, related_name="+")
    votes = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("得票计数")
        verbose_name_plural = _("得票计数")
        constraints = [
            models.UniqueConstraint(fields=["poll", "reform"], name="ballots_one_count_per_entry"),
        ]

    def __str__(self):
        return f"{self.reform}: {self.votes}"

    @classmethod
    def add(cls, poll, reform_ids, delta):
        """Add delta to each entry's count. The caller holds the poll's row lock."""
        counts = cls.objects.filter(poll=poll, reform_id__in=reform_ids)
        if counts.update(votes=F("votes") + delta) == len(reform_ids):
            return
        # The first vote for an entry in this poll: its row does not exist yet.
        existing = set(counts.values_list("reform_id", flat=True))
        cls.objects.bulk_create(
            cls(poll=poll, reform_id=reform_id, votes=delta)
            for reform_id in reform_ids
            if reform_id not in existing
        )
