import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, Mod
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from reforms.models import Reform, chinese_numeral
from zibo_vote import page_cache
from zibo_vote.statements import Prepared, PreparedInsert
from zibo_vote.tokens import random_string

from . import signals

logger = logging.getLogger(__name__)


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


class PollNotClosed(Exception):
    """A result can be certified only once voting has ended."""

    def __init__(self, poll):
        super().__init__(f"poll {poll.slug} is {poll.status}, not closed")
        self.poll = poll


class PollCertified(Exception):
    """The poll's result is certified (最终结果): nothing may change its counts any more."""

    def __init__(self, poll):
        super().__init__(f"poll {poll.slug} was certified at {poll.certified_at}")
        self.poll = poll


class PurgeNotDue(Exception):
    """The poll's personal data is still needed: its result is not certified yet (due is None),
    or PERSONAL_DATA_RETENTION_DAYS have not passed since (due: when they will have)."""

    def __init__(self, poll, due=None):
        super().__init__(
            f"personal data of poll {poll.slug} is kept until {due or 'certification'}"
        )
        self.poll = poll
        self.due = due

    @property
    def message(self):
        if self.due is None:
            return _("“%(poll)s”尚未确认最终结果，个人信息须保留至确认后%(days)d天。") % {
                "poll": self.poll.slug,
                "days": settings.PERSONAL_DATA_RETENTION_DAYS,
            }
        return _("“%(poll)s”的个人信息保留期尚未届满，北京时间%(due)s起方可清除。") % {
            "poll": self.poll.slug,
            "due": beijing_time(self.due),
        }


def beijing_time(moment):
    """A moment as the office reads it: 2026-12-02 11:30 (Beijing time, whatever TIME_ZONE)."""
    return timezone.localtime(moment, timezone.get_fixed_timezone(8 * 60)).strftime(
        "%Y-%m-%d %H:%M"
    )


@dataclass(frozen=True)
class Purged:
    """What Poll.purge_personal_data() removed: ballots cleared, codes and sessions deleted.
    changed is False when there was nothing left to remove (a second run)."""

    ballots: int
    codes: int
    sessions: int
    at: object  # when the poll's personal data was (first) purged
    changed: bool


class PollStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("未开始")
    OPEN = "open", _("投票中")
    # Voting has ended; the result is 初步结果 during the 公示期, until staff certify it.
    CLOSED = "closed", _("公示中")
    CERTIFIED = "certified", _("已确认")


class PollQuerySet(models.QuerySet):
    def open(self, now=None):
        now = now or timezone.now()
        return self.filter(opens_at__lte=now, closed_at__isnull=True).filter(
            Q(closes_at__isnull=True) | Q(closes_at__gt=now)
        )

    def current(self, now=None):
        """The poll the home page presents: the latest open one, else the latest of all."""
        return self.open(now).order_by("-opens_at").first() or self.order_by("-opens_at").first()

    def current_kept(self):
        """current(), as the public pages ask for it on every request: kept a second in each
        worker (zibo_vote.page_cache.kept). The kept poll's status is computed when asked, so a
        scheduled closing time holds to the instant; which poll is current follows a change
        within that second."""
        return page_cache.kept("current-poll", self.current)

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

    def with_counts(self):
        """The polls with their ballot counts summed in the same query (for lists of polls)."""
        shards = BallotCount.objects.filter(poll=OuterRef("pk")).order_by().values("poll")
        return self.annotate(
            cast_total=Coalesce(Subquery(shards.annotate(n=Sum("ballots")).values("n")), 0),
            voided_total=Coalesce(Subquery(shards.annotate(n=Sum("voided")).values("n")), 0),
        )

    # The poll's row lock: ballots share it, changes to the poll take it alone. PostgreSQL's
    # behaviour this relies on is in docs/voting.md ("Locks"); tests/test_concurrency.py shows it.

    def get_for_ballot(self, pk):
        """The poll, its row locked FOR SHARE until the transaction ends: what a ballot takes.

        Ballots do not conflict with one another (they share the lock and write no row in
        common: the counts they add to are sharded), so a city's ballots are cast side by side.
        FOR SHARE conflicts with FOR UPDATE (select_for_change()) and with any UPDATE of the
        row: a change to the poll waits for the ballots in progress, and a ballot that comes
        after it sees it. The ORM has no FOR SHARE: it is put after the ORM's SELECT. SQLite has
        no row locks: there each transaction is IMMEDIATE, so ballots are cast one at a time,
        which is just as exact. Compiled once (zibo_vote.statements), as a ballot's INSERTs are.
        """
        share = connections[self.db].vendor == "postgresql"
        found = (_POLL_FOR_SHARE if share else _POLL_BY_ID).rows(self.db, pk)
        if not found:
            raise self.model.DoesNotExist(f"no poll {pk}")
        return self.model.from_db(self.db, _POLL_COLUMNS, found[0])

    def select_for_change(self):
        """select_for_update(), once the ballots in progress have committed; new ones wait.

        For close(), voiding, reset_counts(), certification: whatever must see no ballot in
        progress. Inside transaction.atomic() only. FOR UPDATE alone could wait for minutes:
        PostgreSQL lets a new FOR SHARE locker take a row that is only share-locked at once,
        even while a FOR UPDATE waits, so with ballots arriving all the time the row is never
        free (measured: a close behind 32 busy writers waited 202 s). Table locks, unlike row
        locks, queue in order: the EXCLUSIVE lock on the poll table waits for the ballots in
        progress (each holds the table's ROW SHARE lock from its FOR SHARE to its commit),
        ballots that arrive meanwhile queue behind it, and plain reads go on. Then the row's
        FOR UPDATE is free. Ballots of every poll wait for that moment: a change to a poll is
        rare and short.
        """
        lock_out_ballots(self.db)
        return self.select_for_update()


