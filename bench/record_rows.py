"""The public record's rows of `make bench` (docs/benchmark.md): checkpoints, /receipt/, the
closing package and the standalone verifier, at the benchmark's number of ballots.

Called by bench/run.py on its own database; each step is the real command or page:

- `publish_checkpoint` of all but the last 100,000 ballots (the first checkpoint after a bulk
  load), then of a heavy hour: the last 100,000 onto the rest (target: under 10 s);
- POST /receipt/ through gunicorn for random receipts in the log, each from another address
  as behind nginx (target: under 50 ms);
- after the close and `certify_poll`: `closing_package` (time and size) and
  `python tools/verify_record.py` on it (target: under 60 s), and `verify_record` on the live
  database.
"""

import http.client
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
HEAVY_HOUR = 100_000
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _timed(command, env):
    began = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - began, result.stdout


def manage(env, *arguments):
    return _timed([sys.executable, "manage.py", *arguments], env)


def load(env, count):
    _timed([sys.executable, "-m", "bench.synthetic", "--count", str(count)], env)


def checkpoints(env, ballots, say):
    """Load the ballots in two parts, a checkpoint after each; returns the rows' figures."""
    first = max(ballots - HEAVY_HOUR, 0)
    began = time.monotonic()
    load(env, first)
    loaded = time.monotonic() - began
    initial, out = manage(env, "publish_checkpoint", "--poll", "reform-experiences")
    say(f"record: first checkpoint of {first:,} ballots in {initial:.1f} s ({out.strip()})")
    began = time.monotonic()
    load(env, ballots - first)
    loaded += time.monotonic() - began
    heavy, out = manage(env, "publish_checkpoint", "--poll", "reform-experiences")
    say(f"record: checkpoint of {ballots - first:,} onto {first:,} in {heavy:.1f} s")
    return {"first": first, "initial_s": initial, "heavy": ballots - first, "heavy_s": heavy,
            "load_s": loaded}  # fmt: skip


def receipt_latency(base, ballots, samples=300, seed=12):
    """Median and p99 of POST /receipt/ (ms) for receipts of ballots in the log."""
    from bench.synthetic import synthetic_receipt

    target = urlsplit(base)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    connection.request("GET", "/receipt/", headers={"X-Real-IP": "10.1.0.1"})
    response = connection.getresponse()
    page = response.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    rng = random.Random(seed)  # noqa: S311 - which receipts to look up, not a secret
    times, found = [], 0
    for n in range(samples):
        receipt = synthetic_receipt(rng.randrange(ballots), RECEIPT_ALPHABET)
        body = urlencode({"csrfmiddlewaretoken": token, "receipt": receipt})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
            "Referer": f"{base}/receipt/",
            # One address each, as behind nginx: the per-address limit is not what is measured.
            "X-Real-IP": f"10.2.{n // 250}.{n % 250 + 1}",
        }
        began = time.perf_counter()
        connection.request("POST", "/receipt/", body=body, headers=headers)
        response = connection.getresponse()
        content = response.read().decode()
        times.append((time.perf_counter() - began) * 1000)
        if response.status != 200:
            sys.exit(f"/receipt/ answered {response.status}")
        found += "包含证明已核验通过" in content
    if found != samples:
        sys.exit(f"/receipt/ found {found} of {samples} receipts with a checked proof")
    times.sort()
    return {"p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1],
            "samples": samples}  # fmt: skip


def closing(env, work, say):
    """Close, certify (its checkpoint and the stored package), rebuild, verify standalone."""
    manage(env, "close_poll", "reform-experiences")
    certify, _ = manage(env, "certify_poll", "reform-experiences")
    say(f"record: certify_poll (checkpoint and stored package) in {certify:.1f} s")
    package = work / "record.zip"
    build, _ = manage(env, "closing_package", "reform-experiences", "--output", str(package))
    say(f"record: closing_package in {build:.1f} s, {package.stat().st_size / 1e6:.1f} MB")
    verify, out = _timed([sys.executable, "tools/verify_record.py", str(package)], env)
    if "核验通过" not in out:
        sys.exit(f"verify_record.py did not pass:\n{out}")
    say(f"record: tools/verify_record.py in {verify:.1f} s")
    live, _ = manage(env, "verify_record", "--poll", "reform-experiences")
    say(f"record: manage.py verify_record in {live:.1f} s")
    return {"certify_s": certify, "build_s": build, "size_mb": package.stat().st_size / 1e6,
            "verify_s": verify, "live_s": live}  # fmt: skip


def table(rows):
    c, r, p = rows["checkpoints"], rows["receipt"], rows["closing"]
    return "\n".join(
        [
            "| the public record | figure | target |",
            "|---|---:|---:|",
            f"| checkpoint of a heavy hour: {c['heavy']:,} ballots onto {c['first']:,} "
            f"(`publish_checkpoint`, start to end) | {c['heavy_s']:.1f} s | < 10 s |",
            f"| first checkpoint after a bulk load of {c['first']:,} ballots | "
            f"{c['initial_s']:.1f} s | |",
            f"| `/receipt/` with its proof checked, {r['samples']} receipts, p50 / p99 | "
            f"{r['p50']:.1f} / {r['p99']:.1f} ms | < 50 ms |",
            f"| `certify_poll` (its checkpoint, then the package built and stored) | "
            f"{p['certify_s']:.1f} s | |",
            f"| `closing_package` build / size | {p['build_s']:.1f} s / {p['size_mb']:.1f} MB | |",
            f"| `python tools/verify_record.py` on that package | {p['verify_s']:.1f} s | < 60 s |",
            f"| `manage.py verify_record` on the live database | {p['live_s']:.1f} s | |",
        ]
    )
