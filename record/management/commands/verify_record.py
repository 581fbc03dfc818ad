from django.core.management.base import CommandError

from ballots.management.polls import poll_named
from ballots.models import Poll
from record.live import verify_live
from record.signing import SigningKeyError
from tools.verify_record import Failure, Report
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Verify the public record on the live database, as tools/verify_record.py verifies a "
        "package: signatures, roots, consistency proofs, the log's rules, and that the ballots "
        "table still matches the log (a ballot deleted or altered in SQL shows up). Exits "
        "non-zero naming the first checkpoint that no longer holds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: every poll with a record")

    def handle(self, *args, poll=None, **options):
        polls = (
            [poll_named(poll)]
            if poll
            else Poll.objects.filter(record_log__isnull=False).order_by("opens_at")
        )
        report = Report(lambda text: self.stdout.write(text))
        for each in polls:
            report.line(f"投票活动 / Poll: {each.title} ({each.slug})")
            try:
                verify_live(each, report)
            except Failure as failure:
                report.failed(failure)
                raise CommandError(f"{each.slug}: {failure.en}") from None
            except SigningKeyError as error:
                raise CommandError(str(error)) from None
        report.line("核验通过。", "VERIFIED: every check passed.")
