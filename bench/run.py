"""`make bench`: the production configuration on 127.0.0.1 against PostgreSQL and Redis.

1. Creates a database of its own (zibo_vote_bench_<time>; dropped at the end) and loads the
   fifteen entries and --ballots synthetic ballots (bench/synthetic.py, COPY).
2. Starts gunicorn with gunicorn.conf.py and bench/settings.py (the production settings plus
   the baseline view of bench/urls.py), DEBUG off, Redis as the shared cache, the `file` SMS
   backend and the client address taken from X-Real-IP, as behind nginx.
3. Three times over: wrk on a fixed-string view through the same middleware (the baseline), on
   `/`, an entry page and `/results/`; locust driving complete citizen flows (the eight
   requests of bench/flow.py: phone, code step, code, ballot, review, cast, receipt). Then the
   tally export and the ballot audit export at full size, with peak memory.
4. Prints one table: the median of the three runs of everything, all measured in this one run.
5. The public record's rows (bench/record.py): checkpoints as the ballots are loaded, /receipt/
   latency, then the close, the certification, the closing package and its standalone
   verification. `--record-only` measures these alone.

`--scenario writers` measures the write path instead: bench/writers.py; `--scenario flow`
one citizen's flow, step by step, in-process: bench/flow.py.

Needs wrk (Debian package wrk) and the `bench` extra (locust). Environment:
BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/13: that database is emptied first).
"""

import argparse
import csv
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bench import record_rows as record
from record.signing import generate_signing_key

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
# name, path, label, cookie. The public pages come from the page cache, for visitors with or
# without a session (the home page then reads the session: one query). A query string is never
# cached: the last row is the price of rendering the results page from the running counts.
ENDPOINTS = [
    ("baseline", "/bench/baseline", "fixed-string view, same middleware (the baseline)", None),
    ("home", "/", "`/`: the poll and the fifteen entries", None),
    ("entry", "/reforms/3/", "`/reforms/3/`: an entry's whole text", None),
    ("results", "/results/", "`/results/`: the ranked result", None),
    ("home_session", "/", "`/` for a visitor with a session cookie", "sessionid=x"),
    ("results_fresh", "/results/?fresh=1", "`/results/?fresh=1`: rendered for every request",
     None),
]  # fmt: skip


def say(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(command, env, **kwargs):
    return subprocess.run(
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True, **kwargs
    )


def manage(env, *arguments):
    return run([sys.executable, "manage.py", *arguments], env).stdout


def psql(sql):
    target = urlsplit(POSTGRES)
    run(
        ["psql", "-h", target.hostname, "-p", str(target.port or 5432),
         "-U", target.username or "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
         "-q", "-c", sql],
        os.environ,
    )  # fmt: skip


def milliseconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def wrk(url, seconds, cookie=None):
    # As behind nginx: the proxy's header with the client's address on every request.
    headers = ["-H", "X-Real-IP: 10.9.8.7"] + (["-H", f"Cookie: {cookie}"] if cookie else [])
    output = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", *headers, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)),
        "p99": milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)),
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0),
    }


