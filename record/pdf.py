"""result.pdf: the 公示 document of a certified result, on A4, in the closing package.

The Chinese font is reportlab's built-in CID font STSong-Light: the PDF names it and every PDF
reader in China supplies it, so nothing is downloaded or embedded. `invariant` keeps the file
free of creation times and random ids: the same result gives the same bytes.
"""

import io

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.tables import LongTable

from ballots.models import VoidReason

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

BODY = ParagraphStyle("body", fontName=FONT, fontSize=10.5, leading=16, wordWrap="CJK")
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8.5, leading=12)
TITLE = ParagraphStyle("title", parent=BODY, fontSize=18, leading=26, alignment=1)
HEADING = ParagraphStyle("heading", parent=BODY, fontSize=12.5, leading=20, spaceBefore=8)


def staff_name(user):
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _when(moment):
    return timezone.localtime(moment).strftime("%Y年%m月%d日 %H:%M:%S") if moment else "—"


def _p(text, style=BODY):
    return Paragraph(str(text).replace("&", "&amp;").replace("<", "&lt;"), style)


def result_pdf(poll, result, voided_by_reason, final_checkpoint, fingerprint):
    """The PDF's bytes. result: ballots.tally.recount(poll); voided_by_reason: {category: n};
    final_checkpoint: the last signed checkpoint (the certification's)."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=f"{poll.title} 投票结果公示",
        author="淄博市委改革办",
        invariant=1,
    )
    reasons = dict(VoidReason.choices)
    if poll.closed_at is None or (poll.closes_at and poll.closes_at <= poll.closed_at):
        closed_how = "按预定截止时间结束"
    else:
        closed_how = f"操作人：{staff_name(poll.closed_by) or '命令行操作'}"
    certified_by = staff_name(poll.certified_by) or "命令行操作"
    story = [
        _p(f"{poll.title}", TITLE),
        _p("投票结果公示", TITLE),
        Spacer(1, 6 * mm),
        _p(f"投票时间：{_when(poll.opens_at)} 至 {_when(poll.ended_at)}（北京时间）"),
        _p(
            f"公示期：至 {_when(poll.publicity_ends_at)}"
            if poll.publicity_ends_at
            else "公示期：未设定截止时间"
        ),
        _p(f"投票结束：{_when(poll.ended_at)}，{closed_how}"),
        _p(f"结果确认：{_when(poll.certified_at)}，确认人：{certified_by}"),
        _p("各项得票", HEADING),
    ]
    rows = [[_p("名次"), _p("序号"), _p("参评经验"), _p("单位"), _p("票数"), _p("占比")]]
    rows += [
        [_p(row.rank), _p(row.reform.number), _p(row.reform.title, SMALL),
         _p(row.reform.unit, SMALL), _p(row.votes), _p(f"{row.share:.2%}")]
        for row in result.rows
    ]  # fmt: skip
    table = LongTable(
        rows, colWidths=[12 * mm, 12 * mm, 78 * mm, 36 * mm, 16 * mm, 16 * mm], repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story += [table, _p("选票", HEADING)]
    counts = [
        [_p("有效选票"), _p(f"{result.ballots}张")],
        [_p("有效票数"), _p(f"{result.votes}票（一张选票可选多项）")],
        [_p("已作废选票（不计入）"), _p(f"{result.voided}张")],
    ]
    counts += [
        [_p(f"　其中：{reasons.get(reason, reason)}"), _p(f"{count}张")]
        for reason, count in sorted(voided_by_reason.items())
    ]
    # Each voided batch (issue 14): size, time span of its ballots, reason; no network, no 号段.
    for voiding in poll.voidings.order_by("at", "pk"):
        span = ""
        if voiding.first_cast_at is not None:
            first = timezone.localtime(voiding.first_cast_at).strftime("%Y-%m-%d %H:%M")
            last = timezone.localtime(voiding.last_cast_at).strftime("%Y-%m-%d %H:%M")
            span = f"，投票时间{first}至{last}"
        counts.append(
            [
                _p(f"　作废批次{voiding.pk}"),
                _p(f"{voiding.count}张{span}，{reasons.get(voiding.reason, voiding.reason)}"),
            ]
        )
    summary = Table(counts, colWidths=[60 * mm, 110 * mm])
    summary.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey)]))
    story += [
        summary,
        _p("公开记录", HEADING),
        _p(
            f"本结果已写入公开记录（共{final_checkpoint['size']}条记录），最终检查点时间"
            f"{final_checkpoint['time']}，根哈希："
        ),
        _p(final_checkpoint["root"], SMALL),
        _p(f"签名公钥指纹：{fingerprint}", SMALL),
        _p(
            "任何人可用公开记录包中的 verify_record.py 核验签名、重新计票，并与本公示结果核对。",
            SMALL,
        ),
    ]
    document.build(story)
    return buffer.getvalue()
