"""The CPU cost of one citizen's flow, step by step, in-process (issue 15, item 3).

    make bench BENCH_ARGS="--scenario flow"            # bench/run.py hands over to this
    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/flow.py [--flows 200]
                                                       [--profile FILE] [--database-url URL]

The production settings (bench.settings: DEBUG off, PostgreSQL, Redis, database sessions) with
the `locmem` SMS backend; the database named by DATABASE_URL is migrated and loaded with the
fifteen entries and the poll if it has none, and every flow adds a ballot to it. Django's test
Client runs each complete flow (forms posted urlencoded, as a browser posts them), a new
citizen with a new number and a new address:

    GET /verify/, POST the phone (302), GET /verify/ (the code step), POST the code (302),
    GET /vote/, POST the choice (the review), POST it with confirm=1 (302), GET /vote/done/.

For each step it prints the median CPU time (time.process_time, this process: the test client's
own share included, about 0.1 ms a request), the median wall time, the site's own share of the
CPU (from the WSGI environ to the response), the CPU of rendering its templates, and the SQL
statements and Redis commands of the step; then the whole flow's, and the CPU a flow spends in
templates, in the ORM's queries and in Redis commands. --profile writes a cProfile of all the
flows (read it with `python -m pstats FILE`, or --top to print the hottest functions).
"""

import argparse
import cProfile
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
FORM = "application/x-www-form-urlencoded"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STEPS = [
    "GET /verify/",
    "POST /verify/ phone",
    "GET /verify/ code step",
    "POST /verify/ code",
    "GET /vote/",
    "POST /vote/ review",
    "POST /vote/ confirm",
    "GET /vote/done/",
]


def configure(database_url, redis_url):
    # Either one left out (None): the settings' own default, SQLite under var/ and its cache.
    for name, url in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url)):
        if url:
            os.environ[name] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-flow-only-key-" + "x" * 40)
    os.environ.setdefault("CITIZEN_HASH_KEY", "bench-flow-only-citizen-hash-key-" + "y" * 20)
    os.environ.setdefault("RECORD_SIGNING_KEY", "TVF5yjVDTZ6Pj9Ar5w7E3Qmd07xvH1uVKyDXiBxnH3A=")
    os.environ["SMS_BACKEND"] = "locmem"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault(
        "DJANGO_STATIC_ROOT", str(Path(tempfile.gettempdir()) / "zibo-vote-bench-flow-static")
    )
    sys.path.insert(0, str(ROOT))


class Counters:
    """SQL statements (a connection's execute_wrapper) and Redis commands (the client's)."""

    def __init__(self):
        self.sql = 0
        self.redis = 0
        self.log = None  # a list to append each statement and command to (--show)
        # CPU milliseconds spent in rendering templates, in SQL statements (the driver's and
        # the ORM's compiling included) and in Redis commands: where a flow's time goes.
        self.cpu = {"templates": 0.0, "SQL": 0.0, "Redis": 0.0, "server": 0.0}

    def install(self):
        import redis.client
        from django.db import connection

        counters = self

        from django.db.backends.utils import CursorWrapper
        from django.db.models.sql.compiler import SQLCompiler
        from django.template.backends.django import Template
        from django.test.client import ClientHandler

        depth = dict.fromkeys(self.cpu, 0)

        def timed(kind, function):
            # Only the outermost call is timed: a page's template renders a form's templates.
            def wrapper(*args, **kwargs):
                depth[kind] += 1
                began = time.process_time()
                try:
                    return function(*args, **kwargs)
                finally:
                    depth[kind] -= 1
                    if not depth[kind]:
                        counters.cpu[kind] += (time.process_time() - began) * 1000

            return wrapper

        def count_sql(execute, sql, params, many, context):
            counters.sql += 1
            if counters.log is not None:
                counters.log.append(f"  SQL {sql[:160]}")
            return execute(sql, params, many, context)

        connection.execute_wrappers.append(count_sql)
        # Time the ORM's compiling with its statement: the query's whole cost; and the
        # statements written out (the sessions', the running counts') at the cursor.
        SQLCompiler.execute_sql = timed("SQL", SQLCompiler.execute_sql)
        CursorWrapper.execute = timed("SQL", CursorWrapper.execute)
        Template.render = timed("templates", Template.render)
        # The site's own share: from the WSGI environ to the response, what a worker does for
        # the request (the test client's building of the request and reading of the response
        # left out).
        ClientHandler.__call__ = timed("server", ClientHandler.__call__)
        execute_command = redis.client.Redis.execute_command
        pipeline_execute = redis.client.Pipeline.execute

        def count_command(client, *args, **options):
            counters.redis += 1
            if counters.log is not None:
                counters.log.append(f"  Redis {' '.join(str(a) for a in args)[:160]}")
            return execute_command(client, *args, **options)

        def count_pipeline(pipe, *args, **kwargs):
            # A pipeline is one round trip; its commands are counted one by one all the same.
            counters.redis += len(pipe.command_stack)
            if counters.log is not None:
                counters.log.append(f"  Redis pipeline of {len(pipe.command_stack)}")
            return pipeline_execute(pipe, *args, **kwargs)

        redis.client.Redis.execute_command = timed("Redis", count_command)
        redis.client.Pipeline.execute = timed("Redis", count_pipeline)


