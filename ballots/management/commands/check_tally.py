import logging

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Q

from ballots.models import Ballot, Choice, Poll, VoteCount
from ballots.tally import discrepancies, recount
from zibo_vote import page_cache

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
        polls = Poll.objects.filter(slug=poll) if poll else Poll.objects.all()
        if poll and not polls:
            raise CommandError(f"No poll with slug {poll!r}.")
        failed = False
        for each in polls:
            if fix:
                self.fix(each)
            found = discrepancies(each)
            exact = recount(each)
            if found:
                failed = True
                self.stderr.write(f"{each.slug}: MISMATCH (what, counted, recounted): {found}")
            else:
                self.stdout.write(
                    f"{each.slug}: counts agree: {exact.ballots} ballots, {exact.votes} votes, "
                    f"{exact.voided} voided."
                )
        if failed:
            raise CommandError("The running counts differ from the ballots.")

    def fix(self, poll):
        with transaction.atomic():
            # The lock every ballot takes: no vote or voiding moves the counts meanwhile.
            Poll.objects.select_for_update().get(pk=poll.pk)
            votes = dict(
                Choice.objects.filter(ballot__poll=poll, ballot__voided_at__isnull=True)
                .order_by()
                .values_list("reform_id")
                .annotate(votes=Count("pk"))
            )
            VoteCount.objects.filter(poll=poll).delete()
            VoteCount.objects.bulk_create(
                VoteCount(poll=poll, reform_id=reform, votes=n) for reform, n in votes.items()
            )
            ballots = Ballot.objects.filter(poll=poll).aggregate(
                all=Count("pk"), voided=Count("pk", filter=Q(voided_at__isnull=False))
            )
            Poll.objects.filter(pk=poll.pk).update(
                ballot_count=ballots["all"], voided_count=ballots["voided"]
            )
            transaction.on_commit(page_cache.invalidate)
        logger.warning("check_tally --fix: running counts of %s set from a recount", poll.slug)
