"""The closing package and its verifier: a round trip, receipts, saved checkpoints, tampering.

Two kinds of tampering. Edited after it was built (a file in the zip changed): the manifest
catches it. Built by the office's own key from altered data (a ballot changed in the database,
a log entry rewritten, a checkpoint dropped): the verifier names the first checkpoint that no
longer holds, or the rule the log breaks.
"""

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization

from ballots import export
from ballots.models import Ballot, VoidReason
from record import entries as log_entries
from record.merkle import MemoryTileStore, MerkleLog
from record.package import OfferedEntry, PollFacts, build_closing_package, poll_document
from record.receipts import receipt_proof_document, receipt_proof_holds
from record.signing import Signer
from reforms.models import Reform
from tools.verify_record import (
    Failure,
    LogState,
    ReceiptNotFound,
    Report,
    canonical_json,
    public_key_fingerprint,
    receipt_hash,
    verify_log,
    verify_package,
)

from .record_helpers import (
    HOUR,
    OPENED,
    SLUG,
    Record,
    make_record,
    new_signer,
    poll_facts,
    read_member,
    rewrite_zip,
)


@pytest.fixture(scope="module")
def record():
    return make_record()


@pytest.fixture(scope="module")
def package(record):
    return record.package().getvalue()


def verify(data, **options):
    lines = []
    result = verify_package(io.BytesIO(data), report=Report(lines.append), **options)
    return result, "\n".join(lines)


def failure_of(data, **options):
    with pytest.raises(Failure) as caught:
        verify(data, **options)
    return caught.value


# --- The round trip ---------------------------------------------------------------------------


def test_a_package_verifies_and_recounts_the_poll(record, package):
    (log, result), output = verify(package)
    votes, ballots, voided = record.counts()
    assert (result.ballots, result.voided) == (ballots, voided) == (15, 3)
    assert {row.number: row.votes for row in result.rows if row.votes} == votes
    assert log.tree.size == len(record.lines) and len(log.checkpoints) == 7
    assert "[通过] 7 个检查点签名有效" in output and "OK: 7 checkpoints" in output
    assert "tally.csv 与重新计票逐字节相同" in output
    assert "最终结果（已于 2026-11-21 14:00:00 确认）" in output
    assert record.signer.fingerprint in output


def test_the_package_holds_every_file_and_the_manifest_lists_them(package):
    names = zipfile.ZipFile(io.BytesIO(package)).namelist()
    expected = ["poll.json", "entries.jsonl", "checkpoints.jsonl", "tally.csv", "public_key.pem",
                "verify_record.py", "README.txt", "manifest.json", "manifest.sig"]  # fmt: skip
    assert sorted(names) == sorted(expected)
    manifest = json.loads(read_member(package, "manifest.json"))
    assert sorted(manifest["files"]) == sorted(set(names) - {"manifest.json", "manifest.sig"})
    with open("tools/verify_record.py", "rb") as tool:
        assert read_member(package, "verify_record.py") == tool.read()


def test_a_result_pdf_gets_its_line_in_the_manifest(record):
    data = record.package()
    output = io.BytesIO()
    build_closing_package(output, poll=record.facts, entries=record.lines,
                          checkpoints=record.checkpoints, tally_csv=record.tally_csv(),
                          tally_exported_at=record.exported_at, tally_status=record.status,
                          signer=record.signer, created_at=record.exported_at,
                          result_pdf=b"%PDF-1.7 ...")  # fmt: skip
    manifest = json.loads(read_member(output.getvalue(), "manifest.json"))
    assert manifest["files"]["result.pdf"]["bytes"] == 12
    verify(output.getvalue())
    assert data.getvalue() != output.getvalue()


def test_the_same_record_gives_the_same_package_byte_for_byte(record, package):
    assert record.package().getvalue() == package


def test_each_checkpoint_line_carries_its_consistency_proof(package):
    lines = read_member(package, "checkpoints.jsonl").decode().splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["consistency"] == []  # from the empty log: nothing to prove
    assert len(second["consistency"]) > 0
    assert set(second) == {"poll", "size", "root", "time", "signature", "consistency"}


