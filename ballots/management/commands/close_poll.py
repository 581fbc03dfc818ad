from django.utils import timezone

from ballots.management.polls import poll_named
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = "Close a poll now, for good: later ballots are refused. Same lock as a ballot's."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the poll's slug, e.g. reform-experiences")

    def handle(self, *args, slug, **options):
        poll = poll_named(slug)
        closed_now = poll.close()
        closed_at = timezone.localtime(poll.closed_at).strftime("%Y-%m-%d %H:%M:%S %Z")
        if closed_now:
            self.stdout.write(self.style.SUCCESS(f"Closed {slug} at {closed_at}."))
        else:
            self.stdout.write(f"{slug} was already closed at {closed_at}; nothing changed.")
