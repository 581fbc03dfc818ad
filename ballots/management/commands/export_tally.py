import sys

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from ballots import export, export_xlsx
from ballots.management.polls import poll_named
from ballots.models import Poll
from zibo_vote.management.base import BaseCommand, why_not_written


class Command(BaseCommand):
    help = (
        "Write a poll's tally as CSV (UTF-8 with BOM, opens in Excel) to stdout or --output FILE; "
        "--ballots writes the ballot audit list instead. Same bytes as the admin's export button. "
        "--format xlsx writes the Excel workbook instead (to --output FILE, or to a pipe)."
    )
    FORMATS = ("csv", "xlsx")

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", help="default: the poll the home page shows")
        parser.add_argument("--output", metavar="FILE", help="default: standard output")
        parser.add_argument(
            "--ballots", action="store_true", help="every ballot (receipt, time, choices, status)"
        )
        # Checked in handle(), not by argparse's choices, so that the message is in Chinese.
        parser.add_argument("--format", default="csv", help="csv (default) or xlsx")

    def handle(self, *args, poll=None, output=None, ballots=False, format="csv", **options):
        if format not in self.FORMATS:
            raise CommandError(
                _("不支持的导出格式“%(format)s”，可选 csv 或 xlsx。") % {"format": format}
            )
        if format == "xlsx" and ballots:
            raise CommandError(_("选票明细只导出为 CSV；Excel 文件的“选票统计”表只有汇总数字。"))
        chosen = poll_named(poll) if poll else Poll.objects.current()
        if chosen is None:
            raise CommandError(_("还没有投票活动。"))
        if format == "xlsx":
            return self.write_workbook(chosen, output)
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

    def write_workbook(self, poll, output):
        # Binary: to a file, or to standard output only when that is a pipe or a file (never a
        # terminal, never a text stream such as call_command's StringIO).
        to_pipe = output is None and self.stdout._out is sys.stdout and not sys.stdout.isatty()
        if output is None and not to_pipe:
            raise CommandError(
                _("Excel 文件是二进制文件，请用 --output 指定文件名，或将输出重定向到文件。")
            )
        data = export_xlsx.tally_workbook(poll, export.export_moment())
        if to_pipe:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        try:
            with open(output, "wb") as file:
                file.write(data)
        except OSError as error:
            raise CommandError(
                _("无法写入 %(path)s：%(reason)s。")
                % {"path": output, "reason": why_not_written(error)}
            ) from None
        self.stderr.write(f"Wrote {output}")
