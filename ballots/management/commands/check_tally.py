import logging

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from ballots.management.polls import poll_named
from ballots.models import Poll
from ballots.tally import audit
from zibo_vote.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Recount a poll from its ballots and compare with the running counts the results page "
        "shows. Exits non-zero if they differ (they never should); --fix sets them from the "
        "recount, under the poll's lock (after an upgrade in which old servers kept voting)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: every poll")
        parser.add_argument("--fix", action="store_true", help="set the counts from a recount")

    def handle(self, *args, poll=None, fix=False, **options):
        polls = [poll_named(poll)] if poll else Poll.objects.all()
        failed = False
        for each in polls:
            if fix:
                each.reset_counts()
                logger.warning("check_tally --fix: counts of %s set from a recount", each.slug)
            exact, found = audit(each)
            if found:
                failed = True
                self.stderr.write(f"{each.slug}: MISMATCH (what, counted, recounted): {found}")
            else:
                self.stdout.write(
                    f"{each.slug}: counts agree: {exact.ballots} ballots, {exact.votes} votes, "
                    f"{exact.voided} voided."
                )
        if failed:
            raise CommandError(_("计票数与选票不一致。"))
