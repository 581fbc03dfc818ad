from django.core.management.base import BaseCommand, CommandError

from ballots.models import Poll
from ballots.tally import discrepancies, recount


class Command(BaseCommand):
    help = (
        "Recount a poll from its ballots and compare with the running counts the results page "
        "shows. Exits non-zero if they differ (they never should)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: every poll")

    def handle(self, *args, poll=None, **options):
        polls = Poll.objects.filter(slug=poll) if poll else Poll.objects.all()
        if poll and not polls:
            raise CommandError(f"No poll with slug {poll!r}.")
        failed = False
        for each in polls:
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