def test_entries_are_canonical_json_without_time_or_identity(package):
    for line in read_member(package, "entries.jsonl").decode().splitlines():
        entry = json.loads(line)
        assert canonical_json(entry).decode() == line
        if entry["type"] == "ballot":
            assert set(entry) == {"type", "poll", "receipt_hash", "choices"}


# --- Receipts -----------------------------------------------------------------------------------


def test_a_counted_receipt_shows_its_choices(record, package):
    receipt, choices = next((r, c) for r, c in record.choices.items() if r not in record.voided)
    _, output = verify(package, receipt=receipt)
    code = f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}"
    assert f"回执 {code}：已计入。所选：" in output
    assert f"第{choices[0]}项改革经验" in output
    assert f"Receipt {code}: counted. Choices: {', '.join(map(str, choices))}." in output


@pytest.mark.parametrize("typed", ["lower", "spaced", "full_width"])
def test_receipts_are_found_however_they_are_typed(record, package, typed):
    receipt = next(r for r in record.choices if r not in record.voided)
    spelled = {
        "lower": f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}".lower(),
        "spaced": f" {receipt[:4]} {receipt[4:8]}  {receipt[8:]} ",
        "full_width": "".join(chr(ord(c) + 0xFEE0) for c in receipt[:6]) + "－" + receipt[6:],
    }[typed]
    _, output = verify(package, receipt=spelled)
    assert "已计入" in output


def test_a_voided_receipt_shows_the_reason(record, package):
    receipt = next(iter(record.voided))
    _, output = verify(package, receipt=receipt)
    assert "已作废，原因：疑似刷票（第 1 批作废）" in output
    assert "voided, reason: stuffing" in output


def test_an_unknown_receipt_is_not_found_and_says_the_record_holds(package):
    failure = failure_of(package, receipt="2345-6789-ABCD")
    assert isinstance(failure, ReceiptNotFound) and failure.exit_code == 3
    assert "回执 2345-6789-ABCD 不在公开记录中" in failure.zh


def test_a_receipt_proof_saved_during_voting_still_holds_in_the_final_package(record, package):
    receipt = next(iter(record.choices))
    digest = receipt_hash(receipt)
    index = next(i for i, line in enumerate(record.lines) if digest in line.decode())
    checkpoint = record.checkpoints[0]
    assert index < checkpoint["size"]
    document = receipt_proof_document(receipt=receipt, entries=[(index, record.lines[index])],
                                      log=record.log, checkpoint=checkpoint,
                                      fingerprint=record.signer.fingerprint)  # fmt: skip
    assert receipt_proof_holds(document, record.signer.public_key_pem)
    _, output = verify(package, saved=json.loads(json.dumps(document)))
    assert "你保存的回执证明在该检查点下仍然成立" in output
    document["entries"][0]["entry"]["choices"] = [15]
    assert not receipt_proof_holds(document, record.signer.public_key_pem)


# --- A checkpoint saved during voting ---------------------------------------------------------


@pytest.mark.parametrize("number", [1, 3, 5])
def test_a_saved_checkpoint_is_part_of_the_final_log(record, package, number):
    saved = json.loads(json.dumps(record.checkpoints[number - 1]))
    _, output = verify(package, saved=saved)
    assert "签名有效，列在包中，且是最终记录的前缀" in output


def test_a_saved_checkpoint_of_a_rewritten_history_is_refused(record):
    # The office rewrote a (voided, so the certified counts stay right) ballot of the first
    # hour after someone saved the second checkpoint, and re-signed every checkpoint with its
    # own key: the package verifies by itself, the saved checkpoint does not fit it.
    saved = record.checkpoints[1]
    forged = make_record(signer=record.signer)
    voided = {json.loads(log_entries.void_entry(SLUG, r, "stuffing", 1))["receipt_hash"]
              for r in forged.voided}  # fmt: skip
    index = next(i for i, line in enumerate(forged.lines[:7])
                 if json.loads(line)["receipt_hash"] in voided)  # fmt: skip
    changed = json.loads(forged.lines[index])
    changed["choices"] = [15]
    forged.lines[index] = canonical_json(changed)
    rebuilt = make_record_from_lines(forged)
    verify(rebuilt)
    failure = failure_of(rebuilt, saved=saved)
    assert "not a prefix of the final log" in failure.en
    assert "记录在你保存它之后被改写过" in failure.zh


