"""/receipt/, /record/ and the results page as a citizen, a journalist and a clerk see them.

P2 (a citizen checks their ballot), P4 (a result becomes final once, in public), P6 (nothing
leaks while voting), and the "Why" of issue 12: a voiding after the close that changed the
winner with nothing on the page saying so; a receipt with nowhere to check it.
"""

import io
import json
import zipfile

import pytest
from django.conf import settings
from django.test import Client, override_settings

from ballots.models import Ballot, VoidReason
from record.models import Checkpoint
from record.publish import publish_checkpoint
from tools.verify_record import Report, check_receipt_proof, load_public_key, verify_package

from .conftest import cast, text

pytestmark = pytest.mark.django_db


def check(client, receipt):
    return text(client.post("/receipt/", {"receipt": receipt}))


@pytest.fixture
def published(poll):
    """Two ballots in the first checkpoint."""
    ballots = cast(poll, [3], [5])
    publish_checkpoint(poll)
    return ballots


# --- /receipt/ (P2) ---------------------------------------------------------------------------


def test_the_receipt_page_after_voting_points_to_the_check(citizen):
    page = text(citizen.post("/vote/", {"choices": "3", "confirm": "1"}, follow=True))
    assert "请截图或记下回执编号，以便日后核对" in page and 'href="/receipt/"' in page


def test_a_counted_receipt_shows_its_choices_and_a_checked_proof(client, published):
    ballot = published[0]
    page = check(client, ballot.receipt_display.lower())
    assert "已计入" in page and "张店区“四位一体”创新推进社会治理" in page
    assert "包含证明已核验通过" in page and "第1个检查点（共2条记录）" in page
    assert Checkpoint.objects.get().root in page


@pytest.mark.parametrize("spelled", ["lower", "spaces", "full_width"])
def test_dashes_spaces_case_and_full_width_are_ignored(client, published, spelled):
    receipt = published[0].receipt
    typed = {
        "lower": receipt.lower(),
        "spaces": f" {receipt[:4]} {receipt[4:8]}  {receipt[8:]} ",
        "full_width": "".join(chr(ord(c) + 0xFEE0) for c in receipt),
    }[spelled]
    assert "已计入" in check(client, typed)


def test_a_voided_receipt_shows_the_reason_once_in_the_record(client, published, admin_user):
    ballot = published[1]
    ballot.void(by=admin_user, reason=VoidReason.DUPLICATE_IDENTITY)
    pending = check(client, ballot.receipt)
    assert "已计入" in pending and "作废记录将在下一个检查点" in pending
    publish_checkpoint(ballot.poll)
    page = check(client, ballot.receipt)
    assert "已作废" in page and "作废原因：身份重复" in page
    assert "浙" not in page and "包含证明已核验通过" in page


def test_a_ballot_not_yet_in_the_record_says_when_it_will_be(client, published):
    [later] = cast(published[0].poll, [8])
    page = check(client, later.receipt)
    assert "尚未写入公开记录" in page and "下一个检查点（预计" in page
    assert "已计入" not in page


@pytest.mark.parametrize("typed", ["2345-6789-ABCD", "1234", "not a receipt at all", "Ⅻ"])
def test_every_unknown_or_mistyped_code_gets_the_same_answer(client, published, typed):
    page = check(client, typed)
    assert "未找到该回执编号。请核对后重新输入" in page
    answer = page.split('id="lookup-title"')[1].split("</section>")[0]
    assert (
        answer
        == check(client, "ZZZZ-ZZZZ-ZZZZ").split('id="lookup-title"')[1].split("</section>")[0]
    )
    assert f'value="{typed}"' in page  # what was typed is kept


def test_an_empty_receipt_asks_for_one(client, published):
    page = check(client, "")
    assert "请输入回执编号" in page


def test_the_proof_downloads_as_json_and_holds_against_the_signed_checkpoint(client, published):
    response = client.post("/receipt/proof.json", {"receipt": published[0].receipt})
    assert response["Content-Disposition"].endswith('receipt-proof.json"')
    document = json.loads(response.content)
    assert document["checkpoint"] == Checkpoint.objects.get().signed()
    key = client.get("/record/reform-experiences/public_key.pem").content
    check_receipt_proof(document, load_public_key(key))
    assert published[0].receipt not in response.content.decode()


@override_settings(RATE_LIMITS={**settings.RATE_LIMITS, "receipt_per_ip": "3/h"})
def test_receipt_checks_are_rate_limited_per_address(published):
    client = Client()
    for _ in range(3):
        assert client.post("/receipt/", {"receipt": "2345-6789-ABCD"}).status_code == 200
    assert client.post("/receipt/", {"receipt": published[0].receipt}).status_code == 429
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert other.post("/receipt/", {"receipt": published[0].receipt}).status_code == 200


def test_a_receipt_is_never_put_in_an_address(client):
    # POST, so a receipt never lands in an access log beside the client's address (P5).
    page = text(client.get("/receipt/"))
    assert 'method="post"' in page and 'name="receipt"' in page
    assert client.get("/receipt/?receipt=2345").status_code == 200  # ignored, not an error


