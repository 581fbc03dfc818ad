"""The tally and the ballot list as CSV: Excel-safe, exact, the same from admin and command."""

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection

from ballots import export
from ballots.models import VoidReason
from reforms.models import Reform

from .conftest import cast

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 27, 7, 30, 5, tzinfo=UTC)  # 15:30:05 in Beijing


@pytest.fixture(autouse=True)
def fixed_moment(monkeypatch):
    monkeypatch.setattr(export, "export_moment", lambda: MOMENT)


def parse(data):
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark first, for Excel"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    blank = rows.index([])
    return rows[:blank], rows[blank + 1 :]


def download(browser, poll, kind="tally"):
    response = browser.get(f"/admin/ballots/poll/{poll.pk}/export/{kind}.csv")
    assert response.status_code == 200
    assert response.streaming
    return response, b"".join(response.streaming_content)


@pytest.fixture
def votes(poll, admin_user):
    # 3: four votes, 5 and 8: two each (a tie), 1: one; one more vote for 1 is voided.
    cast(poll, [3], [3], [3], [3], [5], [5], [8], [8], [1])
    cast(poll, [1])[0].void(by=admin_user, reason=VoidReason.STUFFING)
    return poll


def test_tally_csv_opens_in_excel_with_counts_shares_and_ranks(admin_client, votes):
    response, data = download(admin_client, votes)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="reform-experiences-tally-20261127-153005.csv"'
    )
    table, about = parse(data)
    assert table[0] == ["序号", "标题", "单位", "票数", "占比", "名次"]
    rows = table[1:]
    assert len(rows) == 15
    assert rows[0] == ["3", "张店区“四位一体”创新推进社会治理", "张店区", "4", "44.44%", "1"]
    assert [row[0] for row in rows[:4]] == ["3", "5", "8", "1"]
    assert [(row[3], row[5]) for row in rows[:4]] == [("4", "1"), ("2", "2"), ("2", "2"),
                                                     ("1", "4")]  # fmt: skip
    assert {row[5] for row in rows[4:]} == {"5"}  # eleven entries tied at zero
    assert sum(int(row[3]) for row in rows) == 9  # the voided ballot is not counted
    assert ["有效选票", "9"] in about and ["已作废选票（不计入）", "1"] in about
    assert ["导出时间（北京时间）", "2026-11-27 15:30:05"] in about


def test_formulas_in_titles_are_neutralised(admin_client, poll):
    Reform.objects.filter(number=2).update(title='=HYPERLINK("http://x")', unit="+区")
    Reform.objects.filter(number=4).update(title="@SUM(A1)", unit="-1")
    Reform.objects.filter(number=6).update(title="\t=1+1", unit="\r=2")
    type(poll).objects.filter(pk=poll.pk).update(title="=cmd|' /C calc'!A0")
    poll.refresh_from_db()
    table, about = parse(download(admin_client, poll)[1])
    by_number = {row[0]: row for row in table[1:]}
    assert by_number["2"][1:3] == ['\'=HYPERLINK("http://x")', "'+区"]
    assert by_number["4"][1:3] == ["'@SUM(A1)", "'-1"]
    assert by_number["6"][1:3] == ["'\t=1+1", "'\r=2"]
    assert ["投票活动", "'=cmd|' /C calc'!A0"] in about
    for row in table + about:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_command_and_button_produce_the_same_bytes(admin_client, votes, tmp_path):
    _, from_admin = download(admin_client, votes)
    target = tmp_path / "tally.csv"
    call_command("export_tally", "--poll", "reform-experiences", "--output", str(target),
                 stderr=io.StringIO())  # fmt: skip
    assert target.read_bytes() == from_admin
    to_stdout = io.StringIO()
    call_command("export_tally", stdout=to_stdout)  # the current poll by default
    assert to_stdout.getvalue().encode("utf-8") == from_admin


@pytest.mark.django_db(transaction=True)  # committed, so another process sees the ballots
def test_command_writes_the_same_bytes_to_its_standard_output(admin_client, votes):
    # A real process, so the bytes go through sys.stdout, not a test's StringIO. It reads the
    # test database: the same SQLite file, or the same PostgreSQL test database by name.
    _, from_admin = download(admin_client, votes)
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        url = (f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
               f"{database['PORT'] or 5432}/{database['NAME']}")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "export_tally"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"\xef\xbb\xbf")

    def without_time(data):
        return [line for line in data.splitlines() if "导出时间".encode() not in line]

    assert without_time(result.stdout) == without_time(from_admin)


def test_each_export_is_in_the_admin_log(admin_client, poll):
    download(admin_client, poll)
    download(admin_client, poll, "ballots")
    messages = set(
        LogEntry.objects.filter(object_id=str(poll.pk)).values_list("change_message", flat=True)
    )
    assert {"导出计票结果（CSV）", "导出选票明细（CSV）"} <= messages