def make_record_from_lines(record):
    """Re-sign checkpoints over record.lines at the same sizes, as a forger with the key would."""
    log, checkpoints = MerkleLog(MemoryTileStore()), []
    for checkpoint in record.checkpoints:
        log.append(record.lines[log.size : checkpoint["size"]])
        checkpoints.append(record.signer.checkpoint(poll=SLUG, size=log.size, root=log.root(),
                           time=datetime.fromisoformat(checkpoint["time"])))  # fmt: skip
    return record.package(checkpoints=checkpoints, tally_csv=None).getvalue()


def test_a_saved_checkpoint_signed_by_another_key_is_refused(record, package):
    other = new_signer()
    saved = other.checkpoint(poll=SLUG, size=3, root=record.log.root(3), time=OPENED + HOUR)
    failure = failure_of(package, saved=saved)
    assert "was not signed by this package's key" in failure.en


def test_a_dropped_checkpoint_shows_when_someone_saved_it(record):
    dropped = record.checkpoints[2]
    rebuilt = record.package(checkpoints=record.checkpoints[:2] + record.checkpoints[3:])
    verify(rebuilt.getvalue())  # the log itself is intact
    failure = failure_of(rebuilt.getvalue(), saved=dropped)
    assert "the office dropped a checkpoint" in failure.en
    assert "发布方删去了一个检查点" in failure.zh


# --- Tampering after the package was built: the manifest -------------------------------------


def test_an_altered_ballot_in_the_zip_breaks_the_manifest(package):
    lines = read_member(package, "entries.jsonl").split(b"\n")
    lines[0] = lines[0].replace(b'"choices":[', b'"choices":[15,', 1)
    failure = failure_of(rewrite_zip(package, {"entries.jsonl": b"\n".join(lines)}))
    assert failure.en == (
        "The SHA-256 of entries.jsonl does not match the manifest: it was changed after signing."
    )


@pytest.mark.parametrize("name", ["poll.json", "checkpoints.jsonl", "tally.csv",
                                  "verify_record.py"])  # fmt: skip
def test_any_edited_file_breaks_the_manifest(package, name):
    data = read_member(package, name)
    failure = failure_of(rewrite_zip(package, {name: data + b" "}))
    assert f"The SHA-256 of {name} does not match the manifest" in failure.en


def test_a_removed_or_added_file_is_named(package):
    assert (
        "checkpoints.jsonl is in the manifest"
        in failure_of(rewrite_zip(package, {"checkpoints.jsonl": None})).en
    )
    added = io.BytesIO(package)
    with zipfile.ZipFile(added, "a") as zf:
        zf.writestr("extra.txt", b"hello")
    assert "extra.txt is in the package but not in the manifest" in failure_of(added.getvalue()).en


def test_a_changed_manifest_signature_is_named(package):
    signature = bytearray(read_member(package, "manifest.sig"))
    signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
    failure = failure_of(rewrite_zip(package, {"manifest.sig": bytes(signature)}))
    assert failure.en.startswith("The manifest's signature does not verify")


def test_a_swapped_public_key_is_named(package):
    failure = failure_of(rewrite_zip(package, {"public_key.pem": new_signer().public_key_pem}))
    assert "or its public key was swapped" in failure.en


def test_a_package_with_another_key_than_the_published_fingerprint_is_refused(record):
    other = new_signer()
    rebuilt = make_record(signer=other).package().getvalue()
    verify(rebuilt)  # consistent in itself: only the published fingerprint tells
    failure = failure_of(rebuilt, fingerprint=record.signer.fingerprint.lower())
    assert "it is not the key the office published" in failure.en
    verify(rebuilt, fingerprint=other.fingerprint.replace(" ", ""))


def test_something_that_is_no_zip_is_named():
    assert failure_of(b"PK not really").en == "This is not a readable zip file."


# --- Built from altered data with the office's own key: the first checkpoint that fails ---------


def entry_index_in_checkpoint(record, number, kind="ballot"):
    start = record.checkpoints[number - 2]["size"] if number > 1 else 0
    return next(i for i in range(start, record.checkpoints[number - 1]["size"])
                if json.loads(record.lines[i])["type"] == kind)  # fmt: skip