def lock_out_ballots(using):
    """Wait until no ballot is in progress, and keep new ones waiting until the transaction ends
    (PollQuerySet.select_for_change() says why). Nothing to do on SQLite, whose IMMEDIATE
    transactions already exclude every other writer."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(Poll._meta.db_table)} IN EXCLUSIVE MODE"
            )


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
    publicity_ends_at = models.DateTimeField(
        _("公示期截止时间"),
        null=True,
        blank=True,
        help_text=_(
            "北京时间。投票结束后，结果在公示期内为初步结果，公示期满后由工作人员确认最终结果。"
        ),
    )
    certified_at = models.DateTimeField(_("结果确认时间"), null=True, blank=True, editable=False)
    certified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("结果确认人"),
        # As with closed_by: who certified a result is part of its public record.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    # Set by purge_personal_data(): from then on the ballots hold no personal data.
    personal_data_purged_at = models.DateTimeField(
        _("个人信息清除时间"), null=True, blank=True, editable=False
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
            models.CheckConstraint(
                condition=Q(certified_by__isnull=True) | Q(certified_at__isnull=False),
                name="ballots_poll_certified_by_only_when_certified",
            ),
        ]
        permissions = [
            ("close_poll", _("可以结束投票")),
            ("export_tally", _("可以导出计票结果")),
            ("certify_poll", _("可以确认最终结果")),
        ]

    def __str__(self):
        return self.title

    # Changed only by the poll's own transactions, under its row lock (close, certify). A plain
    # save() of a copy loaded earlier, such as the admin's, must not write its stale values back:
    # it would reopen a closed poll or undo a certification. So save() leaves them out, and
    # refuses a copy on which they were changed. (The counts are not columns of the poll at
    # all: see ballot_count below.)
    # personal_data_purged_at likewise: a stale copy must not take back the purge's mark.
    GUARDED_FIELDS = frozenset(
        {"closed_at", "closed_by", "certified_at", "certified_by", "personal_data_purged_at"}
    )

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
                    "the poll's row lock (close, certify, purge_personal_data)."
                )
            update_fields = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.GUARDED_FIELDS
            ]
        with transaction.atomic(using=kwargs.get("using"), savepoint=False):
            if not self._state.adding:
                # An UPDATE of the row waits for the ballots holding it FOR SHARE, and would
                # wait as long as a FOR UPDATE does while ballots keep arriving (see
                # select_for_change()): staff saving the poll during the voting would hang.
                lock_out_ballots(kwargs.get("using") or self._state.db)
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
        self.__dict__.pop("ballot_totals", None)

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
        if self.certified_at is not None:
            return PollStatus.CERTIFIED
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

    def published_entries(self):
        """The poll's published entries in the ballot's order, as the ballot and its review
        show them: kept a second in each worker (zibo_vote.page_cache.kept), like the poll.
        cast_ballot reads them again under the lock, so an entry withdrawn within that second
        is refused there (InvalidChoices), never counted."""
        return page_cache.kept(f"poll-entries:{self.pk}", lambda: list(self.reforms.published()))

    @cached_property
    def ballot_totals(self):
        """(ballots cast, ballots voided): the sums of the poll's BallotCount shards, read once
        per instance (refresh_from_db() reads them again), or from with_counts()."""
        if "cast_total" in self.__dict__:
            return self.cast_total, self.voided_total
        return BallotCount.totals(self)

    @property
    def ballot_count(self):
        """Every ballot cast, voided ones included."""
        return self.ballot_totals[0]

    @property
    def voided_count(self):
        return self.ballot_totals[1]

    @property
    def has_ended(self):
        """Voting is over: the result is public (初步结果 or 最终结果)."""
        return self.status in (PollStatus.CLOSED, PollStatus.CERTIFIED)

    @property
    def is_certified(self):
        return self.certified_at is not None

    @property
    def counted_ballots(self):
        return self.ballot_count - self.voided_count

    @property
    def region_prefixes(self):
        return tuple(p for p in self.id_region_prefixes.split(",") if p)

    def close(self, by=None):
        """Close the poll for good. Returns False if it was already closed.

        Takes the poll's row FOR UPDATE, which conflicts with the FOR SHARE every ballot takes:
        a ballot in progress commits before the close, and any ballot after it finds the poll
        closed. (The poll's save() sends post_save on commit: the pages' cache follows.)
        """
        with transaction.atomic():
            locked = Poll.objects.select_for_change().get(pk=self.pk)
            closed_now = locked.closed_at is None
            if closed_now:
                locked.closed_at = timezone.now()
                locked.closed_by = by
                locked.save(update_fields=["closed_at", "closed_by"])
            if closed_now:
                logger.info("Poll %s closed by %s", self.slug, by or "the command line")
                transaction.on_commit(partial(signals.poll_closed.send, sender=Poll, poll=locked))
        self.closed_at, self.closed_by_id = locked.closed_at, locked.closed_by_id
        self._remember_guarded(["closed_at", "closed_by"])
        self.__dict__.pop("status", None)
        return closed_now

    def certify(self, by=None):
        """Make the result final (确认最终结果). Returns False if it was already certified.

        Raises PollNotClosed while voting is still open (or has not started). From then on
        nothing changes the counts: a voiding is refused (BallotQuerySet.void).
        """
        with transaction.atomic():
            # FOR UPDATE (after the ballots in progress), as close() and voiding take it: a
            # voiding in progress commits before the certification and is counted in it, and
            # any voiding after finds it certified. The time is read under the lock, so the
            # certification follows the close.
            locked = Poll.objects.select_for_change().get(pk=self.pk)
            now = timezone.now()
            if locked.certified_at is not None:
                certified_now = False
            elif locked.status_at(now) != PollStatus.CLOSED:
                raise PollNotClosed(locked)
            else:
                certified_now = True
                locked.certified_at = now
                locked.certified_by = by
                locked.save(update_fields=["certified_at", "certified_by"])
                logger.warning(
                    "Poll %s certified (最终结果) by %s", self.slug, by or "the command line"
                )
                transaction.on_commit(
                    partial(signals.poll_certified.send, sender=Poll, poll=locked)
                )
        self.certified_at, self.certified_by_id = locked.certified_at, locked.certified_by_id
        self._remember_guarded(["certified_at", "certified_by"])
        self.__dict__.pop("status", None)
        return certified_now

    @property
    def personal_data_due(self):
        """When the ballots' personal data may be purged, or None while the result is not
        certified: the certification plus PERSONAL_DATA_RETENTION_DAYS."""
        if self.certified_at is None:
            return None
        return self.certified_at + timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS)

    def purge_personal_data(self, by=None, now=None):
        """Remove the personal data the poll no longer needs (PIPL Art. 19, 47), for good.

        The purpose it was kept for, one ballot per person and fraud review, ends with the
        certified result and its retention period. Clears Ballot.PERSONAL_FIELDS on every
        ballot of the poll (one UPDATE), deletes the SMS codes of its citizens and the stored
        sessions that carry one of them; receipts, choices, counts, voidings and the public
        record stay. Raises PurgeNotDue before then. Idempotent: a second run removes nothing
        and returns changed=False, logging nothing. Returns a Purged with the counts, which go
        to the admin log (by, or the inactive "housekeeping" account from the command line).
        docs/privacy.md says what is kept where and why.
        """
        from verification.models import VerificationCode

        now = now or timezone.now()
        with transaction.atomic():
            # The poll's row FOR UPDATE: the certification read here is the committed one (a
            # certify() in progress holds the row), and two purges of one poll (the timer and
            # staff) run one after the other, the second finding nothing left. Not
            # select_for_change(): its table lock would hold up the ballots of every open poll
            # for as long as this poll's million-row UPDATE takes, and a certified poll has no
            # ballot or voiding in progress to wait for (they are refused once it is certified).
            locked = Poll.objects.select_for_update().get(pk=self.pk)
            due = locked.personal_data_due
            if due is None or now < due:
                raise PurgeNotDue(locked, due)
            ballots = Ballot.objects.filter(poll=locked)
            hashes = ballots.filter(citizen_hash__isnull=False).values("citizen_hash")
            # Codes are not per poll: those of the poll's citizens go, by the hash the code
            # rows carry (the same keyed hash as Ballot.citizen_hash); others stay.
            codes, _kinds = VerificationCode.objects.filter(phone_hash__in=hashes).delete()
            sessions = _delete_sessions_of(ballots)
            cleared = ballots.filter(Ballot.holds_personal_data()).update(**Ballot.purged_values())
            # The stored review names networks and 号段 (ballots.review).
            ReviewSnapshot.objects.filter(poll=locked).delete()
            first = locked.personal_data_purged_at is None
            changed = first or bool(cleared or codes or sessions)
            if first:
                # An UPDATE of the row we hold, not save(): save() takes the table lock above.
                Poll.objects.filter(pk=locked.pk).update(personal_data_purged_at=now)
                locked.personal_data_purged_at = now
                transaction.on_commit(
                    partial(signals.personal_data_purged.send, sender=Poll, poll=locked)
                )
            if changed:
                _log_purge(locked, by, cleared, codes, sessions)
                logger.warning(
                    "Personal data of poll %s purged by %s: %d ballots, %d codes, %d sessions",
                    locked.slug,
                    by or "the command line",
                    cleared,
                    codes,
                    sessions,
                )
        self.personal_data_purged_at = locked.personal_data_purged_at
        self._remember_guarded(["personal_data_purged_at"])
        return Purged(cleared, codes, sessions, locked.personal_data_purged_at, changed)

    def settled_marks(self):
        """(last ballot id, last voiding id, ended_at, certified_at), all committed for good.

        For the public record, which appends in batches: every ballot or voiding of this poll
        with an id up to these is committed, and any later one gets a higher id. Ballots and
        voidings take their ids while they hold the poll's row lock (ballots share it);
        select_for_change() waits for every one in progress and holds off new ones for the few
        milliseconds of two index lookups.
        """
        with transaction.atomic():
            locked = Poll.objects.select_for_change().get(pk=self.pk)
            last_ballot = (
                Ballot.objects.filter(poll=locked).order_by("-pk").values_list("pk", flat=True)
            ).first()
            last_voiding = (
                Voiding.objects.filter(poll=locked).order_by("-pk").values_list("pk", flat=True)
            ).first()
            status = locked.status_at(timezone.now())
            ended = status in (PollStatus.CLOSED, PollStatus.CERTIFIED)
        return (
            last_ballot or 0,
            last_voiding or 0,
            locked.ended_at if ended else None,
            locked.certified_at,
        )

    def reset_counts(self):
        """Set the running counts from a recount, under the poll's lock (no vote moves them
        meanwhile): after an upgrade in which old servers kept voting, or a bulk load. Each
        shard gets the count of its own ballots, as if they had been cast one by one."""
        with transaction.atomic():
            # FOR UPDATE (after the ballots in progress): no ballot adds to a shard between the
            # recount and the writing of it.
            Poll.objects.select_for_change().get(pk=self.pk)
            votes = (
                Choice.objects.filter(ballot__poll=self, ballot__voided_at__isnull=True)
                .order_by()
                .annotate(shard=shard_of("ballot_id"))
                .values_list("shard", "reform_id")
                .annotate(votes=Count("pk"))
            )
            ballots = (
                Ballot.objects.filter(poll=self)
                .order_by()
                .annotate(shard=shard_of("pk"))
                .values_list("shard")
                .annotate(cast=Count("pk"), voided=Count("pk", filter=Q(voided_at__isnull=False)))
            )
            VoteCount.objects.filter(poll=self).delete()
            BallotCount.objects.filter(poll=self).delete()
            VoteCount.objects.bulk_create(
                VoteCount(poll=self, shard=shard, reform_id=reform_id, votes=n)
                for shard, reform_id, n in votes
            )
            BallotCount.objects.bulk_create(
                BallotCount(poll=self, shard=shard, ballots=cast, voided=voided)
                for shard, cast, voided in ballots
            )
            transaction.on_commit(partial(signals.counts_reset.send, sender=Poll, poll=self))
        self.__dict__.pop("ballot_totals", None)

    def cast_ballot(
        self,
        *,
        citizen_hash,
        numbers,
        id_number_hash=None,
        network="",
        phone_masked="",
        ua_family="",
        code_sent_at=None,
    ):
        """Record one citizen's ballot, or raise PollNotOpen, AlreadyVoted or InvalidChoices."""
        numbers = list(numbers)
        if not numbers or len(set(numbers)) != len(numbers):
            raise InvalidChoices
        try:
            with transaction.atomic():
                # The poll row FOR SHARE first: close() takes it FOR UPDATE, so this ballot
                # either commits before the poll closes or finds it closed; other ballots share
                # it, so they are cast alongside this one, not after it. The time is read under
                # the lock too, so no ballot is dated after a scheduled closing time.
                poll = Poll.objects.get_for_ballot(self.pk)
                now = timezone.now()
                if not poll.is_open_at(now):
                    raise PollNotOpen(poll)
                if len(numbers) > poll.max_choices:
                    raise InvalidChoices
                # Their ids only: what the choices and the counts are written with.
                found = _chosen(len(numbers)).rows(poll._state.db, poll.pk, *numbers)
                reforms = [pk for (pk,) in found]
                if len(reforms) != len(numbers):
                    raise InvalidChoices
                # One ballot per citizen is the database's unique constraint, not a prior
                # SELECT: two requests from the same citizen can both pass any check made here.
                ballot = Ballot(
                    poll=poll,
                    citizen_hash=citizen_hash,
                    id_number_hash=id_number_hash,
                    cast_at=now,
                    receipt=new_receipt(),
                    network=network,
                    phone_masked=phone_masked,
                    ua_family=ua_family[:40],
                    seconds_from_code=(
                        max(0, int((now - code_sent_at).total_seconds()))
                        if code_sent_at is not None
                        else None
                    ),
                )
                # create() and bulk_create(), with their statements compiled once.
                alias = router.db_for_write(Ballot)
                _INSERT_BALLOT.insert(alias, [ballot])
                choices = [Choice(ballot=ballot, reform_id=pk) for pk in reforms]
                _insert_choices(len(choices)).insert(alias, choices)
                # The running counts last: their rows stay locked to the commit. The shard comes
                # from the ballot's id, which counts up, so ballots cast at the same moment add
                # to different rows (random shards would often collide), and a voiding finds
                # the shard a ballot was counted in without storing it. No ballot writes the
                # poll row: that would queue ballots again, and close() behind them.
                shard = shard_of(ballot.pk)
                count_ballot(poll, shard, reforms)
        except IntegrityError:
            existing = Ballot.objects.filter(poll=self, citizen_hash=citizen_hash).first()
            if existing is not None:
                raise AlreadyVoted(existing) from None
            if id_number_hash is not None:
                existing = Ballot.objects.filter(poll=self, id_number_hash=id_number_hash).first()
                if existing is not None:
                    raise AlreadyVoted(existing, by_id_number=True) from None
            raise
        self.__dict__.pop("ballot_totals", None)  # the counts moved
        return ballot

    def receipt_of(self, citizen_hash):
        """The receipt code of this citizen's ballot in this poll, or None: one statement,
        compiled once (the unique constraint makes it one ballot at most)."""
        found = _RECEIPT_OF.rows(self._alias, self.pk, citizen_hash)
        return found[0][0] if found else None

    @property
    def _alias(self):
        return self._state.db or Ballot.objects.db

    @property
    def ended_at(self):
        """When voting stopped: staff's close, or the scheduled end if that came first."""
        if self.closed_at is not None and self.closes_at is not None:
            return min(self.closed_at, self.closes_at)
        return self.closed_at or self.closes_at


