"""The write path: the real Poll.cast_ballot() from 1 and 32 writers behind a simulated network.

The database sits behind bench/latency_proxy.py; pgbench runs the same statements beside it.

    make bench BENCH_ARGS="--scenario writers"        # bench/run.py hands over to this
    python bench/writers.py [--source DIR ...] [--writers 1,32] [--delays 0,0.25,2]
                            [--seconds 10] [--runs 3]

For each --source (a checkout of the site, default this one; give an older commit, e.g.
`git archive <commit> | tar -x -C DIR`, to measure before and after in one run): a database of
its own (zibo_vote_bench_writers_<time>, dropped at the end), migrated by that code, with the
fifteen entries and the poll. Then, --runs times over, for each delay each way (0: no proxy)
and each number of writers: that many writers, each a thread with its own connection (spread
over one process per core, so that one GIL is not what is measured), cast ballots with that
code's Poll.cast_ballot() for --seconds. Ballots per second count those committed in the
window; latencies are each call's. Meanwhile the sessions waiting on a lock are sampled from
pg_stat_activity. Then pgbench runs bench/ballot_transaction.sql through the same proxy, with
1 and 32 clients, with the poll's row lock FOR SHARE and FOR UPDATE (only on a schema with
sharded counts). Last, `check_tally`: the running counts must still agree with a recount.

Prints the medians and the ratios. Needs PostgreSQL and pgbench. BENCH_POSTGRES as in run.py.
"""

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
# One process per core: each holds its own GIL; more processes only add switching (here, 2
# cores shared: 2 processes 117 ballots/s, 8 processes 81-98, 32 processes 28).
PROCESSES = os.cpu_count() or 2
POLL = "reform-experiences"


def say(message):
    print(f"[bench writers] {message}", file=sys.stderr, flush=True)


# --- In a writer process (python bench/writers.py --worker, cwd and PYTHONPATH the source) ---


def worker(threads, tag):
    import django

    django.setup()
    from django.db import connection

    from ballots.models import Poll

    go, ready = threading.Event(), threading.Barrier(threads + 1)
    window, results = {}, [None] * threads

    def write(i):
        poll = Poll.objects.get(slug=POLL)
        try:

            def cast(n):
                citizen = f"bench-{tag}-{i}-{n}".ljust(64, "x")
                poll.cast_ballot(citizen_hash=citizen, numbers=[n % 15 + 1])

            cast(0)  # connected, warm
            ready.wait()
            go.wait()
            start, stop = window["start"], window["stop"]
            while time.time() < start:
                time.sleep(0.0005)
            counted, latencies, n = 0, [], 1
            while True:
                began = time.time()
                if began >= stop:
                    break
                cast(n)
                n += 1
                ended = time.time()
                if ended <= stop:
                    counted += 1
                    latencies.append((ended - began) * 1000)
            results[i] = (counted, latencies)
        finally:
            connection.close()

    pool = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    print("ready", flush=True)
    window["start"], window["stop"] = map(float, sys.stdin.readline().split())
    go.set()
    time.sleep(max(0.0, window["start"] - time.time()))
    cpu = time.process_time()
    time.sleep(max(0.0, window["stop"] - time.time()))
    cpu = time.process_time() - cpu  # this process's threads, over the window
    for thread in pool:
        thread.join()
    if any(result is None for result in results):
        sys.exit("a writer failed")
    print(
        json.dumps(
            {
                "ballots": sum(counted for counted, _ in results),
                "latencies": [ms for _, latencies in results for ms in latencies],
                "cpu": cpu,
            }
        ),
        flush=True,
    )


# --- The harness ---------------------------------------------------------------------------


def admin_connection(database="postgres"):
    import psycopg

    target = urlsplit(POSTGRES)
    return psycopg.connect(
        host=target.hostname,
        port=target.port or 5432,
        user=target.username or "postgres",
        password=target.password,
        dbname=database,
        autocommit=True,
    )


def manage(source, env, *arguments):
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=source, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