def test_an_altered_ballot_names_the_first_checkpoint_that_no_longer_holds(record):
    lines = list(record.lines)
    index = entry_index_in_checkpoint(record, 2)
    entry = json.loads(lines[index])
    entry["choices"] = [15]
    lines[index] = canonical_json(entry)
    failure = failure_of(record.package(lines=lines).getvalue())
    assert failure.en.startswith("checkpoint 2 (2026-11-20 11:00:00, size 13) no longer holds")
    assert "第 2 个检查点（2026-11-20 11:00:00，13 条记录）不再成立" in failure.zh


def test_a_removed_entry_names_the_first_checkpoint_that_covered_it(record):
    lines = list(record.lines)
    del lines[entry_index_in_checkpoint(record, 3)]
    failure = failure_of(record.package(lines=lines).getvalue())
    assert failure.en.startswith("checkpoint 3 (2026-11-20 12:00:00, size 20) no longer holds")


def test_reordered_entries_name_the_first_checkpoint_that_covered_them(record):
    lines = list(record.lines)
    first = entry_index_in_checkpoint(record, 2)
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    failure = failure_of(record.package(lines=lines).getvalue())
    assert failure.en.startswith("checkpoint 2 (")


def test_a_rewritten_checkpoint_is_named(record):
    checkpoints = [dict(c) for c in record.checkpoints]
    checkpoints[2]["root"] = "0" * 64  # changed in the database, not re-signed
    failure = failure_of(record.package(checkpoints=checkpoints).getvalue())
    assert failure.en.startswith("checkpoint 3 (") and "the signature does not verify" in failure.en
    # Re-signed with the office's key, it still does not match the entries.
    checkpoints[2] = record.signer.checkpoint(poll=SLUG, size=checkpoints[2]["size"],
                                              root=b"\0" * 32, time=OPENED + 3 * HOUR)  # fmt: skip
    failure = failure_of(record.package(checkpoints=checkpoints).getvalue())
    assert failure.en.startswith("checkpoint 3 (2026-11-20 12:00:00, size 20) no longer holds")


def test_a_wrong_consistency_proof_is_named(record):
    # What `manage.py verify_record` meets if a stored proof is wrong: verify_log on plain data.
    document = poll_document(record.facts, tally_exported_at=OPENED, tally_status="")
    checkpoints = [dict(c, consistency=[]) for c in record.checkpoints]
    checkpoints[1]["consistency"] = [c.hex() for c in record.log.consistency_proof(7, 13)]
    checkpoints[1]["consistency"][0] = "0" * 64
    with pytest.raises(Failure) as caught:
        verify_log(document, record.lines, checkpoints, record.signer.public_key, Report(print))
    assert caught.value.en == (
        "checkpoint 2 (2026-11-20 11:00:00, size 13): the consistency proof from the checkpoint "
        "before does not hold; it does not extend it."
    )


def test_a_changed_checkpoint_signature_is_named(record):
    checkpoints = [dict(c) for c in record.checkpoints]
    signature = checkpoints[3]["signature"]
    checkpoints[3]["signature"] = ("B" if signature[0] == "A" else "A") + signature[1:]
    failure = failure_of(record.package(checkpoints=checkpoints).getvalue())
    assert failure.en.startswith("checkpoint 4 (") and "signature does not verify" in failure.en


def test_a_package_signed_by_a_swapped_key_fails_at_the_first_checkpoint(record):
    failure = failure_of(record.package(signer=new_signer()).getvalue())
    assert failure.en.startswith("checkpoint 1 (") and "signature does not verify" in failure.en


def test_entries_after_the_last_checkpoint_are_refused(record):
    extra = log_entries.void_entry(SLUG, next(iter(record.choices)), "other", 3)
    failure = failure_of(record.package(lines=[*record.lines, extra]).getvalue())
    assert "after the last checkpoint" in failure.en and "not signed" in failure.en


