import logging

from django.core.management.base import CommandError

from ballots.management.polls import poll_named
from ballots.models import Poll, PollStatus
from record.closing import store_closing_package
from record.models import ClosingPackage
from record.publish import publish_checkpoint
from record.signing import SigningKeyError
from zibo_vote.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Publish a checkpoint of each poll's public record (hourly, from a systemd timer): the "
        "ballots and voidings since the last one in random order, the close and the "
        "certification once they happened, signed with RECORD_SIGNING_KEY. Builds a certified "
        "poll's closing package if it is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: every poll that has opened")

    def handle(self, *args, poll=None, **options):
        polls = [poll_named(poll)] if poll else Poll.objects.order_by("opens_at")
        for each in polls:
            try:
                checkpoint = publish_checkpoint(each)
            except SigningKeyError as error:
                raise CommandError(str(error)) from None
            if checkpoint is not None:
                self.stdout.write(
                    f"{each.slug}: checkpoint {checkpoint.number}, {checkpoint.size} entries, "
                    f"root {checkpoint.root}"
                )
            elif each.status == PollStatus.SCHEDULED:
                self.stdout.write(f"{each.slug}: not open yet; nothing to publish.")
            if (
                each.status == PollStatus.CERTIFIED
                and not ClosingPackage.objects.filter(log__poll=each).exists()
            ):
                package = store_closing_package(each)
                self.stdout.write(f"{each.slug}: closing package built ({package.size} bytes).")