def test_command_names_a_missing_poll(poll):
    with pytest.raises(CommandError, match="no-such"):
        call_command("export_tally", "--poll", "no-such")


def test_ballot_audit_lists_every_ballot_without_personal_data(
    admin_client, admin_user, citizen, poll
):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    poll.max_choices = 3
    poll.save()
    multi, voided = cast(poll, [8, 1, 15], [2])
    voided.void(by=admin_user, reason=VoidReason.TEST_DATA)

    response, data = download(admin_client, poll, "ballots")
    assert "reform-experiences-ballots-20261127-153005.csv" in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header = ["选票编号", "投票时间（北京时间）", "状态", "作废批次", "作废原因", "作废时间"]
    assert table[0] == header
    rows = {row[0]: row for row in table[1:]}
    assert len(rows) == 3
    assert rows[str(multi.pk)][2:5] == ["有效", "", ""]
    voided.refresh_from_db()
    assert rows[str(voided.pk)][2:5] == ["已作废", str(voided.voiding_id), "测试数据"]
    text = data.decode("utf-8")
    for personal in ("1381234****", "13812345678", "127.0.0", multi.citizen_hash):
        assert personal not in text
    # P5: no choices and no receipts beside the times (the choices are in the public record).
    for ballot in (multi, voided):
        assert ballot.receipt not in text
    assert "1;8;15" not in text and "所选" not in text

    audit_file = io.StringIO()
    call_command("export_tally", "--ballots", stdout=audit_file)
    assert audit_file.getvalue().encode("utf-8") == data


# The Excel workbook (issue 13, item 7): the same tally, typed and laid out for one A4 page.

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(data):
    from openpyxl import load_workbook

    assert data.startswith(b"PK"), "an .xlsx is a zip file"
    return load_workbook(io.BytesIO(data))


def download_xlsx(browser, poll):
    response = browser.get(f"/admin/ballots/poll/{poll.pk}/export/tally.xlsx")
    assert response.status_code == 200
    return response, response.content


def values(book):
    """Each sheet's rows, without their empty cells."""
    return {sheet.title: [[cell for cell in row if cell is not None]
                          for row in sheet.iter_rows(values_only=True)]
            for sheet in book.worksheets}  # fmt: skip


def test_tally_workbook_has_a_title_chinese_headers_and_typed_cells(admin_client, votes):
    response, data = download_xlsx(admin_client, votes)
    assert response["Content-Type"] == XLSX
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="reform-experiences-tally-20261127-153005.xlsx"'
    )
    book = workbook(data)
    assert book.sheetnames == ["计票结果", "选票统计"]
    sheet = book["计票结果"]
    title = sheet["A1"].value
    assert votes.title in title and str(votes.status_label) in title
    assert "2026-11-27 15:30:05" in title and "北京时间" in title
    assert [cell.value for cell in sheet[2]] == ["序号", "标题", "单位", "票数", "占比", "名次"]
    first = sheet[3]
    assert [cell.value for cell in first[:3]] == [3, "张店区“四位一体”创新推进社会治理", "张店区"]
    assert first[3].value == 4 and first[3].data_type == "n"
    assert first[4].value == pytest.approx(4 / 9) and first[4].number_format == "0.0%"
    assert first[5].value == 1 and isinstance(first[5].value, int)
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3, max_row=17)]
    assert all(isinstance(row[0], int) and isinstance(row[3], int) for row in rows)
    assert sum(row[3] for row in rows) == 9
    about = values(book)["计票结果"][18:]
    assert ["有效选票", 9] in about and ["已作废选票（不计入）", 1] in about
    assert ["导出时间（北京时间）", "2026-11-27 15:30:05"] in about
    for letter in "ABCDEF":
        assert sheet.column_dimensions[letter].width > 0, letter
    assert sheet.column_dimensions["B"].width >= 40  # the titles, wrapped, not cut
    assert sheet.freeze_panes == "A3"  # title and headers stay in view


def test_tally_workbook_prints_on_one_a4_page(admin_client, votes):
    sheet = workbook(download_xlsx(admin_client, votes)[1])["计票结果"]
    assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4
    assert sheet.page_setup.orientation == "portrait"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 1)
    assert sheet.print_title_rows == "$2:$2"  # the headers on every printed page
    assert "&P" in sheet.oddFooter.center.text


def test_tally_workbook_ranks_ties_as_the_csv_does(admin_client, votes):
    table, _ = parse(download(admin_client, votes)[1])
    sheet = workbook(download_xlsx(admin_client, votes)[1])["计票结果"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3, max_row=17)]
    assert [[str(row[0]), row[1], row[2], str(row[3]), str(row[5])] for row in rows] == [
        [row[0], row[1], row[2], row[3], row[5]] for row in table[1:]
    ]
    assert [row[5] for row in rows[:4]] == [1, 2, 2, 4]


