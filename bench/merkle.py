"""The public record's core at a million ballots: the log in tiles, proofs, package, verifier.

    .venv/bin/python bench/merkle.py [--leaves 1000000] [--batch 10000] [--samples 200]
                                     [--no-package]

No Django and no database: the log over the in-memory tile store (record.merkle), so these are
the algorithm's own costs; the `record` app adds one SELECT of about six tiles to a proof and
one upsert of the changed tiles to a checkpoint. Prints a table of medians and JSON.
"""

import argparse
import io
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from record import entries as log_entries
from record.merkle import MemoryTileStore, MerkleLog
from record.package import OfferedEntry, PollFacts, build_closing_package, poll_document
from record.signing import Signer, generate_signing_key
from tools import verify_record

SLUG = "bench"
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class CountingStore(MemoryTileStore):
    """The in-memory store, counting what a database would be asked for."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def read_tiles(self, keys):
        self.reads.append(len(keys))
        return super().read_tiles(keys)


def median_ms(samples):
    return round(statistics.median(samples) * 1000, 3)


def timed(function, *args):
    began = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - began, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--no-package", action="store_true", help="skip the package and verifier")
    args = parser.parse_args()
    rng = random.Random(2026)  # noqa: S311 - reproducible synthetic ballots, not secrets
    signer = Signer.from_value(generate_signing_key())
    opened = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)

    began = time.perf_counter()
    lines = []
    for _ in range(args.leaves):
        receipt = "".join(rng.choices(RECEIPT_ALPHABET, k=12))
        lines.append(log_entries.ballot_entry(SLUG, receipt, [rng.randint(1, 15)]))
    made = time.perf_counter() - began

    store = CountingStore()
    log, checkpoints, appends, signs = MerkleLog(store), [], [], []
    for start in range(0, args.leaves, args.batch):
        batch = log_entries.batch(lines[start : start + args.batch], rng=rng)
        lines[start : start + args.batch] = batch
        seconds, _ = timed(log.append, batch)
        appends.append(seconds)
        moment = opened + timedelta(hours=len(checkpoints) + 1)
        seconds, checkpoint = timed(
            lambda moment=moment: signer.checkpoint(
                poll=SLUG, size=log.size, root=log.root(), time=moment
            )
        )
        signs.append(seconds)
        checkpoints.append(checkpoint)
    size, root = log.size, log.root()

    roots = [timed(log.root)[0] for _ in range(args.samples)]
    inclusion, reads = [], []
    for _ in range(args.samples):
        index = rng.randrange(size)
        store.reads.clear()
        seconds, proof = timed(log.inclusion_proof, index, size)
        check, ok = timed(verify_record.verify_inclusion, verify_record.leaf_hash(lines[index]),
                          index, size, proof, root)  # fmt: skip
        assert ok
        inclusion.append(seconds + check)
        reads.append(store.reads[0])
    consistency = []
    for _ in range(args.samples):
        old = rng.randrange(1, size)
        seconds, proof = timed(log.consistency_proof, old, size)
        consistency.append(seconds)
        assert verify_record.verify_consistency(old, size, log.root(old), root, proof)
    # A heavy hour (a tenth of the ballots) appended to the rest, then signed: one checkpoint.
    tail = args.leaves // 10
    big = MerkleLog(MemoryTileStore())
    big.append(lines[: args.leaves - tail])
    heavy, _ = timed(big.append, lines[args.leaves - tail :])

    figures = {
        "leaves": size,
        "tiles": len(store.tiles),
        "tile_bytes": sum(map(len, store.tiles.values())),
        "make_entries_s": round(made, 2),
        "append_batch_median_ms": median_ms(appends),
        "batch": args.batch,
        "sign_checkpoint_median_ms": median_ms(signs),
        f"append_{tail}_onto_{args.leaves - tail}_s": round(heavy, 3),
        "root_median_ms": median_ms(roots),
        "inclusion_proof_and_check_median_ms": median_ms(inclusion),
        "tiles_read_per_inclusion_proof_median": statistics.median(reads),
        "consistency_proof_median_ms": median_ms(consistency),
    }
    if not args.no_package:
        entries = [OfferedEntry(n, f"第{n}项", f"单位{n}") for n in range(1, 16)]
        facts = PollFacts(slug=SLUG, title="bench", intro="", max_choices=1, entries=entries,
                          void_reasons={"stuffing": "疑似刷票"}, opens_at=opened)  # fmt: skip
        moment = opened + timedelta(days=10)
        document = poll_document(facts, tally_exported_at=moment, tally_status="已确认")
        state = verify_record.LogState(document)
        for line in lines:
            state.add(line)
        result = verify_record.recount(document, *state.counts())
        tally = verify_record.tally_csv(document, result, moment, "已确认")
        output = io.BytesIO()

        def build():
            build_closing_package(
                output,
                poll=facts,
                entries=lines,
                checkpoints=checkpoints,
                tally_csv=tally,
                tally_exported_at=moment,
                tally_status="已确认",
                signer=signer,
                created_at=moment,
            )

        built, _ = timed(build)
        report = verify_record.Report(lambda text: None)
        verified, _ = timed(lambda: verify_record.verify_package(io.BytesIO(output.getvalue()),
                                                                 report=report))  # fmt: skip
        figures |= {
            "checkpoints": len(checkpoints),
            "package_build_s": round(built, 2),
            "package_mb": round(len(output.getvalue()) / 2**20, 1),
            "verify_package_s": round(verified, 2),
        }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
