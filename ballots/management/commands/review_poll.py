from django.utils.translation import gettext as _

from ballots import review
from ballots.management.polls import poll_named
from ballots.models import Poll, PollStatus
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Compute the fraud review (docs/review.md) of each poll that has opened and is not yet "
        "certified, or of --poll SLUG, and keep it for the admin's review page. Every 5 minutes "
        "from zibo-vote-review.timer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: every poll under review")

    def handle(self, *args, poll=None, **options):
        if poll:
            polls = [poll_named(poll)]
        else:
            # Once certified nothing is voided any more: its review no longer changes.
            polls = [
                p
                for p in Poll.objects.order_by("opens_at")
                if p.status in (PollStatus.OPEN, PollStatus.CLOSED)
            ]
        for each in polls:
            _at, data = review.store_review(each)
            self.stdout.write(
                _("“%(slug)s”的审核数据已重新统计：可疑群组%(clusters)d个。")
                % {"slug": each.slug, "clusters": len(data["clusters"])}
            )
