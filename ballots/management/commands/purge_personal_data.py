from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.management.polls import poll_named
from ballots.models import Poll, PurgeNotDue, beijing_time
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Remove the personal data of a certified poll's ballots (phone and ID hashes, masked "
        "numbers, networks) and its citizens' codes and sessions, once "
        "PERSONAL_DATA_RETENTION_DAYS have passed since the certification. Receipts, choices, "
        "counts and the public record stay. --due: every poll that is due (the housekeeping "
        "timer runs this daily). Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="the poll's slug, e.g. reform-experiences")
        parser.add_argument(
            "--due",
            action="store_true",
            help="every certified poll whose retention period has passed, and nothing else",
        )

    def handle(self, *args, slug=None, due=False, **options):
        if bool(slug) == due:
            raise CommandError(_("请指定一个投票活动的英文标识，或使用 --due（二者选一）。"))
        if slug:
            poll = poll_named(slug)
            try:
                self.report(poll, poll.purge_personal_data())
            except PurgeNotDue as refused:
                raise CommandError(refused.message) from None
            return
        now = timezone.now()
        polls = [
            poll
            for poll in Poll.objects.filter(certified_at__isnull=False).order_by("certified_at")
            if poll.personal_data_due <= now
        ]
        changed = 0
        for poll in polls:
            purged = poll.purge_personal_data(now=now)
            if purged.changed:
                changed += 1
                self.report(poll, purged)
        if not changed:
            self.stdout.write(_("没有到期须清除个人信息的投票活动：无。"))

    def report(self, poll, purged):
        if not purged.changed:
            self.stdout.write(
                _("“%(poll)s”的个人信息已于北京时间%(at)s清除，无需清除。")
                % {"poll": poll.slug, "at": beijing_time(purged.at)}
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "已清除“%(poll)s”的个人信息：选票%(ballots)d张，验证码%(codes)d条，"
                    "会话%(sessions)d个。回执、选择、计票和公开记录保留不变。"
                )
                % {
                    "poll": poll.slug,
                    "ballots": purged.ballots,
                    "codes": purged.codes,
                    "sessions": purged.sessions,
                }
            )
        )