def _delete_sessions_of(ballots):
    """Delete the stored sessions verified for (or waiting for a code to) a citizen of these
    ballots; returns how many. Only stored sessions (the db and cached_db engines) can be
    found: with the cache engine they are in Redis, which ends them by itself after
    SESSION_COOKIE_AGE (9 hours), long before any purge is due."""
    from django.contrib.sessions.models import Session

    from verification.services import CITIZEN, PENDING

    if settings.SESSION_ENGINE not in (
        "zibo_vote.sessions",
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    ):
        return 0
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    by_hash = {}
    # The session table holds a working day's sessions at most (clearsessions runs daily).
    for session in Session.objects.iterator(chunk_size=2000):
        data = session.get_decoded()
        for key, name in ((CITIZEN, "hash"), (PENDING, "phone_hash")):
            value = data.get(key)
            if isinstance(value, dict) and isinstance(value.get(name), str):
                by_hash.setdefault(value[name], set()).add(session.session_key)
    keys = set()
    candidates = list(by_hash)
    for start in range(0, len(candidates), 500):
        found = ballots.filter(citizen_hash__in=candidates[start : start + 500])
        for citizen in found.values_list("citizen_hash", flat=True):
            keys |= by_hash[citizen]
    for key in keys:
        store(session_key=key).delete()  # the cached copy too, with cached_db
    return len(keys)


