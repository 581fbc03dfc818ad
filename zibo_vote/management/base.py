"""What every command of ours shares: it answers bad arguments with a CommandError in Chinese.

Django's parser reports argparse's own English ("Error: unrecognized arguments: …"), and an
argument naming a file that cannot be written ended in a raw traceback. Our commands derive
from BaseCommand here; their own refusals raise CommandError with a translated message.
"""

import re
import sys
from functools import partial

from django.core.management import BaseCommand as DjangoBaseCommand
from django.core.management import CommandError
from django.utils.translation import gettext as _

# argparse's messages (Python 3.11 to 3.13) and what they say in Chinese.
_ARGPARSE = [
    (r"the following arguments are required: (?P<names>.+)", "缺少参数：%(names)s"),
    (r"unrecognized arguments: (?P<names>.+)", "无法识别的参数：%(names)s"),
    (r"argument (?P<name>\S+): expected one argument", "参数 %(name)s 需要一个值"),
    (
        r"argument (?P<name>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)",
        "参数 %(name)s 的值 %(value)s 无效，可选：%(choices)s",
    ),
    (
        r"argument (?P<name>\S+): invalid \w+ value: (?P<value>.+)",
        "参数 %(name)s 的值 %(value)s 无效",
    ),
    (
        r"ambiguous option: (?P<name>\S+) could match (?P<choices>.+)",
        "选项 %(name)s 有歧义：%(choices)s",
    ),
]


def in_chinese(message):
    """argparse's complaint about the arguments, in Chinese (the names and values as typed)."""
    for pattern, chinese in _ARGPARSE:
        found = re.fullmatch(pattern, message)
        if found:
            return _(chinese) % found.groupdict()
    return _("参数有误：%(message)s") % {"message": message}


def _refuse(parser, message):
    message = in_chinese(message)
    if parser.called_from_command_line:  # as argparse does: the usage, then exit status 2
        parser.print_usage(sys.stderr)
        parser.exit(2, f"{parser.prog}: {message}\n")
    raise CommandError(message)


def why_not_written(error):
    """What an OSError from opening or writing an --output file means, in Chinese."""
    if isinstance(error, IsADirectoryError):
        return _("这是一个目录")
    if isinstance(error, FileNotFoundError):
        return _("所在目录不存在")
    if isinstance(error, PermissionError):
        return _("没有写入权限")
    return error.strerror or type(error).__name__


class BaseCommand(DjangoBaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # argparse calls self.error() for every bad argument; Django's CommandParser hard-codes
        # its class, so the one method is replaced on the instance.
        parser.error = partial(_refuse, parser)
        return parser
