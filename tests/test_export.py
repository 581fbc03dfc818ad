"""The tally and the ballot list as CSV: Excel-safe, exact, the same from admin and command."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from ballots import export
from ballots.models import VoidReason
from reforms.models import Reform

from .test_admin import cast

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
    table, _ = parse(download(admin_client, poll)[1])
    by_number = {row[0]: row for row in table[1:]}
    assert by_number["2"][1:3] == ['\'=HYPERLINK("http://x")', "'+区"]
    assert by_number["4"][1:3] == ["'@SUM(A1)", "'-1"]


def test_command_and_button_produce_the_same_bytes(admin_client, votes, tmp_path):
    _, from_admin = download(admin_client, votes)
    target = tmp_path / "tally.csv"
    call_command("export_tally", "--poll", "reform-experiences", "--output", str(target),
                 stderr=io.StringIO())  # fmt: skip
    assert target.read_bytes() == from_admin
    to_stdout = io.StringIO()
    call_command("export_tally", stdout=to_stdout)  # the current poll by default
    assert to_stdout.getvalue().encode("utf-8") == from_admin


def test_command_names_a_missing_poll(poll):
    with pytest.raises(CommandError, match="no-such"):
        call_command("export_tally", "--poll", "no-such")


def test_ballot_audit_lists_every_ballot_without_personal_data(
    admin_client, admin_user, citizen, poll
):
    citizen.post("/vote/", {"choices": "3"})
    poll.max_choices = 3
    poll.save()
    multi, voided = cast(poll, [8, 1, 15], [2])
    voided.void(by=admin_user, reason=VoidReason.TEST_DATA)

    response, data = download(admin_client, poll, "ballots")
    assert "reform-experiences-ballots-20261127-153005.csv" in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == [
        "回执编号",
        "投票时间（北京时间）",
        "所选条目序号",
        "状态",
        "作废原因",
        "作废时间",
    ]
    rows = {row[0]: row for row in table[1:]}
    assert len(rows) == 3
    assert rows[multi.receipt][2:4] == ["1;8;15", "有效"]
    assert rows[voided.receipt][2:5] == ["2", "已作废", "测试数据"]
    text = data.decode("utf-8")
    for personal in ("138****5678", "13812345678", "127.0.0", multi.citizen_hash):
        assert personal not in text

    audit_file = io.StringIO()
    call_command("export_tally", "--ballots", stdout=audit_file)
    assert audit_file.getvalue().encode("utf-8") == data