def locust(base, env, users, seconds, work, run_number):
    prefix = work / f"flows-{run_number}"
    counts = work / f"flows-{run_number}.json"
    subprocess.run(
        [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
         "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", base,
         "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
        cwd=ROOT, env={**env, "FLOW_COUNTS": str(counts)}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv", encoding="utf-8") as stats:
        rows = list(csv.DictReader(stats))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    flows = json.loads(counts.read_text())
    return {
        "flows_per_s": flows["completed"] / flows["seconds"],
        "completed": flows["completed"],
        "requests_per_s": int(total["Request Count"]) / flows["seconds"],
        "p50": float(total["50%"]),
        "p99": float(total["99%"]),
        "worst_p99": max(float(row["99%"]) for row in rows if row["Name"] != "Aggregated"),
        "errors": int(total["Failure Count"]) + flows["failed"],
    }


def export(env, kind):
    output = run([sys.executable, "-m", "bench.export_memory", kind], env)
    return json.loads(output.stdout.strip().splitlines()[-1])


def count_ballots(env):
    output = manage(env, "shell", "-c",
                    "from ballots.models import Ballot; print(Ballot.objects.count())")  # fmt: skip
    return int(output.strip().splitlines()[-1])


def wait_until_up(base, server, log):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("gunicorn stopped:\n" + log.read_text())
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit("gunicorn did not come up:\n" + log.read_text())


def median(values):
    return statistics.median(values)


def table(measured, args, load_seconds):
    base_rps = median([r["rps"] for r in measured["baseline"]])
    lines = [
        f"Median of {args.runs} runs; wrk -t2 -c32 -d{args.duration}s; locust {args.users} "
        f"users for {args.flow_duration}s; {args.ballots:,} synthetic ballots "
        f"(loaded in {load_seconds:.0f} s).",
        "",
        "| what | requests/s | p50 ms | p99 ms | of baseline | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, _, label, _ in ENDPOINTS:
        runs = measured[name]
        rps = median([r["rps"] for r in runs])
        lines.append(
            f"| {label} | {rps:,.0f} | {median([r['p50'] for r in runs]):.1f} | "
            f"{median([r['p99'] for r in runs]):.1f} | {100 * rps / base_rps:.0f} % | "
            f"{sum(r['errors'] for r in runs)} |"
        )
    flows = measured["flows"]
    lines.append(
        f"| complete citizen flows (eight requests: phone, code, ballot, review, receipt) | "
        f"{median([f['flows_per_s'] for f in flows]):,.1f} flows/s "
        f"({median([f['requests_per_s'] for f in flows]):,.0f} requests/s) | "
        f"{median([f['p50'] for f in flows]):.0f} | {median([f['p99'] for f in flows]):.0f} "
        f"(slowest request type {median([f['worst_p99'] for f in flows]):.0f}) | | "
        f"{sum(f['errors'] for f in flows)} |"
    )
    lines += [
        "",
        "| export at full size | seconds | peak memory growth MB |",
        "|---|---:|---:|",
    ]
    for kind, label in (("tally", "tally CSV (one aggregate query)"),
                        ("ballots", "ballot audit CSV (streamed)")):  # fmt: skip
        runs = measured[kind]
        lines.append(
            f"| {label} | {median([r['seconds'] for r in runs]):.2f} | "
            f"{median([r['peak_growth_mb'] for r in runs]):.1f} |"
        )
    return "\n".join(lines)


def main():
    scenarios = argparse.ArgumentParser(add_help=False)
    scenarios.add_argument(
        "--scenario",
        choices=["site", "writers", "flow"],
        default="site",
        help="site (default): the pages, the citizen flows and the exports, as above; writers: "
        "Poll.cast_ballot() from 1 and 32 writers behind a simulated network, beside pgbench "
        "(bench/writers.py, which takes the other arguments: see its --help); flow: one citizen's "
        "flow step by step in-process, CPU, SQL and Redis per step (bench/flow.py)",
    )
    chosen, rest = scenarios.parse_known_args()
    if chosen.scenario == "writers":
        return subprocess.call([sys.executable, str(ROOT / "bench" / "writers.py"), *rest])
    if chosen.scenario == "flow":
        return subprocess.call([sys.executable, str(ROOT / "bench" / "flow.py"), *rest])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[scenarios])
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--flow-duration", type=int, default=20, help="seconds per locust run")
    parser.add_argument("--users", type=int, default=16, help="concurrent citizens (locust)")
    parser.add_argument(
        "--serve", action="store_true", help="set up, start the server, and wait (for profiling)"
    )
    parser.add_argument(
        "--record-only", action="store_true", help="only the public record's rows (bench/record.py)"
    )
    args = parser.parse_args()
    # Stopped from outside (timeout, kill): still stop gunicorn and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk: apt-get install wrk")
    if not (BIN / "locust").exists():
        sys.exit("make bench needs locust: pip install -e '.[bench]'")

    database = f"zibo_vote_bench_{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="zibo-vote-bench-"))
    port = 18000 + secrets.randbelow(1000)
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CITIZEN_HASH_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"{POSTGRES}/{database}",
        "REDIS_URL": REDIS_URL,
        "SMS_BACKEND": "file",
        "SMS_FILE": str(work / "sms.jsonl"),
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "DJANGO_CLIENT_IP_HEADER": "X-Real-IP",
        "RECORD_SIGNING_KEY": generate_signing_key(),
        "PORT": str(port),
        # Settings under study can be passed through, e.g. DJANGO_SESSION_ENGINE=cache.
        **{
            name: value
            for name, value in os.environ.items()
            if name.startswith(("GUNICORN_", "WEB_CONCURRENCY")) or name == "DJANGO_SESSION_ENGINE"
        },
    }
    base = f"http://127.0.0.1:{port}"
    psql(f"CREATE DATABASE {database}")
    server = None
    try:
        say(f"database {database}: migrate, entries, {args.ballots:,} synthetic ballots")
        manage(env, "migrate", "--noinput")
        manage(env, "load_initial_data")
        manage(env, "collectstatic", "--noinput")
        manage(env, "shell", "-c",
               "from ballots.models import Poll; "
               "Poll.objects.filter(slug='reform-experiences')"
               ".update(results_visible_while_open=True)")  # fmt: skip
        rows = {"checkpoints": record.checkpoints(env, args.ballots, say)}
        load_seconds = rows["checkpoints"]["load_s"]
        run(["redis-cli", "-u", REDIS_URL, "FLUSHDB"], os.environ)

        log = work / "gunicorn.log"
        with open(log, "wb") as output:
            server = subprocess.Popen(
                [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "zibo_vote.wsgi"],
                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until_up(base, server, log)
        if args.serve:
            say(f"serving on {base} (gunicorn pid {server.pid}); SMS_FILE={env['SMS_FILE']}")
            (work / "env.json").write_text(json.dumps(env))
            say(f"environment in {work / 'env.json'}; Ctrl-C to stop")
            server.wait()
            return
        rows["receipt"] = record.receipt_latency(base, args.ballots)
        say(f"record: /receipt/ {rows['receipt']}")
        if args.record_only:
            rows["closing"] = record.closing(env, work, say)
            print(record.table(rows))
            return
        for _, path, _, cookie in ENDPOINTS:  # warm up: connections, templates, caches
            wrk(base + path, 2, cookie)

        measured = {name: [] for name in ["flows", "tally", "ballots"] + [e[0] for e in ENDPOINTS]}
        ballots_before = count_ballots(env)
        completed = 0
        for number in range(1, args.runs + 1):
            # A different order each run, so no endpoint always follows the write-heavy flows.
            order = ENDPOINTS[number - 1 :] + ENDPOINTS[: number - 1]
            for name, path, _, cookie in order:
                measured[name].append(wrk(base + path, args.duration, cookie))
                say(f"run {number}: {name} {measured[name][-1]}")
            measured["flows"].append(
                locust(base, env, args.users, args.flow_duration, work, number)
            )
            completed += measured["flows"][-1]["completed"]
            say(f"run {number}: flows {measured['flows'][-1]}")
        # Every completed flow must have left its ballot. A few more ballots than completed flows
        # are flows whose last request was answered as a run stopped (at most one per citizen).
        recorded = count_ballots(env) - ballots_before
        if not completed <= recorded <= completed + args.users * args.runs:
            sys.exit(f"{completed} flows completed but {recorded} ballots were recorded")
        say(f"{completed} flows completed, {recorded} ballots recorded")
        for number in range(1, args.runs + 1):
            for kind in ("tally", "ballots"):
                measured[kind].append(export(env, kind))
                say(f"run {number}: {kind} export {measured[kind][-1]}")
        rows["closing"] = record.closing(env, work, say)
        print(table(measured, args, load_seconds))
        print()
        print(record.table(rows))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