class LatencyProxy:
    """bench/latency_proxy.py in a process of its own, so it does not share the writers' GIL."""

    def __init__(self, delay_ms, seconds):
        target = urlsplit(POSTGRES)
        upstream = f"{target.hostname}:{target.port or 5432}"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE.parent / "latency_proxy.py"), "--upstream", upstream,
             "--delay-ms", str(delay_ms), "--seconds", str(seconds)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.port = int(self.process.stdout.readline().strip().rpartition(":")[2])

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def cpu_seconds(pids):
    """CPU time used so far by these processes (user and system), those still running."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def backends(database):
    """The PostgreSQL server processes serving `database` (its clients' connections)."""
    with admin_connection(database) as connection:
        return [
            pid
            for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ]


class LockWaits:
    """Samples, every 100 ms, how many of the database's sessions wait on a lock, and which."""

    def __init__(self, database):
        self.database, self.samples, self.kinds = database, [], {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sample)
        self.thread.start()

    def sample(self):
        with admin_connection(self.database) as connection:
            while not self.stopping.wait(0.1):
                rows = connection.execute(
                    "SELECT wait_event FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                ).fetchall()
                self.samples.append(len(rows))
                for (kind,) in rows:
                    self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def stop(self):
        self.stopping.set()
        self.thread.join()
        return statistics.mean(self.samples) if self.samples else 0.0, self.kinds


def writers(source, env, database, port, count, seconds, tag, proxy):
    processes = min(count, PROCESSES)
    shares = [count // processes + (i < count % processes) for i in range(processes)]
    target = urlsplit(POSTGRES)
    url = f"postgres://{target.username or 'postgres'}@{target.hostname}:{port}/{database}"
    worker_env = {**env, "DATABASE_URL": url, "PYTHONPATH": str(source)}
    pool = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE),
                "--worker",
                "--threads",
                str(threads),
                "--tag",
                f"{tag}-{i}",
            ],
            cwd=source,
            env=worker_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, threads in enumerate(shares)
    ]
    for process in pool:
        if process.stdout.readline().strip() != "ready":
            sys.exit("a writer process did not start")
    servers = backends(database)
    others = [proxy.process.pid] if proxy else []
    waits = LockWaits(database)
    try:
        start = time.time() + 0.3
        for process in pool:
            process.stdin.write(f"{start} {start + seconds}\n")
            process.stdin.close()
        time.sleep(max(0.0, start - time.time()))
        cpu = cpu_seconds(servers), cpu_seconds(others)
        time.sleep(max(0.0, start + seconds - time.time()))
        cpu = cpu_seconds(servers) - cpu[0], cpu_seconds(others) - cpu[1]
        outputs = [process.stdout.readline() for process in pool]
        if any(process.wait(timeout=60) != 0 for process in pool):
            sys.exit("a writer process failed")
        outputs = [json.loads(output) for output in outputs]
    finally:
        waiting, kinds = waits.stop()
    latencies = sorted(ms for output in outputs for ms in output["latencies"])
    ballots = sum(output["ballots"] for output in outputs)
    per_ballot = 1000 / ballots if ballots else 0.0
    return {
        "rps": ballots / seconds,
        "cpu_writers": sum(output["cpu"] for output in outputs) * per_ballot,
        "cpu_database": cpu[0] * per_ballot,
        "cpu_proxy": cpu[1] * per_ballot,
        "p50": latencies[len(latencies) // 2] if latencies else 0.0,
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        "waiting": waiting,
        "kinds": kinds,
    }


def pgbench(database, port, clients, lock, poll_id, shards, seconds):
    target = urlsplit(POSTGRES)
    output = subprocess.run(
        ["pgbench", "-n", "-M", "simple", "-h", target.hostname, "-p", str(port),
         "-U", target.username or "postgres", "-c", str(clients), "-j", str(min(clients, 2)),
         "-T", str(seconds), "-f", str(HERE.parent / "ballot_transaction.sql"),
         "-D", f"poll={poll_id}", "-D", f"shards={shards}", "-D", f"lock={lock}", database],
        capture_output=True, text=True,
        env={**os.environ, "PGPASSWORD": target.password or ""},
    )  # fmt: skip
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output.stdout)
    if output.returncode not in (0, 2) or tps is None:  # 2: some client aborted, said below
        sys.exit(f"pgbench failed:\n{output.stdout}\n{output.stderr}")
    return {"rps": float(tps.group(1)), "errors": output.stderr.count("aborted")}


