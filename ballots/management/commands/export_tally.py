import sys

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from ballots import export
from ballots.management.polls import poll_named
from ballots.models import Poll
from zibo_vote.management.base import BaseCommand, why_not_written


class Command(BaseCommand):
    help = (
        "Write a poll's tally as CSV (UTF-8 with BOM, opens in Excel) to stdout or --output FILE; "
        "--ballots writes the ballot audit list instead. Same bytes as the admin's export button."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: the poll the home page shows")
        parser.add_argument("--output", metavar="FILE", help="default: standard output")
        parser.add_argument(
            "--ballots", action="store_true", help="every ballot (receipt, time, choices, status)"
        )

    def handle(self, *args, poll=None, output=None, ballots=False, **options):
        chosen = poll_named(poll) if poll else Poll.objects.current()
        if chosen is None:
            raise CommandError(_("还没有投票活动。"))
        write = export.ballot_lines if ballots else export.tally_lines
        lines = write(chosen, export.export_moment())
        if output:
            try:
                with open(output, "wb") as file:
                    for line in lines:
                        file.write(line.encode("utf-8"))
            except OSError as error:
                raise CommandError(
                    _("无法写入 %(path)s：%(reason)s。")
                    % {"path": output, "reason": why_not_written(error)}
                ) from None
            self.stderr.write(f"Wrote {output}")
        elif self.stdout._out is sys.stdout:
            for line in lines:
                sys.stdout.buffer.write(line.encode("utf-8"))
            sys.stdout.buffer.flush()
        else:  # call_command(stdout=...) in code and tests
            for line in lines:
                self.stdout.write(line, ending="")