def test_ballot_sheet_counts_days_and_choices_but_holds_no_ballot(
    admin_client, admin_user, citizen, poll
):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    poll.max_choices = 3
    poll.save()
    _, voided = cast(poll, [8, 1, 15], [2])
    voided.void(by=admin_user, reason=VoidReason.TEST_DATA)
    from ballots.models import Ballot

    ballots = list(Ballot.objects.filter(poll=poll))
    assert any(ballot.phone_masked and ballot.network for ballot in ballots)
    book = workbook(download_xlsx(admin_client, poll)[1])
    sheet = values(book)["选票统计"]
    assert ["投票日期（北京时间）", "投出选票", "有效选票", "已作废选票"] in sheet
    day = export.beijing_date(ballots[0].cast_at)
    assert [day, 3, 2, 1] in sheet
    assert ["合计", 3, 2, 1] in sheet
    assert ["所选项数", "有效选票"] in sheet
    assert [1, 1] in sheet and [3, 1] in sheet  # the counted ballots by how many they chose
    personal = {"127.0.0", "13812345678", "1381234****"}
    for ballot in ballots:
        personal |= {ballot.receipt, ballot.citizen_hash, ballot.phone_masked, ballot.network,
                     export._beijing(ballot.cast_at)[:16]}  # fmt: skip
    personal.discard("")
    for name, rows in values(book).items():
        for row in rows:
            for cell in row:
                for secret in personal:
                    assert secret not in str(cell), (name, cell)


def test_workbook_keeps_a_formula_in_a_title_as_text(admin_client, poll):
    Reform.objects.filter(number=2).update(title='=HYPERLINK("http://x")')
    sheet = workbook(download_xlsx(admin_client, poll)[1])["计票结果"]
    cells = {row[0].value: row[1] for row in sheet.iter_rows(min_row=3, max_row=17)}
    assert cells[2].value == '=HYPERLINK("http://x")' and cells[2].data_type == "s"


def test_command_and_button_give_the_same_workbook(admin_client, votes, tmp_path):
    from_admin = values(workbook(download_xlsx(admin_client, votes)[1]))
    target = tmp_path / "tally.xlsx"
    call_command("export_tally", "--poll", "reform-experiences", "--format", "xlsx",
                 "--output", str(target), stderr=io.StringIO())  # fmt: skip
    assert values(workbook(target.read_bytes())) == from_admin
    # The CSV stays the default, its bytes unchanged.
    csv_file = io.StringIO()
    call_command("export_tally", "--format", "csv", stdout=csv_file)
    assert csv_file.getvalue().encode("utf-8") == download(admin_client, votes)[1]


def test_command_refuses_an_unknown_format_and_a_workbook_to_a_terminal(poll):
    with pytest.raises(CommandError, match=r"不支持的导出格式.*pdf"):
        call_command("export_tally", "--format", "pdf")
    with pytest.raises(CommandError, match="--output"):
        call_command("export_tally", "--format", "xlsx", stdout=io.StringIO())
    with pytest.raises(CommandError, match="CSV"):
        call_command("export_tally", "--format", "xlsx", "--ballots", "--output", "x.xlsx")


def test_excel_button_sits_beside_the_csv_and_needs_the_export_role(
    admin_client, statistician, make_staff, poll
):
    from django.contrib.auth.models import Permission

    viewer = make_staff("viewer")  # may see the poll, not export it
    viewer.user.user_permissions.add(Permission.objects.get(codename="view_poll"))
    page = admin_client.get(f"/admin/ballots/poll/{poll.pk}/change/").content.decode()
    csv_link = page.index(f"/admin/ballots/poll/{poll.pk}/export/tally.csv")
    assert page.index(f"/admin/ballots/poll/{poll.pk}/export/tally.xlsx") > csv_link
    assert "导出计票结果（Excel）" in page
    assert download_xlsx(statistician, poll)[1].startswith(b"PK")
    assert LogEntry.objects.filter(change_message="导出计票结果（Excel）").exists()
    page = viewer.get(f"/admin/ballots/poll/{poll.pk}/change/").content.decode()
    assert "tally.xlsx" not in page and "tally.csv" not in page
    assert viewer.get(f"/admin/ballots/poll/{poll.pk}/export/tally.xlsx").status_code == 403


@pytest.mark.django_db(transaction=True)  # committed, so another process sees the ballots
def test_command_writes_a_workbook_to_a_pipe(admin_client, votes):
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        url = (f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
               f"{database['PORT'] or 5432}/{database['NAME']}")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "export_tally", "--format", "xlsx"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()

    def without_title(book):
        # The export time differs: it is in the title row and in 导出说明.
        return {name: [row for row in rows[1:] if "导出时间（北京时间）" not in row]
                for name, rows in values(book).items()}  # fmt: skip

    from_admin = workbook(download_xlsx(admin_client, votes)[1])
    assert without_title(workbook(result.stdout)) == without_title(from_admin)
