"""Synthetic ballots for the benchmark: a million in about a minute with PostgreSQL's COPY."""

import random
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from ballots.models import RECEIPT_ALPHABET, Ballot, Choice, Poll

# Synthetic ballots carry this in place of a citizen's hash, which is 64 hex characters and
# can never start with it: they are told apart from real ones by that alone.
SYNTHETIC = "synthetic-"


def synthetic_receipt(index):
    digits = []
    for _ in range(11):
        index, digit = divmod(index, len(RECEIPT_ALPHABET))
        digits.append(RECEIPT_ALPHABET[digit])
    return "Z" + "".join(reversed(digits))  # real receipts are random; these count up


class Command(BaseCommand):
    help = (
        "Add synthetic ballots to a poll, for benchmarks only. Refuses a poll that holds any real "
        "ballot. Uses COPY on PostgreSQL, bulk inserts elsewhere; keeps the running counts exact."
    )

    def add_arguments(self, parser):
        parser.add_argument("--poll", metavar="SLUG", default="reform-experiences")
        parser.add_argument("--count", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=2016)

    def handle(self, *args, poll, count, seed, **options):
        if not settings.BENCHMARK_VIEWS:
            # A production server never sets DJANGO_BENCHMARK; bench/run.py does, on a database
            # it created for the purpose.
            raise CommandError("Synthetic ballots only with DJANGO_BENCHMARK=1 (bench/run.py).")
        try:
            target = Poll.objects.get(slug=poll)
        except Poll.DoesNotExist:
            raise CommandError(f"No poll with slug {poll!r}.") from None
        reforms = list(target.reforms.values_list("pk", flat=True))
        if not reforms:
            raise CommandError(f"{poll} offers no entries.")
        start = Ballot.objects.filter(poll=target).count()
        # A plausible spread: some entries far more popular than others.
        rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
        weights = [rng.uniform(0.2, 3.0) for _ in reforms]
        began = time.monotonic()
        with transaction.atomic():
            # The lock every ballot takes: no real ballot can arrive while these are written,
            # and the check below cannot be overtaken by one.
            locked = Poll.objects.select_for_update().get(pk=target.pk)
            if locked.status == "closed":
                raise CommandError(f"{poll} is closed.")
            real = Ballot.objects.filter(poll=target).exclude(citizen_hash__startswith=SYNTHETIC)
            if real.exists():
                raise CommandError(
                    f"{poll} holds {real.count()} real ballots: synthetic ones are never mixed "
                    "in. Benchmark on a database of its own."
                )
            chosen = rng.choices(reforms, weights=weights, k=count)
            rows = self._rows(chosen, rng, start)
            if connection.vendor == "postgresql":
                self._copy(target, chosen, rows)
            else:
                self._bulk(target, rows)
            # The loader bypassed the running counts: set them from a recount.
            target.reset_counts()
        self.stdout.write(
            f"Added {count} synthetic ballots to {poll} in {time.monotonic() - began:.1f} s "
            f"({start + count} in all)."
        )

    def _rows(self, chosen, rng, start):
        """(citizen, cast_at, receipt, reform) per ballot, generated as they are written."""
        now = timezone.now()
        for offset, reform in enumerate(chosen):
            index = start + offset
            cast_at = now - timedelta(seconds=rng.randrange(14 * 24 * 3600))
            yield f"{SYNTHETIC}{index:054d}", cast_at, synthetic_receipt(index), reform

    def _copy(self, target, chosen, rows):
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM ballots_ballot")
            first_id = cursor.fetchone()[0] + 1
            raw = cursor.cursor  # psycopg 3's own cursor, for COPY
            with raw.copy(
                "COPY ballots_ballot (id, poll_id, citizen_hash, phone_masked, cast_at, receipt,"
                " network, void_reason, void_note) FROM STDIN"
            ) as copy:
                for n, (citizen, cast_at, receipt, _) in enumerate(rows):
                    copy.write_row(
                        (
                            first_id + n,
                            target.pk,
                            citizen,
                            "",
                            cast_at,
                            receipt,
                            "synthetic",
                            "",
                            "",
                        )
                    )
            with raw.copy("COPY ballots_choice (ballot_id, reform_id) FROM STDIN") as copy:
                for n, reform in enumerate(chosen):
                    copy.write_row((first_id + n, reform))
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('ballots_ballot', 'id'), %s)",
                [first_id + len(chosen)],
            )
            cursor.execute("ANALYZE ballots_ballot")
            cursor.execute("ANALYZE ballots_choice")

    def _bulk(self, target, rows, batch=5000):
        while chunk := [row for _, row in zip(range(batch), rows, strict=False)]:
            ballots = Ballot.objects.bulk_create(
                Ballot(poll=target, citizen_hash=citizen, cast_at=cast_at, receipt=receipt,
                       network="synthetic")
                for citizen, cast_at, receipt, _ in chunk
            )  # fmt: skip
            Choice.objects.bulk_create(
                Choice(ballot=ballot, reform_id=row[3])
                for ballot, row in zip(ballots, chunk, strict=True)
            )
