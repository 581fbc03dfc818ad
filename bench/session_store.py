"""Django's database session engine against zibo_vote/sessions.py, statement by statement.

    python bench/session_store.py [--rounds 2000] [--database-url URL] [--against MODULE]

For each of a session's operations in a citizen's flow (a new session's INSERT, a read, a
changed session's UPDATE, verification's new key), the median CPU time of the process
(time.process_time) with Django's `django.contrib.sessions.backends.db` and with this site's
engine, alternating between the two in rounds so that a noisy machine slows both alike, and the
statements each sends (BEGIN, COMMIT and savepoints included: the connection's own log).
"""

import argparse
import importlib
import statistics
import time

from flow import configure


def operations(engine, made):
    """name → (prepare, run): run(prepare()) does that operation once with `engine`'s store;
    only run is timed. The keys of the rows written are appended to `made`."""
    citizen = {"hash": "x" * 64, "masked_phone": "1381234****"}

    def stored():
        store = engine.SessionStore()
        store["citizen"] = citizen
        store.save()
        made.append(store.session_key)
        return store.session_key

    def nothing():
        return None

    def create(_):
        new = engine.SessionStore()
        new["pending"] = "y" * 80
        new.save()
        made.append(new.session_key)

    def read(key):
        engine.SessionStore(session_key=key).load()

    def update(key):
        existing = engine.SessionStore(session_key=key)
        existing["receipts"] = {"1": "z" * 40}
        existing.save()

    def cycle(key):
        existing = engine.SessionStore(session_key=key)
        existing["verified"] = True  # read first, as verification does
        existing.cycle_key()
        existing.save()
        made.append(existing.session_key)

    return {
        "new session (INSERT)": (nothing, create),
        "read": (stored, read),
        "changed (UPDATE)": (stored, update),
        "cycle_key at verification": (stored, cycle),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/zibo_flow")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument(
        "--against",
        default="django.contrib.sessions.backends.db",
        help="the engine to compare with (a module with a SessionStore; default Django's db)",
    )
    args = parser.parse_args()
    configure(args.database_url, args.redis_url)
    import django

    django.setup()
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from zibo_vote import sessions

    call_command("migrate", verbosity=0)
    engines = {args.against: importlib.import_module(args.against), "zibo_vote.sessions": sessions}
    timings = {name: {} for name in engines}
    statements = {name: {} for name in engines}
    made = []
    ops = {name: operations(engine, made) for name, engine in engines.items()}
    for name in engines:
        for label, operation in ops[name].items():
            prepare, run = operation
            argument = prepare()
            with CaptureQueriesContext(connection) as queries:
                run(argument)
            statements[name][label] = len(queries)
            timings[name][label] = []
    for _ in range(args.rounds):
        for name in engines:
            for label, (prepare, run) in ops[name].items():
                argument = prepare()
                began = time.process_time()
                run(argument)
                timings[name][label].append((time.process_time() - began) * 1000)
    for start in range(0, len(made), 5000):  # this bench's rows only
        Session.objects.filter(session_key__in=made[start : start + 5000]).delete()
    print(f"{args.rounds} rounds, {connection.vendor}")
    print(
        f"| operation | {args.against} CPU ms | zibo_vote.sessions CPU ms | ratio "
        "| statements, the first | the second |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label in ops[args.against]:
        before = statistics.median(timings[args.against][label])
        after = statistics.median(timings["zibo_vote.sessions"][label])
        sent = " | ".join(str(statements[name][label]) for name in engines)
        print(f"| {label} | {before:.3f} | {after:.3f} | {after / before:.2f} | {sent} |")


if __name__ == "__main__":
    main()