def test_an_edited_tally_names_the_first_wrong_cell(record):
    rows = record.tally_csv().decode("utf-8").split("\r\n")
    cells = rows[1].split(",")
    cells[3] = str(int(cells[3]) + 1)
    rows[1] = ",".join(cells)
    failure = failure_of(record.package(tally_csv="\r\n".join(rows).encode()).getvalue())
    number = cells[0]
    assert failure.en.startswith(f"tally.csv line 2 (entry {number}, 票数) reads ")
    assert f"tally.csv 第 2 行序号 {number} 的“票数”为" in failure.zh


def test_a_tally_with_the_same_numbers_in_other_bytes_is_refused(record):
    without_bom = record.tally_csv()[3:]
    failure = failure_of(record.package(tally_csv=without_bom).getvalue())
    assert "its bytes differ" in failure.en


# --- The rules of the log, even with valid signatures -------------------------------------------


def signed_package(record, lines):
    """The office signs whatever it likes: the rules still hold or the verifier says no."""
    forged = make_record(signer=record.signer)
    forged.lines = lines
    forged.checkpoints = [dict(c, size=min(c["size"], len(lines))) for c in record.checkpoints]
    forged.checkpoints[-1]["size"] = len(lines)
    return make_record_from_lines(forged)


def test_a_ballot_after_the_close_is_refused(record):
    lines = list(record.lines)
    certification = lines.pop()
    late = log_entries.ballot_entry(SLUG, "LATE23456789", [3])
    failure = failure_of(signed_package(record, [*lines, late, certification]))
    assert "is a ballot after the close" in failure.en


def test_a_voiding_after_the_certification_is_refused(record):
    receipt = next(r for r in record.choices if r not in record.voided)
    late = log_entries.void_entry(SLUG, receipt, "stuffing", 9)
    failure = failure_of(signed_package(record, [*record.lines, late]))
    assert "comes after the certification" in failure.en


def test_a_certification_that_disagrees_with_the_log_is_refused(record):
    lines = list(record.lines)
    votes, ballots, voided = record.counts()
    votes[3] = votes.get(3, 0) + 1
    lines[-1] = log_entries.certification_entry(SLUG, OPENED + 29 * HOUR, votes, ballots, voided)
    failure = failure_of(signed_package(record, lines))
    assert "certifies" in failure.en and "for entry 3" in failure.en


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (b'{"type":"ballot"}', "does not have the fields"),
        (b'{"choices":[3],"poll":"other","receipt_hash":"' + b"a" * 64 + b'","type":"ballot"}',
         "belongs to another poll"),
        (b'{"choices":[3,1],"poll":"reform-experiences","receipt_hash":"' + b"a" * 64
         + b'","type":"ballot"}', "ascending order"),
        (b'{"choices":[1,2,3],"poll":"reform-experiences","receipt_hash":"' + b"a" * 64
         + b'","type":"ballot"}', "has 3 choices"),
        (b'{"choices":[16],"poll":"reform-experiences","receipt_hash":"' + b"a" * 64
         + b'","type":"ballot"}', "chooses 16"),
        (b'{"poll":"reform-experiences","reason":"stuffing","receipt_hash":"' + b"b" * 64
         + b'","type":"void","voiding":1}', "not earlier in the log"),
        (b'{ "type": "close", "poll": "reform-experiences", "at": "2026-11-20T13:00:00+08:00"}',
         "not canonical"),
        (b'{"at":"2026-11-20 13:00","poll":"reform-experiences","type":"close"}',
         "malformed time"),
        (b'{"choices":[[1]],"poll":"reform-experiences","receipt_hash":"' + b"a" * 64
         + b'","type":"ballot"}', "ascending order"),
        (b"not json", "not valid JSON"),
    ],
)  # fmt: skip
def test_malformed_entries_are_named(entry, message):
    state = LogState(poll_document(poll_facts(), tally_exported_at=OPENED, tally_status=""))
    state.add(log_entries.ballot_entry(SLUG, "AAAA23456789", [1]))
    with pytest.raises(Exception) as caught:
        state.add(entry)
    assert message in str(caught.value)


def test_the_fingerprint_is_sha256_of_the_raw_key_in_groups(record):
    raw = record.signer.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    fingerprint = public_key_fingerprint(record.signer.public_key)
    assert fingerprint.replace(" ", "") == hashlib.sha256(raw).hexdigest().upper()
    assert len(fingerprint.split(" ")) == 16


