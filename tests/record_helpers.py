"""A small poll's public record, built the way the `record` app builds it, for the tests."""

import io
import random
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from record import entries as log_entries
from record.merkle import MemoryTileStore, MerkleLog
from record.package import OfferedEntry, PollFacts, build_closing_package, poll_document
from record.signing import Signer
from tools import verify_record

SLUG = "reform-experiences"
OPENED = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
HOUR = timedelta(hours=1)
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VOID_REASONS = {"stuffing": "疑似刷票", "duplicate_identity": "身份重复", "test_data": "测试数据",
                "other": "其他"}  # fmt: skip


def new_signer():
    return Signer(Ed25519PrivateKey.generate())


def poll_facts(max_choices=2):
    entries = [OfferedEntry(n, f"第{n}项改革经验", f"单位{n}") for n in range(1, 16)]
    return PollFacts(
        slug=SLUG,
        title="淄博市改革创新经验评选",
        intro="",
        max_choices=max_choices,
        entries=entries,
        void_reasons=VOID_REASONS,
        opens_at=OPENED,
    )


@dataclass
class Record:
    """Ballots in three hourly checkpoints, a voiding, the close, a voiding during the 公示期,
    and the certification: seven checkpoints in all."""

    signer: Signer
    facts: PollFacts
    lines: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)
    choices: dict = field(default_factory=dict)  # receipt → choices
    voided: dict = field(default_factory=dict)  # receipt → reason
    log: MerkleLog = field(default_factory=lambda: MerkleLog(MemoryTileStore()))
    exported_at: datetime = OPENED + 30 * HOUR
    status: str = "已确认"

    def publish(self, new_lines, time):
        self.lines += new_lines
        self.log.append(new_lines)
        self.checkpoints.append(
            self.signer.checkpoint(poll=SLUG, size=self.log.size, root=self.log.root(), time=time)
        )

    def cast(self, rng, count, time, voids=()):
        ballots = []
        for _ in range(count):
            receipt = "".join(rng.choice(RECEIPT_ALPHABET) for _ in range(12))
            picks = rng.sample([1, 2, 3, 3, 3, 5, 8, 8], rng.choice([1, 2]))
            self.choices[receipt] = sorted(set(picks))
            ballots.append(log_entries.ballot_entry(SLUG, receipt, self.choices[receipt]))
        self.publish(log_entries.batch(ballots, self.void(voids, 1), rng=rng), time)

    def void(self, receipts, voiding):
        self.voided.update(dict.fromkeys(receipts, "stuffing"))
        return [log_entries.void_entry(SLUG, r, "stuffing", voiding) for r in receipts]

    def counts(self):
        votes = {}
        for receipt, picks in self.choices.items():
            if receipt not in self.voided:
                for number in picks:
                    votes[number] = votes.get(number, 0) + 1
        return votes, len(self.choices) - len(self.voided), len(self.voided)

    def tally_csv(self):
        # The site's own export is compared with this in tests/test_record_package.py.
        document = poll_document(self.facts, tally_exported_at=self.exported_at,
                                 tally_status=self.status)  # fmt: skip
        result = verify_record.recount(document, *self.counts())
        return verify_record.tally_csv(document, result, self.exported_at, self.status)

    def package(self, path=None, *, lines=None, checkpoints=None, tally_csv=None, signer=None):
        output = path or io.BytesIO()
        build_closing_package(
            output,
            poll=self.facts,
            entries=self.lines if lines is None else lines,
            checkpoints=self.checkpoints if checkpoints is None else checkpoints,
            tally_csv=self.tally_csv() if tally_csv is None else tally_csv,
            tally_exported_at=self.exported_at,
            tally_status=self.status,
            signer=signer or self.signer,
            created_at=self.exported_at,
        )
        return output


def make_record(seed=12, signer=None):
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    record = Record(signer or new_signer(), poll_facts())
    record.cast(rng, 7, OPENED + HOUR)
    record.cast(rng, 6, OPENED + 2 * HOUR)
    first_two = list(record.choices)[:2]
    record.cast(rng, 5, OPENED + 3 * HOUR, voids=first_two)
    closed = OPENED + 4 * HOUR
    record.publish([log_entries.close_entry(SLUG, closed)], closed)
    later = list(record.choices)[9]
    record.publish(record.void([later], 2), OPENED + 20 * HOUR)
    record.publish([], OPENED + 21 * HOUR)  # an hourly checkpoint with nothing new
    certified = OPENED + 29 * HOUR
    votes, ballots, voided = record.counts()
    all_votes = {n: votes.get(n, 0) for n in range(1, 16)}
    certification = log_entries.certification_entry(SLUG, certified, all_votes, ballots, voided)
    record.publish([certification], certified)
    return record


def rewrite_zip(data, changes):
    """A copy of a package with some members replaced (bytes) or removed (None)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename in changes:
                if changes[info.filename] is not None:
                    target.writestr(info, changes[info.filename])
            else:
                target.writestr(info, source.read(info.filename))
    return output.getvalue()


def read_member(data, name):
    return zipfile.ZipFile(io.BytesIO(data)).read(name)