def _log_purge(poll, by, ballots, codes, sessions):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.auth import get_user_model

    if by is None:
        by, created = get_user_model().objects.get_or_create(
            username=HOUSEKEEPING_USERNAME, defaults={"is_active": False}
        )
        if created:
            by.set_unusable_password()
            by.save(update_fields=["password"])
    message = _("清除个人信息：选票%(ballots)d张，验证码%(codes)d条，会话%(sessions)d个。") % {
        "ballots": ballots,
        "codes": codes,
        "sessions": sessions,
    }
    LogEntry.objects.log_actions(by.pk, [poll], CHANGE, str(message), single_object=True)


# The account the admin log names for what the scheduled housekeeping did: inactive, no password.
HOUSEKEEPING_USERNAME = "housekeeping"


# No 0/O, 1/I/L: a receipt is read aloud over the phone and copied by hand.
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 12  # 31^12 ≈ 8·10^17: guessing someone else's receipt is hopeless


def new_receipt():
    return random_string(RECEIPT_LENGTH, RECEIPT_ALPHABET)


class VoidReason(models.TextChoices):
    STUFFING = "stuffing", _("疑似刷票")
    DUPLICATE_IDENTITY = "duplicate_identity", _("身份重复")
    TEST_DATA = "test_data", _("测试数据")
    OTHER = "other", _("其他")