# --- P1 against the site's own export -----------------------------------------------------------


@pytest.mark.django_db
def test_the_recount_reproduces_the_sites_tally_csv_byte_for_byte(poll, admin_user):
    """An independent recount: the tool's CSV is the site's export's bytes, for the same time."""
    Reform.objects.filter(number=7).update(title='=HYPERLINK("x")', unit="-区")
    for i, numbers in enumerate([[3], [3], [3], [3], [5], [5], [8], [8], [1], [1], [12]]):
        poll.cast_ballot(citizen_hash=f"citizen-{i:08d}".ljust(64, "0"), numbers=numbers)
    Ballot.objects.filter(choices__reform__number=12).get().void(
        by=admin_user, reason=VoidReason.STUFFING
    )
    Ballot.objects.filter(choices__reform__number=1).first().void(
        by=admin_user, reason=VoidReason.DUPLICATE_IDENTITY
    )
    poll.close()
    moment = datetime(2026, 11, 27, 7, 30, 5, tzinfo=UTC)
    site_csv = "".join(export.tally_lines(poll, moment)).encode("utf-8")

    facts = PollFacts(
        slug=poll.slug, title=poll.title, intro=poll.intro, max_choices=poll.max_choices,
        entries=[OfferedEntry(r.number, r.title, r.unit) for r in poll.reforms.all()],
        void_reasons={value: str(label) for value, label in VoidReason.choices},
        opens_at=poll.opens_at, closed_at=poll.closed_at,
    )  # fmt: skip
    record = Record(Signer(new_signer().private_key), facts, exported_at=moment,
                    status=str(poll.status_label))  # fmt: skip
    ballots = [
        log_entries.ballot_entry(poll.slug, b.receipt, [c.reform.number for c in b.choices.all()])
        for b in Ballot.objects.all()
    ]
    record.publish(log_entries.batch(ballots), moment)
    voids = [log_entries.void_entry(poll.slug, b.receipt, b.void_reason, 1)
             for b in Ballot.objects.filter(voided_at__isnull=False)]  # fmt: skip
    record.publish([*log_entries.batch(voids), log_entries.close_entry(poll.slug, poll.closed_at)],
                   moment)  # fmt: skip
    (_, result), output = verify(record.package(tally_csv=site_csv).getvalue())
    assert "tally.csv 与重新计票逐字节相同" in output
    assert (result.ballots, result.voided, result.votes) == (9, 2, 9)
    ranked = [(r.number, r.votes, r.rank) for r in result.rows[:4]]
    assert ranked == [(3, 4, 1), (5, 2, 2), (8, 2, 2), (1, 1, 4)]


# --- Entries as the site writes them ----------------------------------------------------------


def test_entries_are_built_canonical_and_refuse_what_no_ballot_is():
    entry = log_entries.ballot_entry(SLUG, "7k3m-9qx2-abcd", [8, 3])
    assert entry == (b'{"choices":[3,8],"poll":"reform-experiences","receipt_hash":"'
                     + receipt_hash("7K3M9QX2ABCD").encode() + b'","type":"ballot"}')  # fmt: skip
    for choices in ([], [3, 3]):
        with pytest.raises(ValueError):
            log_entries.ballot_entry(SLUG, "7K3M9QX2ABCD", choices)
    with pytest.raises(ValueError):
        log_entries.void_entry(SLUG, "7K3M9QX2ABCD", "stuffing", 0)
    with pytest.raises(ValueError):
        log_entries.close_entry(SLUG, datetime(2026, 11, 27, 16, 0))  # no time zone


def test_a_batch_puts_the_ballots_first_in_random_order():
    ballots = [log_entries.ballot_entry(SLUG, f"R{i:011d}", [1]) for i in range(50)]
    voids = [log_entries.void_entry(SLUG, f"R{i:011d}", "other", 1) for i in range(5)]
    ordered = log_entries.batch(ballots, voids)
    assert sorted(ordered[:50]) == sorted(ballots) and sorted(ordered[50:]) == sorted(voids)
    assert ordered[:50] != ballots  # shuffled (the chance of the same order is 1 in 50!)
