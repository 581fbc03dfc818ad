"""The instructions one citizen's flow executes, counted by valgrind (issue 15, item 3).

    python bench/instructions.py [--flows 20] [--checkout DIR] [--without-hiredis]

CPU milliseconds on this shared 2-core machine vary by half from one minute to the next, so a
cut of a few per cent cannot be seen in them. callgrind counts the instructions the process
executes instead, which no neighbour can change: the same code gives the same count within
about 2 % (the flows' numbers, codes and receipts differ). It is a proxy, not the CPU time
itself (a cache miss costs more than an instruction), so docs/benchmark.md quotes both.

The flows are bench/flow.py's (`one_flow`: a new citizen, eight requests), run with the bench's
settings against DATABASE_URL and REDIS_URL, without flow.py's timers; ten flows first, not
counted, then callgrind's counting is switched on (`callgrind_control -i on`) for --flows
flows and off again, so Django's start-up and the migrations are not in the figure.
--checkout runs another checkout's code (a `git worktree` of an older commit) with this
bench's flow: Python starts with -S and the checkout first on the path, so the editable
install of this one cannot lend it a module it does not have. --without-hiredis hides hiredis
(a dependency since 2026-12-03) from the checkout, as for a commit from before it. Needs
valgrind (a Debian package); about a minute for twenty flows.

Under callgrind a flow takes about three seconds, seventy times its time in service, so what a
worker keeps for a second (PUBLIC_PAGE_LOCAL_SECONDS: the current poll and its entries, and
the public pages it served) is read again, through the ORM, in most flows, where a worker in
service at 40 flows a second reads it again once in about forty. --kept-seconds (default 60)
sets the setting for the whole run, warm-up included, which brings the misses back to about
one in twenty flows (the flow shows no public page, so only the poll and its entries count):
on 2026-12-03 main counted 45.5 M instructions and 19.0 statements a flow so, and 50.7 M and
20.6 statements with one second (`--kept-seconds 1`, the setting as it is). The statements a
flow ran are printed beside the figure. A checkout that keeps nothing (3de7fc1) counts the
same either way.
"""

import argparse
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(checkout, flows, kept_seconds, signals):
    """Inside valgrind: warm up, then tell the parent, wait for it, run the counted flows."""
    sys.path.insert(0, str(HERE))
    import flow

    flow.ROOT = Path(checkout)  # configure() puts the checkout first on the path
    flow.prepare(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    settings.PUBLIC_PAGE_LOCAL_SECONDS = kept_seconds
    statements = 0

    def count(execute, *args):
        nonlocal statements
        statements += 1
        return execute(*args)

    client, counters = Client(), flow.Counters()  # counters not installed: no timers
    start = int(time.time() * 1000) % 10**6 * 1000
    for n in range(start, start + 10 + flows):
        if n == start + 10:
            (signals / "ready").touch()
            while not (signals / "go").exists():
                time.sleep(0.05)
            statements = 0
        with connection.execute_wrapper(count):
            flow.one_flow(client, n, counters, {step: [] for step in flow.STEPS})
    (signals / "statements").write_text(str(statements))
    (signals / "done").touch()
    while not (signals / "exit").exists():
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--checkout", default=str(HERE.parent), help="the code to run")
    parser.add_argument("--without-hiredis", action="store_true")
    parser.add_argument(
        "--kept-seconds", type=float, default=60.0, help="PUBLIC_PAGE_LOCAL_SECONDS while counting"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.checkout, args.flows, args.kept_seconds, Path(args.child))
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench/instructions.py needs a PostgreSQL DATABASE_URL and a REDIS_URL")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        path = [args.checkout, sysconfig.get_paths()["purelib"]]
        if args.without_hiredis:
            (scratch / "hiredis.py").write_text('raise ImportError("hidden by the bench")\n')
            path.insert(0, str(scratch))
        out = scratch / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, "-S", __file__, "--child", str(scratch),
            "--checkout", args.checkout, "--flows", str(args.flows),
            "--kept-seconds", str(args.kept_seconds),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONHASHSEED": "0"}
        with open(scratch / "log", "w") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

        def wait_for(name):
            while not (scratch / name).exists():
                if process.poll() is not None:
                    sys.exit((scratch / "log").read_text()[-3000:])
                time.sleep(0.2)

        def control(switch):
            subprocess.run(["callgrind_control", "-i", switch, str(process.pid)],
                           check=True, capture_output=True)  # fmt: skip

        wait_for("ready")
        control("on")
        (scratch / "go").touch()
        wait_for("done")
        control("off")
        (scratch / "exit").touch()
        process.wait()
        totals = [
            int(match.group(1))
            for dump in scratch.glob("callgrind.out*")
            for match in re.finditer(r"^(?:summary|totals): (\d+)", dump.read_text(), re.M)
        ]
        statements = int((scratch / "statements").read_text()) / args.flows
    print(
        f"{args.checkout}: {max(totals) / args.flows / 1e6:.1f} million instructions a flow,"
        f" {statements:.1f} SQL statements ({args.flows} flows, kept {args.kept_seconds:g} s"
        f"{', hiredis hidden' if args.without_hiredis else ''})"
    )


if __name__ == "__main__":
    main()