def polls_freezing(reforms):
    """The polls that hold `reforms` (entries or their ids) and have opened: their entries are
    frozen (the admin makes a started poll's 参评经验 read-only), so none of them may be deleted.
    A closed poll counts too: its published result names its entries."""
    now = timezone.now()
    return (
        Poll.objects.filter(reforms__in=reforms)
        .filter(Q(opens_at__lte=now) | Q(closed_at__isnull=False))
        .distinct()
    )


def frozen_entry_refusals(reforms):
    """Why each of `reforms` cannot be deleted, one sentence per entry and poll ([] if none)."""
    through = Poll.reforms.through
    polls = {poll.pk: poll for poll in polls_freezing(reforms)}
    links = through.objects.filter(poll__in=polls, reform__in=reforms).select_related("reform")
    return [
        _(
            "“%(reform)s”是投票活动“%(poll)s”（%(status)s）的参评经验。投票开始后参评经验"
            "不能删除；如需不再显示，请使用“撤回发布”。"
        )
        % {
            "reform": link.reform,
            "poll": polls[link.poll_id],
            "status": polls[link.poll_id].status_label,
        }
        for link in links.order_by("reform__number", "poll_id")
    ]


def refuse_deleting_frozen_entry(sender, instance, **kwargs):
    """pre_delete of a Reform, whatever the path (admin, shell, queryset.delete())."""
    refusals = frozen_entry_refusals([instance.pk])
    if refusals:
        raise models.ProtectedError(str(refusals[0]), set(polls_freezing([instance.pk])))


class ReviewSnapshot(models.Model):
    """A poll's fraud review as last computed (ballots.review.stored_review), one row a poll.

    The review's aggregates read every counted ballot: about 25 s at 1,000,000 ballots on
    PostgreSQL. The admin's 审核 page reads this row instead, which `manage.py review_poll`
    (every 5 minutes from the review timer) or the page itself keeps fresh: the page computes
    afresh when the row is missing or older than REVIEW_SNAPSHOT_SECONDS, and a voiding deletes
    it. It holds networks and 号段, so the purge of personal data deletes it.
    """

    poll = models.OneToOneField(
        Poll, verbose_name=_("投票活动"), on_delete=models.CASCADE, related_name="review_snapshot"
    )
    computed_at = models.DateTimeField(_("统计时间"))
    data = models.JSONField(_("审核数据"))

    class Meta:
        verbose_name = _("审核统计")
        verbose_name_plural = _("审核统计")

    def __str__(self):
        return str(self.poll)


