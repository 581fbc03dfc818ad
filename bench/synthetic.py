"""Synthetic ballots for the benchmark: a million in about a minute with PostgreSQL's COPY.

    DJANGO_SETTINGS_MODULE=bench.settings python -m bench.synthetic [--poll SLUG] [--count N]

Refuses to run under any settings but bench.settings, on a closed poll, or on a poll that holds
any real ballot. The rows are written from the models' own fields: a column the loader does not
set gets the field's default, as `Ballot()` would, so a field added to a model needs no change
here. The running counts are then set from a recount (Poll.reset_counts).
"""

import argparse
import random
import sys
import time
from datetime import timedelta

import django
from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

# Synthetic ballots carry this in place of a citizen's hash, which is 64 hex characters and
# can never start with it: they are told apart from real ones by that alone.
SYNTHETIC = "synthetic-"


class Refused(Exception):
    """The loader will not write to this database or this poll."""


def synthetic_receipt(index, alphabet):
    digits = []
    for _ in range(11):
        index, digit = divmod(index, len(alphabet))
        digits.append(alphabet[digit])
    return "Z" + "".join(reversed(digits))  # real receipts are random; these count up


def write_rows(model, names, rows, **constants):
    """Insert `rows` (tuples of the fields `names`) into `model`'s table; `constants` are the same
    in every row, and every other column gets its field's default. COPY on PostgreSQL, bulk
    inserts elsewhere. A primary key not given is left to the database."""
    fields = model._meta.concrete_fields
    given = {**dict.fromkeys(names), **constants}
    unknown = set(given) - {field.attname for field in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    defaults = {
        field.attname: field.get_default()
        for field in fields
        if field.attname not in given and not field.primary_key
    }
    fixed = {**defaults, **constants}
    if connection.vendor != "postgresql":
        for chunk in _chunks(rows, 5000):
            model.objects.bulk_create(
                model(**dict(zip(names, row, strict=True)), **fixed) for row in chunk
            )
        return
    by_name = {field.attname: field for field in fields}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(by_name[name].column) for name in [*names, *fixed])
    # Constant values go through the field once, as the ORM would prepare them.
    tail = tuple(by_name[name].get_db_prep_save(value, connection) for name, value in fixed.items())
    with connection.cursor() as cursor:
        with cursor.cursor.copy(  # psycopg 3's own cursor, for COPY
            f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row + tail)
        cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")


def _chunks(rows, size):
    rows = iter(rows)
    while chunk := [row for _, row in zip(range(size), rows, strict=False)]:
        yield chunk


FAMILIES = ("微信 / Android", "微信 / iOS", "Mobile Safari / iOS", "Chrome / Windows")
WAVE_NETWORK = "203.0.113.0/24"
WAVE_SEGMENT = "1700000"


def wave_rows(count, now):
    """A stuffing wave (issue 14): a night burst, one /24, one 号段, automation, equal gaps:
    one ballot every 5 s from 03:00 Beijing time of the day before `now`, 7 s after the code."""
    from ballots.review import AUTOMATION

    start = timezone.localtime(now - timedelta(days=1)).replace(
        hour=3, minute=0, second=0, microsecond=0
    )
    return [
        (start + timedelta(seconds=5 * n), WAVE_NETWORK, f"{WAVE_SEGMENT}****", AUTOMATION, 7)
        for n in range(count)
    ]


def load(poll, count, seed=2016, wave=0):
    """Add `count` synthetic ballots (one choice each) to `poll`; returns the seconds it took.

    With `wave`, that many of them are a stuffing wave (wave_rows); the others come from about
    20,000 networks and 3,000 号段 in the daytime, with ordinary browsers and gaps."""
    from ballots.models import RECEIPT_ALPHABET, Ballot, Choice, Poll  # after django.setup()

    if settings.ROOT_URLCONF != "bench.urls":
        raise Refused("Synthetic ballots only under DJANGO_SETTINGS_MODULE=bench.settings.")
    reforms = list(poll.reforms.values_list("pk", flat=True))
    if not reforms:
        raise Refused(f"{poll.slug} offers no entries.")
    # A plausible spread: some entries far more popular than others.
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    weights = [rng.uniform(0.2, 3.0) for _ in reforms]
    began = time.monotonic()
    with transaction.atomic():
        # The poll's lock, FOR UPDATE (after any ballot in progress): no real ballot can arrive
        # while these are written, and the checks below cannot be overtaken by one.
        locked = Poll.objects.select_for_change().get(pk=poll.pk)
        if locked.status == "closed":
            raise Refused(f"{poll.slug} is closed.")
        real = Ballot.objects.filter(poll=poll).exclude(citizen_hash__startswith=SYNTHETIC)
        if real.exists():
            raise Refused(
                f"{poll.slug} holds {real.count()} real ballots: synthetic ones are never mixed "
                "in. Benchmark on a database of its own."
            )
        start = Ballot.objects.filter(poll=poll).count()
        first_id = (Ballot.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        chosen = rng.choices(reforms, weights=weights, k=count)
        now = timezone.now()
        waves = wave_rows(wave, now)

        def signals(n):
            if n < len(waves):
                return waves[n]
            day = now - timedelta(days=rng.randrange(14))
            moment = timezone.localtime(day).replace(hour=7) + timedelta(
                seconds=rng.randrange(16 * 3600)
            )
            return (
                moment,
                f"10.{rng.randrange(80)}.{rng.randrange(250)}.0/24",
                f"13{rng.randrange(3000):05d}****",
                rng.choice(FAMILIES),
                rng.randrange(20, 240),
            )

        ballots = (
            (
                first_id + n,
                f"{SYNTHETIC}{start + n:054d}",
                *signals(n),
                synthetic_receipt(start + n, RECEIPT_ALPHABET),
            )
            for n in range(count)
        )
        names = [
            "id",
            "citizen_hash",
            "cast_at",
            "network",
            "phone_masked",
            "ua_family",
            "seconds_from_code",
            "receipt",
        ]
        write_rows(Ballot, names, ballots, poll_id=poll.pk)
        choices = ((first_id + n, reform) for n, reform in enumerate(chosen))
        write_rows(Choice, ["ballot_id", "reform_id"], choices)
        with connection.cursor() as cursor:  # the ids were given: move the sequence past them
            for sql in connection.ops.sequence_reset_sql(no_style(), [Ballot]):
                cursor.execute(sql)
        # The loader bypassed the running counts: set them from a recount.
        poll.reset_counts()
    return time.monotonic() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", metavar="SLUG", default="reform-experiences")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument(
        "--wave", type=int, default=0, metavar="N", help="N of them a stuffing wave (issue 14)"
    )
    args = parser.parse_args()
    django.setup()
    from django.core.management import CommandError

    from ballots.management.polls import poll_named

    try:
        poll = poll_named(args.poll)
        seconds = load(poll, args.count, args.seed, wave=args.wave)
    except (CommandError, Refused) as error:
        sys.exit(str(error))
    print(f"Added {args.count} synthetic ballots to {poll.slug} in {seconds:.1f} s.")


if __name__ == "__main__":
    main()
