"""CSV exports of a poll, shared by the admin buttons and `manage.py export_tally`.

Both produce the same bytes for the same moment: UTF-8 with a byte-order mark, because Excel on
Chinese Windows reads a CSV without one as GBK and shows the titles as mojibake.
"""

import csv

from django.utils import timezone

from .models import Ballot, VoidReason
from .tally import recount

BOM = "\ufeff"
TALLY_HEADER = ["序号", "标题", "单位", "票数", "占比", "名次"]
BALLOTS_HEADER = [
    "选票编号",
    "投票时间（北京时间）",
    "状态",
    "作废批次",
    "作废原因",
    "作废时间",
]

# A cell starting with one of these is a formula to Excel: `=HYPERLINK(...)` in an entry's title
# would run when an official opens the file (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_moment():
    """The time stamped on an export; tests replace it to compare two exports byte for byte."""
    return timezone.now()


def neutralise(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, line):
        return line


def _lines(rows):
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def _beijing(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def beijing_date(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d")


def filename(poll, kind, moment, extension="csv"):
    return f"{poll.slug}-{kind}-{timezone.localtime(moment):%Y%m%d-%H%M%S}.{extension}"


def tally_rows(result):
    """One row per entry under TALLY_HEADER, the share a fraction (0…1): each format writes it
    its own way. Entries with the same votes share a rank (1, 2, 2, 4)."""
    return [
        [row.reform.number, row.reform.title, row.reform.unit, row.votes, row.share, row.rank]
        for row in result.rows
    ]


def about_rows(poll, result, moment):
    """What the numbers mean, under the heading 导出说明."""
    return [
        ["投票活动", poll.title],
        ["投票状态", str(poll.status_label)],
        ["导出时间（北京时间）", _beijing(moment)],
        ["有效选票", result.ballots],
        ["已作废选票（不计入）", result.voided],
        ["有效票数", result.votes],
        ["占比", "票数 ÷ 有效票数；名次相同表示票数相同"],
    ]


def tally_lines(poll, moment):
    """The tally: one row per entry, then, after an empty row, what the numbers mean."""
    result = recount(poll)  # the ballots themselves, not the running counts
    yield BOM
    yield from _lines([TALLY_HEADER])
    yield from _lines(
        [number, title, unit, votes, f"{share:.2%}", rank]
        for number, title, unit, votes, share, rank in tally_rows(result)
    )
    yield from _lines([[], ["导出说明"], *about_rows(poll, result, moment)])


def ballot_lines(poll, moment):
    """Every ballot of the poll for audit: its number, time, status and voiding. No choices and
    no receipt: with the time beside them they would tell staff who voted how (P5); the choices
    are in the public record, where nothing links them to a time. No personal data either.

    Streams from the database in chunks (a server-side cursor on PostgreSQL), so memory stays
    flat however many ballots there are.
    """
    reasons = dict(VoidReason.choices)
    yield BOM
    yield from _lines([BALLOTS_HEADER])
    ballots = (
        Ballot.objects.filter(poll=poll)
        .order_by("pk")
        .values_list("pk", "cast_at", "voided_at", "void_reason", "voiding_id")
        .iterator(chunk_size=5000)
    )
    for number, cast_at, voided_at, reason, voiding in ballots:
        yield from _lines(
            [
                [
                    number,
                    _beijing(cast_at),
                    "已作废" if voided_at else "有效",
                    voiding or "",
                    str(reasons.get(reason, "")),
                    _beijing(voided_at) if voided_at else "",
                ]
            ]
        )
