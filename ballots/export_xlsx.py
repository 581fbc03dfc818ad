"""The tally as an Excel workbook (.xlsx), for officials who print it and file it.

The same numbers as the CSV (ballots.export: the same recount, rows, ranks and 导出说明), but
typed: numbers are numbers, shares are percentages, and the sheet is laid out to print on one A4
page. A second sheet, 选票统计, counts the ballots by day and by how many entries they chose; it
never lists a ballot, so no choice stands beside a receipt, a phone number, a network or the time
of one ballot (docs/admin.md).
"""

import io
import math
import unicodedata
from datetime import UTC

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from . import export
from .models import Ballot, Choice
from .tally import recount

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Character widths of the tally's columns: 序号, 标题 (wrapped), 单位, 票数, 占比, 名次. About 96
# in all, which fits the width of an A4 page upright at (nearly) full size.
TALLY_WIDTHS = [7, 48, 16, 9, 9, 7]
DAYS_HEADER = ["投票日期（北京时间）", "投出选票", "有效选票", "已作废选票"]
CHOICES_HEADER = ["所选项数", "有效选票"]
SECRECY_NOTE = (
    "本表只有汇总数字：为保障投票秘密，不列出任何一张选票的所选项、回执编号、手机号、"
    "IP地址段或投票时间。各项得票见“计票结果”。"
)

THIN = Side(style="thin", color="999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADING = Font(bold=True)
HEADING_FILL = PatternFill("solid", fgColor="E8E8E8")
TITLE_FONT = Font(bold=True, size=14)
LINE_HEIGHT = 15  # points, one line of 11-point text


def _text_width(text):
    """Character cells as Excel counts them: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(text))


def _put(sheet, row, column, value):
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        # Characters XML cannot hold would make openpyxl refuse the whole file.
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        # A text cell is never a formula to Excel: `=HYPERLINK(...)` in a title stays text (the
        # CSV needs a leading ' for that; an .xlsx records the cell's type).
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def _title(sheet, text, columns):
    cell = _put(sheet, 1, 1, text)
    cell.font = TITLE_FONT
    cell.alignment = Alignment(wrap_text=True, vertical="center")
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=columns)
    width = sum(sheet.column_dimensions[get_column_letter(i)].width for i in range(1, columns + 1))
    lines = math.ceil(_text_width(text) * 14 / 11 / width)
    sheet.row_dimensions[1].height = 20 * max(lines, 1) + 4


def _header(sheet, row, names):
    for column, name in enumerate(names, start=1):
        cell = _put(sheet, row, column, name)
        cell.font = HEADING
        cell.fill = HEADING_FILL
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _print_setup(sheet, *, one_page):
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_PORTRAIT  # the columns fit upright
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 1 if one_page else 0  # 0: as many pages as it takes
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    sheet.oddFooter.center.size = 9


def _tally_sheet(sheet, poll, result, moment):
    sheet.title = "计票结果"
    for column, width in enumerate(TALLY_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    when = export._beijing(moment)
    _title(sheet, f"{poll.title}　计票结果　{poll.status_label}　导出时间（北京时间）{when}", 6)
    _header(sheet, 2, export.TALLY_HEADER)
    row = 2
    for row, values in enumerate(export.tally_rows(result), start=3):
        for column, value in enumerate(values, start=1):
            cell = _put(sheet, row, column, value)
            cell.border = BOX
            cell.alignment = Alignment(vertical="center", wrap_text=column in (2, 3))
        sheet.cell(row=row, column=5).number_format = "0.0%"
        # Row heights are set, not left to the reader: Excel does not grow a row for wrapped
        # text it did not lay out itself.
        lines = max(
            math.ceil(_text_width(values[1]) / (TALLY_WIDTHS[1] - 1)),
            math.ceil(_text_width(values[2]) / (TALLY_WIDTHS[2] - 1)),
            1,
        )
        sheet.row_dimensions[row].height = LINE_HEIGHT * lines + 3
    row += 2
    _put(sheet, row, 1, "导出说明").font = HEADING
    for label, value in export.about_rows(poll, result, moment):
        row += 1
        _put(sheet, row, 1, label)
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        cell = _put(sheet, row, 3, value)
        cell.alignment = Alignment(horizontal="left", wrap_text=True)
        sheet.merge_cells(start_row=row, start_column=3, end_row=row, end_column=6)
    sheet.freeze_panes = "A3"  # the title and the headers stay in view
    sheet.print_title_rows = "2:2"
    _print_setup(sheet, one_page=True)


def ballots_by_day(poll):
    """(date in Beijing, cast, counted, voided) for each day with ballots: counts only."""
    return [
        (day.isoformat(), total, counted, voided)
        for day, total, counted, voided in (
            Ballot.objects.filter(poll=poll)
            .annotate(day=TruncDate("cast_at"))  # in TIME_ZONE, Beijing
            .order_by("day")
            .values("day")
            .annotate(
                total=Count("pk"),
                counted=Count("pk", filter=Q(voided_at__isnull=True)),
                voided=Count("pk", filter=Q(voided_at__isnull=False)),
            )
            .values_list("day", "total", "counted", "voided")
        )
    ]


def ballots_by_choices(poll):
    """(how many entries a counted ballot chose, how many ballots did so)."""
    chosen = (
        Choice.objects.filter(ballot=OuterRef("pk"))
        .order_by()
        .values("ballot")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        Ballot.objects.filter(poll=poll, voided_at__isnull=True)
        .annotate(chosen=Subquery(chosen))
        .order_by("chosen")
        .values("chosen")
        .annotate(ballots=Count("pk"))
        .values_list("chosen", "ballots")
    )


def _ballot_sheet(sheet, poll, moment):
    for column, width in enumerate([24, 14, 14, 14], start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    when = export._beijing(moment)
    _title(sheet, f"{poll.title}　选票统计　导出时间（北京时间）{when}", 4)
    note = _put(sheet, 2, 1, SECRECY_NOTE)
    note.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells("A2:D2")
    sheet.row_dimensions[2].height = LINE_HEIGHT * math.ceil(_text_width(SECRECY_NOTE) / 64) + 3
    _header(sheet, 4, DAYS_HEADER)
    row = 4
    days = ballots_by_day(poll)
    total = ("合计", *(sum(day[i] for day in days) for i in (1, 2, 3)))
    for row, values in enumerate([*days, total], start=5):
        for column, value in enumerate(values, start=1):
            _put(sheet, row, column, value).border = BOX
    sheet.cell(row=row, column=1).font = HEADING
    row += 2
    _header(sheet, row, CHOICES_HEADER)
    for chosen, ballots in ballots_by_choices(poll):
        row += 1
        for column, value in enumerate((chosen, ballots), start=1):
            _put(sheet, row, column, value).border = BOX
    _print_setup(sheet, one_page=False)


def tally_workbook(poll, moment):
    """The workbook's bytes."""
    result = recount(poll)  # the ballots themselves, not the running counts
    book = Workbook()
    _tally_sheet(book.active, poll, result, moment)
    _ballot_sheet(book.create_sheet("选票统计"), poll, moment)
    book.properties.creator = "zibo-vote"
    book.properties.title = f"{poll.title}　计票结果"
    book.properties.created = moment.astimezone(UTC).replace(tzinfo=None)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