def one_flow(client, n, counters, results):
    from verification import sms

    # One client for every flow (a new one would load the middleware again, whitenoise's scan
    # of the static files included); a new citizen: no cookies, a new address.
    client.cookies.clear()
    client.defaults["REMOTE_ADDR"] = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    phone = f"139{(n * 7919) % 10**8:08d}"

    def step(name, method, path, data=None, expect=200):
        sql, redis_commands = counters.sql, counters.redis
        rendering, server = counters.cpu["templates"], counters.cpu["server"]
        cpu, wall = time.process_time(), time.perf_counter()
        if method == "GET":
            response = client.get(path)
        else:  # as a browser posts a form without files: urlencoded, not multipart
            response = client.post(path, urlencode(data, doseq=True), content_type=FORM)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rendering = counters.cpu["templates"] - rendering
        server = counters.cpu["server"] - server
        if counters.log is not None:
            print(f"{name}: {response.status_code}")
            print("\n".join(counters.log))
            counters.log.clear()
        if response.status_code != expect:
            raise SystemExit(f"{name}: {response.status_code}, expected {expect}")
        results[name].append(
            (
                cpu * 1000,
                wall * 1000,
                server,
                rendering,
                counters.sql - sql,
                counters.redis - redis_commands,
            )
        )
        return response

    page = step("GET /verify/", "GET", "/verify/")
    token = TOKEN.search(page.content.decode()).group(1)
    step("POST /verify/ phone", "POST", "/verify/",
         {"phone": phone, "csrfmiddlewaretoken": token}, 302)  # fmt: skip
    page = step("GET /verify/ code step", "GET", "/verify/")
    token = TOKEN.search(page.content.decode()).group(1)
    code = sms.outbox.pop()["code"]
    step("POST /verify/ code", "POST", "/verify/",
         {"code": code, "csrfmiddlewaretoken": token}, 302)  # fmt: skip
    page = step("GET /vote/", "GET", "/vote/")
    token = TOKEN.search(page.content.decode()).group(1)
    choice = n % 15 + 1
    step("POST /vote/ review", "POST", "/vote/",
         {"choices": choice, "csrfmiddlewaretoken": token})  # fmt: skip
    confirmed = {"choices": choice, "csrfmiddlewaretoken": token, "confirm": "1"}
    response = step("POST /vote/ confirm", "POST", "/vote/", confirmed, 302)
    if response["Location"] != "/vote/done/":
        raise SystemExit(f"the ballot went to {response['Location']}")
    step("GET /vote/done/", "GET", "/vote/done/")


def prepare(database_url, redis_url):
    """Django set up with the bench's settings, the database migrated and given the entries and
    the poll, the static files collected, the cache's rate-limit counters cleared: what a flow
    needs (bench/engines.py runs one too)."""
    configure(database_url, redis_url)

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from ballots.models import Poll

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    if not Poll.objects.exists():
        call_command("load_initial_data", verbosity=0)
    cache.clear()  # the rate limits' counters of an earlier run: this Redis DB is the bench's

    import logging

    logging.disable(logging.INFO)  # a line per code sent: not what is measured


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10, help="flows run first, not counted")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--profile", help="write a cProfile of the counted flows to this file")
    parser.add_argument("--top", type=int, default=0, help="print the N hottest functions")
    parser.add_argument(
        "--show", action="store_true", help="print each step's statements and commands once"
    )
    args = parser.parse_args()
    if not (args.database_url or "").startswith("postgres") or not args.redis_url:
        sys.exit("bench/flow.py needs a PostgreSQL DATABASE_URL and a REDIS_URL")
    prepare(args.database_url, args.redis_url)

    from django.test import Client

    client = Client()
    counters = Counters()
    counters.install()
    start = int(time.time() * 1000) % 10**6 * 1000  # new numbers and addresses on every run
    for n in range(args.warmup):
        one_flow(client, start + n, counters, {name: [] for name in STEPS})
    if args.show:
        counters.log = []
        one_flow(client, start + args.warmup + args.flows, counters, {name: [] for name in STEPS})
        counters.log = None
    results = {name: [] for name in STEPS}
    counters.cpu = dict.fromkeys(counters.cpu, 0.0)
    profiler = cProfile.Profile() if (args.profile or args.top) else None
    began = time.perf_counter()
    for n in range(args.warmup, args.warmup + args.flows):
        if profiler:
            profiler.enable()
        one_flow(client, start + n, counters, results)
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - began

    print(f"{args.flows} flows in {seconds:.1f} s; load average {os.getloadavg()[0]:.1f}")
    print(
        "| step | CPU ms | wall ms | of which the site | of which templates | SQL statements"
        " | Redis commands |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    totals = [[sum(r[i][k] for r in results.values()) for i in range(args.flows)]
              for k in range(6)]  # fmt: skip
    for name, rows in [*results.items(), ("whole flow", None)]:
        columns = totals if rows is None else [[row[k] for row in rows] for k in range(6)]
        cpu, wall, server, rendering, sql, redis_commands = map(statistics.median, columns)
        label = f"**{name}**" if rows is None else name
        print(
            f"| {label} | {cpu:.2f} | {wall:.2f} | {server:.2f} | {rendering:.2f} | {sql:g}"
            f" | {redis_commands:g} |"
        )
    shares = ", ".join(f"{kind} {ms / args.flows:.2f}" for kind, ms in counters.cpu.items())
    print(f"\nCPU ms per flow (means) in {shares}")
    if profiler:
        if args.profile:
            profiler.dump_stats(args.profile)
        if args.top:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