def load_average():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Site:
    """One --source: its own database, migrated and loaded by its own code."""

    def __init__(self, source, database):
        self.source, self.database = source, database
        self.env = {
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "CITIZEN_HASH_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"{POSTGRES}/{database}",
            "PYTHONPATH": str(source),
            "SMS_BACKEND": "file",
            "SMS_FILE": os.devnull,
            **{name: os.environ[name] for name in ("BALLOT_COUNT_SHARDS",) if name in os.environ},
        }
        self.rows, self.bench, self.loads = {}, {}, []

    def set_up(self):
        with admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')
        say(f"{self.source}: database {self.database}, migrate, entries")
        manage(self.source, self.env, "migrate", "--noinput")
        manage(self.source, self.env, "load_initial_data")
        with admin_connection(self.database) as connection:
            self.poll_id = connection.execute(
                "SELECT id FROM ballots_poll WHERE slug = %s", [POLL]
            ).fetchone()[0]
            self.sharded = connection.execute(
                "SELECT to_regclass('ballots_ballotcount') IS NOT NULL"
            ).fetchone()[0]
        self.shards = int(
            manage(self.source, self.env, "shell", "-c",
                   "from django.conf import settings; "
                   "print(getattr(settings, 'BALLOT_COUNT_SHARDS', 1))").split()[-1]
        )  # fmt: skip

    def measure(self, run, args):
        self.loads.append(load_average())
        target = urlsplit(POSTGRES)
        for delay in args.delays:
            # The proxy stops by itself a while after the measurements it serves.
            budget = 3 * len(args.writers) * (args.seconds + 15) + 60
            proxy = LatencyProxy(delay, seconds=budget) if delay else None
            port = proxy.port if proxy else (target.port or 5432)
            try:
                for count in args.writers:
                    result = writers(
                        self.source, self.env, self.database, port, count, args.seconds,
                        tag=f"{run}-{delay}-{count}", proxy=proxy,
                    )  # fmt: skip
                    self.rows.setdefault((delay, count), []).append(result)
                    say(f"{self.source} run {run}: {delay} ms, {count} writers: {result}")
                if not self.sharded:  # the statements of bench/ballot_transaction.sql
                    continue
                for lock in ("SHARE", "UPDATE"):
                    for clients in args.writers:
                        result = pgbench(
                            self.database, port, clients, lock, self.poll_id, self.shards,
                            args.seconds,
                        )  # fmt: skip
                        self.bench.setdefault((delay, lock, clients), []).append(result)
                        say(f"run {run}: pgbench {delay} ms {lock} {clients}: {result}")
            finally:
                if proxy:
                    proxy.stop()

    def check_tally(self):
        check = subprocess.run(
            [sys.executable, "manage.py", "check_tally", "--poll", POLL],
            cwd=self.source, env=self.env, capture_output=True, text=True,
        )  # fmt: skip
        return (check.stdout + check.stderr).strip()

    def drop(self):
        with admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def table(site, check, args):
    median = statistics.median
    rows, bench = site.rows, site.bench
    lines = [
        f"`{site.source}`: median of {args.runs} runs of {args.seconds} s; load average "
        f"(1, 5, 15 min) at the start of each run: {'; '.join(site.loads)}; "
        f"{site.shards} shard(s) per count.",
        "",
        "| each way | writers | ballots/s | × 1 writer | p50 ms | p99 ms | sessions waiting "
        "on a lock (mean) | CPU ms per ballot: writers, PostgreSQL, proxy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (delay, count), runs in sorted(rows.items()):
        rps = median(r["rps"] for r in runs)
        one = median(r["rps"] for r in rows[(delay, min(args.writers))])
        lines.append(
            f"| {delay:g} ms | {count} | {rps:,.1f} | ×{rps / one:.1f} | "
            f"{median(r['p50'] for r in runs):.1f} | {median(r['p99'] for r in runs):.1f} | "
            f"{median(r['waiting'] for r in runs):.1f} | "
            f"{median(r['cpu_writers'] for r in runs):.1f}, "
            f"{median(r['cpu_database'] for r in runs):.2f}, "
            f"{median(r['cpu_proxy'] for r in runs):.2f} |"
        )
    if bench:
        lines += [
            "",
            "pgbench, bench/ballot_transaction.sql, the same statements:",
            "",
            "| each way | poll row lock | clients | ballots/s | × 1 client | clients aborted |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for (delay, lock, clients), runs in sorted(bench.items()):
            rps = median(r["rps"] for r in runs)
            one = median(r["rps"] for r in bench[(delay, lock, min(args.writers))])
            lines.append(
                f"| {delay:g} ms | FOR {lock} | {clients} | {rps:,.1f} | ×{rps / one:.1f} | "
                f"{sum(r['errors'] for r in runs)} |"
            )
    lines += ["", f"check_tally afterwards: {check}"]
    return "\n".join(lines)


def listed(kind):
    return lambda text: [kind(value) for value in text.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, action="append", help="default: this checkout")
    parser.add_argument("--writers", type=listed(int), default=[1, 32])
    parser.add_argument("--delays", type=listed(float), default=[0, 0.25, 2], help="ms each way")
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.threads, args.tag)
    # Stopped from outside (timeout, kill): still stop the proxy and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    stamp = int(time.time())
    sites = [
        Site(source.resolve(), f"zibo_vote_bench_writers_{stamp}_{number}")
        for number, source in enumerate(args.source or [ROOT])
    ]
    try:
        for site in sites:
            site.set_up()
        # Run by run, every source in turn: the machine's load drifts, and the comparison
        # should not.
        for run in range(1, args.runs + 1):
            for site in sites:
                site.measure(run, args)
        print("\n\n".join(table(site, site.check_tally(), args) for site in sites))
    finally:
        for site in sites:
            site.drop()
    return None


if __name__ == "__main__":
    main()