# --- /record/ (P3, P6) -------------------------------------------------------------------------


def test_while_open_only_checkpoints_are_public(client, published):
    page = text(client.get("/record/reform-experiences/"))
    checkpoint = Checkpoint.objects.get()
    assert checkpoint.root in page and checkpoint.signature in page
    assert "投票期间只公开检查点" in page
    assert client.get("/record/reform-experiences/entries.jsonl").status_code == 404
    assert client.get("/record/reform-experiences/package.zip").status_code == 404
    for ballot in published:
        assert ballot.receipt not in page
    saved = json.loads(client.get("/record/reform-experiences/checkpoints/1.json").content)
    assert saved == checkpoint.published()


def test_the_record_shows_the_key_and_its_fingerprint(client, published):
    from record.publish import record_signer

    page = text(client.get("/record/reform-experiences/"))
    signer = record_signer()
    assert signer.fingerprint in page and "BEGIN PUBLIC KEY" in page
    assert signer.fingerprint in text(client.get("/record/"))


def test_checkpoints_file_carries_the_consistency_proofs(client, published):
    cast(published[0].poll, [8])
    publish_checkpoint(published[0].poll)
    lines = client.get("/record/reform-experiences/checkpoints.jsonl").content.splitlines()
    second = json.loads(lines[1])
    assert second["size"] == 3 and second["consistency"]
    assert "1个哈希" in text(client.get("/record/reform-experiences/")) or second["consistency"]


def test_entries_are_published_at_the_close(client, published, django_capture_on_commit_callbacks):
    poll = published[0].poll
    with django_capture_on_commit_callbacks(execute=True):
        poll.close()
    lines = client.get("/record/reform-experiences/entries.jsonl")
    body = b"".join(lines.streaming_content).splitlines()
    assert [json.loads(line)["type"] for line in body] == ["ballot", "ballot", "close"]


def test_after_certification_the_package_is_offered_and_verifies(
    client, published, admin_user, django_capture_on_commit_callbacks
):
    poll = published[0].poll
    with django_capture_on_commit_callbacks(execute=True):
        poll.close()
        poll.certify(by=admin_user)
    page = text(client.get("/record/reform-experiences/"))
    assert "公开记录包（zip）" in page
    response = client.get("/record/reform-experiences/package.zip")
    data = b"".join(response.streaming_content)
    assert len(data) == int(response["Content-Length"])
    lines = []
    verify_package(io.BytesIO(data), receipt=published[0].receipt, report=Report(lines.append))
    output = "\n".join(lines)
    assert "已计入" in output and "最终结果（已于" in output
    assert "result.pdf" in zipfile.ZipFile(io.BytesIO(data)).namelist()


# --- /results/ (P4 and the first case of the "Why") -----------------------------------


def test_a_voiding_after_the_close_that_changes_the_winner_is_shown_on_the_results(
    client, poll, admin_user
):
    # Ten ballots, a tie for first (3 and 5); after the close the clerk voids one ballot.
    ballots = cast(poll, [3], [3], [3], [3], [5], [5], [5], [5], [8], [1])
    poll.close()
    before = text(client.get("/results/?fresh=1"))
    assert "<h2>初步结果" in before and "<h2>最终结果" not in before
    assert before.count("并列第1名") == 2
    ballots[4].void(by=admin_user, reason=VoidReason.STUFFING)
    after = text(client.get("/results/?fresh=1"))
    assert "<h2>初步结果" in after and "<h2>最终结果" not in after
    assert "并列第1名" not in after
    assert "投票结束后作废的选票" in after
    section = after.split("投票结束后作废的选票")[1]
    assert "1张" in section and "疑似刷票" in section


def test_results_say_until_when_the_publicity_period_runs(client, poll):
    from datetime import timedelta

    poll.close()
    poll.publicity_ends_at = poll.closed_at + timedelta(days=7)
    poll.save()
    page = text(client.get("/results/?fresh=1"))
    assert "初步结果（公示期至" in page


def test_certified_results_are_final_with_the_date(client, poll, admin_user):
    cast(poll, [3])
    poll.close()
    poll.certify(by=admin_user)
    page = text(client.get("/results/?fresh=1"))
    assert "<h2>最终结果（已于" in page and "确认）" in page and "<h2>初步结果" not in page
    assert "已确认" in page


def test_a_voiding_before_the_close_is_not_listed_as_after(client, poll, admin_user):
    [ballot] = cast(poll, [3])
    ballot.void(by=admin_user, reason=VoidReason.TEST_DATA)
    poll.close()
    assert "投票结束后没有作废选票" in text(client.get("/results/?fresh=1"))


def test_the_record_pages_in_english(client, published):
    for path in ("/en/record/", "/en/record/reform-experiences/", "/en/receipt/"):
        page = text(client.get(path))
        assert 'lang="en"' in page
    page = text(client.post("/en/receipt/", {"receipt": published[0].receipt}))
    assert "Counted" in page and "The inclusion proof was checked" in page
    assert Ballot.objects.count() == 2