class Voiding(models.Model):
    """One voiding: ballots of one poll taken out of the tally together, by whom, when and why.

    Public in its outline (when, how many, the reason's category: the results page and the
    public record show it); the note is for staff. Issue 14 adds the cluster's description.
    """

    poll = models.ForeignKey(
        Poll, verbose_name=_("投票活动"), on_delete=models.PROTECT, related_name="voidings"
    )
    at = models.DateTimeField(_("作废时间"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("作废操作人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("作废原因"), max_length=32, choices=VoidReason.choices)
    note = models.TextField(_("作废说明"), blank=True)
    count = models.PositiveIntegerField(_("作废张数"))
    # The cluster's public description (issue 14): the span of the voided ballots' cast times,
    # computed at void time, and the review rule that found it (a category, never a network or
    # a 号段). Empty for a voiding made from the ballot list without a flag.
    first_cast_at = models.DateTimeField(_("最早投票时间"), null=True, blank=True)
    last_cast_at = models.DateTimeField(_("最晚投票时间"), null=True, blank=True)
    rule = models.CharField(_("审核规则"), max_length=32, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("作废记录")
        verbose_name_plural = _("作废记录")

    def __str__(self):
        return _("第%(number)d批作废") % {"number": self.pk}

    @property
    def rule_label(self):
        from .review import RULES

        return RULES.get(self.rule, "")

    def public(self):
        """What the public review says of this batch: no network, no 号段, no note."""
        return {
            "at": self.at,
            "count": self.count,
            "reason": self.reason,
            "rule": self.rule,
            "first_cast_at": self.first_cast_at,
            "last_cast_at": self.last_cast_at,
        }


def grouped_receipt(code):
    """A receipt code as it is shown and read out: ABCD-EFGH-JKMN."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class Receipt:
    """A ballot as its receipt shows it (ballots/receipt.html)."""

    code: str
    cast_at: datetime
    entries: tuple  # (numeral, title) of each entry chosen, in their numbers' order

    @property
    def receipt_display(self):
        return grouped_receipt(self.code)

    @classmethod
    def of(cls, code, using=None):
        """The ballot with this receipt code, or None. One statement (the ballot's time with
        its entries' numbers and titles), compiled once, and no model built: the receipt is
        the last page of every citizen's flow, and needs neither the poll nor the entries'
        texts."""
        rows = _RECEIPT.rows(using or Ballot.objects.db, code)
        if not rows:
            return None
        entries = tuple((chinese_numeral(number), title) for _cast_at, number, title in rows)
        return cls(code=code, cast_at=rows[0][0], entries=entries)


class BallotQuerySet(models.QuerySet):
    def counted(self):
        return self.filter(voided_at__isnull=True)

    def void(self, *, by, reason, note="", rule=""):
        """Take these ballots out of the tally, for good, with who, when and why.

        `rule`: the review flag's rule the ballots were found by (ballots.review), if any.
        Ballots already voided are left as they are. Returns the ids of the ballots voided.
        One transaction a poll, however many ballots: a stuffing wave is voided in a few
        statements, not a few per ballot, and is one Voiding (one batch) per poll.
        Raises PollCertified, changing nothing, if a poll's result is already certified.
        """
        now = timezone.now()
        voided = []
        polls = self.order_by().values_list("poll_id", flat=True).distinct()
        with transaction.atomic():
            # The polls' locks first, FOR UPDATE (once the ballots in progress have committed),
            # in one order: under the lock no ballot of the poll changes between the counting
            # and the update below. It also orders a voiding against certify(): after a
            # certification nothing is voided.
            for poll in Poll.objects.select_for_change().filter(pk__in=list(polls)).order_by("pk"):
                if poll.certified_at is not None:
                    raise PollCertified(poll)
                targets = self.filter(poll=poll, voided_at__isnull=True).order_by()
                rows = list(targets.values_list("pk", "cast_at"))
                if not rows:
                    continue
                ids = [pk for pk, _cast_at in rows]
                # The stored fraud review counted these ballots (ballots.review).
                ReviewSnapshot.objects.filter(poll=poll).delete()
                voiding = Voiding.objects.create(
                    poll=poll,
                    at=now,
                    by=by,
                    reason=reason,
                    note=note,
                    count=len(ids),
                    first_cast_at=min(cast_at for _pk, cast_at in rows),
                    last_cast_at=max(cast_at for _pk, cast_at in rows),
                    rule=rule,
                )
                # Taken from the shard each ballot was counted in (cast_ballot()).
                lost = (
                    Choice.objects.filter(ballot__in=targets)
                    .order_by()
                    .annotate(shard=shard_of("ballot_id"))
                    .values_list("shard", "reform_id")
                    .annotate(votes=Count("pk"))
                )
                VoteCount.add(poll, {(shard, reform): -votes for shard, reform, votes in lost})
                voided_here = Counter(shard_of(pk) for pk in ids)
                BallotCount.add(poll, {shard: (0, n) for shard, n in voided_here.items()})
                Ballot.objects.filter(pk__in=targets.values("pk")).update(
                    voided_at=now, voided_by=by, void_reason=reason, void_note=note, voiding=voiding
                )
                voided += ids
                transaction.on_commit(
                    partial(
                        signals.ballots_voided.send,
                        sender=Poll,
                        poll=poll,
                        ballot_ids=ids,
                        voiding=voiding,
                    )
                )
        return voided


class Ballot(models.Model):
    poll = models.ForeignKey(
        Poll, verbose_name=_("投票活动"), on_delete=models.PROTECT, related_name="ballots"
    )
    # HMAC-SHA256 of the phone number under CITIZEN_HASH_KEY (verification.identity),
    # never the number.
    # NULL once purge_personal_data() has run: the unique constraint below skips NULLs, and the
    # poll is final then, so one ballot per citizen no longer needs holding.
    citizen_hash = models.CharField(  # noqa: DJ001
        _("手机号摘要"), max_length=64, null=True, blank=True
    )
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
    # Review signals (issue 14, docs/review.md): a coarse family, never the raw user agent, and
    # the seconds between the SMS code being sent and the ballot.
    ua_family = models.CharField(_("浏览器类别"), max_length=40, blank=True)
    seconds_from_code = models.PositiveIntegerField(
        _("验证码发送至投票秒数"), null=True, blank=True
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
    # The batch it was voided in. The fields above repeat the batch's time, staff member and
    # reason on each ballot: the tally, the filters and the running counts read them per ballot.
    voiding = models.ForeignKey(
        Voiding,
        verbose_name=_("作废批次"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ballots",
    )

    # What identifies or locates a citizen, kept only for one ballot per person and for fraud
    # review: Poll.purge_personal_data() empties these (NULL where nullable, else "").
    # The review's signals (the browser family, the seconds from the code) go with them.
    PERSONAL_FIELDS = (
        "citizen_hash",
        "id_number_hash",
        "phone_masked",
        "network",
        "ua_family",
        "seconds_from_code",
    )

    objects = BallotQuerySet.as_manager()

    class Meta:
        ordering = ["-cast_at"]
        verbose_name = _("选票")
        verbose_name_plural = _("选票")
        # What the fraud review (ballots.review) groups and orders by, within one poll.
        indexes = [
            models.Index(fields=["poll", "network", "cast_at"], name="ballots_review_network"),
            models.Index(fields=["poll", "phone_masked", "cast_at"], name="ballots_review_segment"),
            models.Index(fields=["poll", "cast_at"], name="ballots_review_cast_at"),
        ]
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
        # Not the receipt: staff pages and the admin log name ballots, and a receipt next to a
        # masked phone would lead to that citizen's choices in the public record (P5).
        return _("选票 #%(id)s") % {"id": self.pk}

    @classmethod
    def purged_values(cls):
        """{field: its empty value} for PERSONAL_FIELDS."""
        values = {}
        for name in cls.PERSONAL_FIELDS:
            field = cls._meta.get_field(name)
            values[name] = None if field.null else ""
        return values

    @classmethod
    def holds_personal_data(cls):
        """A Q for the ballots with any personal field not yet empty."""
        held = Q()
        for name, empty in cls.purged_values().items():
            held |= ~Q(**{f"{name}__isnull": True}) if empty is None else ~Q(**{name: empty})
        return held

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
        return grouped_receipt(self.receipt)


# Compiled once (zibo_vote.statements): the citizen's ballot, asked on the ballot and the review;
# a receipt, on the last page of the flow.
_RECEIPT_OF = Prepared(
    lambda poll_id, citizen_hash: (
        Ballot.objects.filter(poll_id=poll_id, citizen_hash=citizen_hash)
        .order_by()
        .values_list("receipt")[:1]
    ),
    2_000_000_001,  # in the id's range, as any placeholder must be (zibo_vote.statements)
    "(a citizen's hash)",
)


_RECEIPT = Prepared(
    lambda code: (
        Choice.objects.filter(ballot__receipt=code)
        .order_by("reform__number")
        .values_list("ballot__cast_at", "reform__number", "reform__title")
    ),
    "(a receipt code)",
)


@cache
def _chosen(how_many):
    """The poll's published entries of these numbers, their ids; compiled once for each number
    of choices (an IN of that length). Placeholders in their fields' ranges: 2,000,000,001 the
    poll, 30001, 30002, … the numbers."""
    return Prepared(
        lambda poll_id, *numbers: (
            Reform.objects.published()
            .filter(polls=poll_id, number__in=numbers)
            .order_by()
            .values_list("pk")
        ),
        2_000_000_001,
        *range(30001, 30001 + how_many),
    )


# The poll a ballot is cast in, every column, by its id: PostgreSQL's with its row lock shared.
_POLL_COLUMNS = [field.attname for field in Poll._meta.concrete_fields]
_POLL_BY_ID, _POLL_FOR_SHARE = (
    Prepared(
        lambda pk: Poll.objects.filter(pk=pk).order_by().values_list(*_POLL_COLUMNS),
        2_000_000_001,
        suffix=suffix,
    )
    for suffix in ("", " FOR SHARE")
)


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


# A ballot's INSERT, and its choices' (one statement for each number of choices).
_INSERT_BALLOT = PreparedInsert(Ballot, returning=True, as_save=True)


@cache
def _insert_choices(how_many):
    return PreparedInsert(Choice, rows=how_many)


def shard_of(ballot_id):
    """The shard of the running counts a ballot is counted in (cast_ballot() says why): for an
    id, a number; for a field name, the same in SQL."""
    if isinstance(ballot_id, int):
        return ballot_id % settings.BALLOT_COUNT_SHARDS
    return Mod(ballot_id, settings.BALLOT_COUNT_SHARDS, output_field=models.IntegerField())


def _shard_upsert(model, poll, keys, amounts, rows):
    """The statement that adds to `model`'s rows of `poll`, as (sql, params), or None when
    there is nothing to add: rows is {(values of the fields `keys`): (values to add to the
    fields `amounts`)}. One INSERT … ON CONFLICT DO UPDATE (PostgreSQL; SQLite 3.24+), so a
    row not there yet is created: two ballots creating one at the same moment are both
    counted, where an UPDATE then an INSERT would fail one of them on the unique constraint.
    The rows go in key order, so two ballots in one shard lock its rows in the same order and
    never wait on each other in a circle."""
    rows = sorted((key, amount) for key, amount in rows.items() if any(amount))
    if not rows:
        return None
    quote = connections[model.objects.db].ops.quote_name
    table = quote(model._meta.db_table)
    key_columns = ["poll_id", *(model._meta.get_field(name).column for name in keys)]
    amount_columns = [model._meta.get_field(name).column for name in amounts]
    one_row = "(" + ", ".join(["%s"] * (len(key_columns) + len(amount_columns))) + ")"
    added = ", ".join(
        f"{quote(c)} = {table}.{quote(c)} + EXCLUDED.{quote(c)}" for c in amount_columns
    )
    # Table and column names from the model; every value a parameter.
    sql = (
        f"INSERT INTO {table} ({', '.join(map(quote, key_columns + amount_columns))}) "  # noqa: S608
        f"VALUES {', '.join([one_row] * len(rows))} "
        f"ON CONFLICT ({', '.join(map(quote, key_columns))}) DO UPDATE SET {added}"
    )
    return sql, [value for key, amount in rows for value in (poll.pk, *key, *amount)]


def _add_to_shards(model, poll, keys, amounts, rows):
    """Add to `model`'s rows of `poll` (_shard_upsert says how)."""
    statement = _shard_upsert(model, poll, keys, amounts, rows)
    if statement is not None:
        with connections[model.objects.db].cursor() as cursor:
            cursor.execute(*statement)


def count_ballot(poll, shard, reforms):
    """A ballot's share of the running counts: a vote for each of `reforms` (their ids) and
    one ballot, in `shard`. On PostgreSQL one statement (the entries' upsert in a WITH, which
    PostgreSQL runs to completion before the ballots' upsert, so the rows are still locked in
    the same order as two statements would lock them: the entries', then the poll's): one
    round trip fewer for every ballot. SQLite has no INSERT inside WITH: two statements there."""
    votes = _shard_upsert(
        VoteCount, poll, ["shard", "reform"], ["votes"], {(shard, pk): (1,) for pk in reforms}
    )
    ballots = _shard_upsert(BallotCount, poll, ["shard"], ["ballots", "voided"], {(shard,): (1, 0)})
    connection = connections[VoteCount.objects.db]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and votes is not None:
            cursor.execute(f"WITH votes AS ({votes[0]}) {ballots[0]}", votes[1] + ballots[1])
            return
        for statement in (votes, ballots):
            if statement is not None:
                cursor.execute(*statement)


class VoteCount(models.Model):
    """Counted votes for one entry in one poll, one of BALLOT_COUNT_SHARDS rows: what the
    results page reads, adding up the shards (tally.tally()).

    Changed only inside cast_ballot() and voiding, in the same transaction as the ballots
    themselves, so the sum is exact, not an estimate; reset_counts() sets it from a recount.
    `manage.py check_tally` recounts from the ballots and compares. Only the sum means
    anything: a shard may even go below zero, when a ballot counted in one shard is voided
    from another (counted before the counts were sharded, or before BALLOT_COUNT_SHARDS
    changed).
    """

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="vote_counts")
    reform = models.ForeignKey(Reform, on_delete=models.PROTECT, related_name="+")
    shard = models.PositiveSmallIntegerField(default=0)
    votes = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("得票计数")
        verbose_name_plural = _("得票计数")
        constraints = [
            models.UniqueConstraint(
                fields=["poll", "reform", "shard"], name="ballots_one_count_per_entry_and_shard"
            ),
        ]

    def __str__(self):
        return f"{self.reform}: {self.votes}"

    @classmethod
    def add(cls, poll, votes):
        """votes: {(shard, reform id): votes to add}."""
        _add_to_shards(
            cls, poll, ["shard", "reform"], ["votes"], {key: (n,) for key, n in votes.items()}
        )


class BallotCount(models.Model):
    """Ballots cast and ballots voided in one poll, one of BALLOT_COUNT_SHARDS rows (see
    VoteCount): Poll.ballot_count and voided_count add up the shards."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="ballot_count_shards")
    shard = models.PositiveSmallIntegerField(default=0)
    ballots = models.IntegerField(default=0)  # cast, voided ones included
    voided = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("选票计数")
        verbose_name_plural = _("选票计数")
        constraints = [
            models.UniqueConstraint(
                fields=["poll", "shard"], name="ballots_one_ballot_count_per_shard"
            ),
        ]

    def __str__(self):
        return f"{self.poll}: {self.ballots} - {self.voided}"

    @classmethod
    def add(cls, poll, counts):
        """counts: {shard: (ballots cast to add, ballots voided to add)}."""
        _add_to_shards(
            cls, poll, ["shard"], ["ballots", "voided"], {(k,): n for k, n in counts.items()}
        )

    @classmethod
    def totals(cls, poll):
        """(cast, voided), all shards added up."""
        sums = cls.objects.filter(poll=poll).aggregate(
            cast=Coalesce(Sum("ballots"), 0), voided=Coalesce(Sum("voided"), 0)
        )
        return sums["cast"], sums["voided"]
