from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from ballots.management.polls import poll_named
from record.closing import NotCertified, write_closing_package
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Write a certified poll's closing package (zip) to FILE, built afresh from the "
        "database: the log, the checkpoints, the official tally, result.pdf, the key and "
        "verify_record.py. The same data gives the same bytes as the package /record/ offers."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the poll's slug, e.g. reform-experiences")
        parser.add_argument("--output", metavar="FILE", required=True)

    def handle(self, *args, slug, output, **options):
        poll = poll_named(slug)
        try:
            summary = write_closing_package(poll, output)
        except NotCertified:
            raise CommandError(
                _(
                    "“%(slug)s”的结果尚未确认（%(status)s）：结果确认（manage.py certify_poll）并"
                    "写入公开记录后，才能生成结项材料包。"
                )
                % {"slug": slug, "status": poll.status_label}
            ) from None
        self.stdout.write(
            f"Wrote {output}: {summary.entries} entries, {summary.checkpoints} checkpoints."
        )
