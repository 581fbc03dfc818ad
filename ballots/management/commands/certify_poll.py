from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.management.polls import poll_named
from ballots.models import PollNotClosed
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Certify a closed poll's result (确认最终结果), for good: from then on no voiding is "
        "accepted. Publishes the certification in the public record and builds the closing "
        "package."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the poll's slug, e.g. reform-experiences")

    def handle(self, *args, slug, **options):
        poll = poll_named(slug)
        try:
            certified_now = poll.certify()
        except PollNotClosed:
            raise CommandError(
                _("“%(slug)s”尚未结束（%(status)s），请在投票结束后确认结果。")
                % {"slug": slug, "status": poll.status_label}
            ) from None
        at = timezone.localtime(poll.certified_at).strftime("%Y-%m-%d %H:%M:%S %Z")
        if certified_now:
            self.stdout.write(self.style.SUCCESS(f"Certified the result of {slug} at {at}."))
        else:
            self.stdout.write(f"{slug} was already certified at {at}; nothing changed.")
