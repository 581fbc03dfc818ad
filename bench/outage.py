"""What a citizen waits for when Redis is hung or down: the figures of docs/operations.md.

    .venv/bin/python bench/outage.py [--repo DIR] [--rounds 15]

Starts a Redis of its own and gunicorn (gunicorn.conf.py, production settings, SQLite in a
temporary directory, the `file` SMS backend), then times, with Redis healthy, stopped by
SIGSTOP (hung: connections accepted, nothing answered) and killed (down: connections refused):

- a page (`/`, `/reforms/3/`, `/results/`) for a visitor without a session;
- sending a code (POST /verify/ with a phone), checking it (POST /verify/ with the code), and
  casting a ballot (POST /vote/ with confirm=1), each for a citizen of its own. The codes
  checked and the citizens who vote during an outage asked for their codes before it.

Prints the median and the slowest of each, in milliseconds. --repo runs the same against
another checkout (e.g. one of an older commit, to compare), with this file's client.
"""

import argparse
import http.cookiejar
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
PAGES = ["/", "/reforms/3/", "/results/"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Visitor:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirects
        )

    def request(self, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as response:
                status, page = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, page = error.code, error.read().decode()
        return status, page, (time.perf_counter() - started) * 1000

    def post(self, path, data):
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        return self.request(path, {**data, "csrfmiddlewaretoken": token})


def code_for(sms_file, phone):
    for line in reversed(sms_file.read_text(encoding="utf-8").splitlines()):
        if json.loads(line)["phone"] == phone:
            return json.loads(line)["code"]
    raise RuntimeError(f"no SMS to {phone}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()
    repo, rounds = Path(options.repo), options.rounds
    tmp = Path(tempfile.mkdtemp(prefix="zibo-vote-outage-"))
    redis_port, port = free_port(), free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "zibo_vote.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CITIZEN_HASH_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "SMS_BACKEND": "file",
        "SMS_FILE": str(tmp / "sms.jsonl"),
        # One address sends every code here: the limits per address would stop the run.
        "RATE_UNVERIFIED_SENDS_PER_IP": "100000",
        "RATE_SEND_PER_IP": "100000/h",
        "RATE_CHECK_PER_IP": "100000/h",
        "RATE_VOTE_PER_IP": "100000/h",
        "PORT": str(port),
    }
    for command in (["migrate"], ["load_initial_data"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command, "-v0"], cwd=repo, env=env,
                       check=True, capture_output=True)  # fmt: skip
    with open(tmp / "gunicorn.log", "w") as log:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "zibo_vote.wsgi"],
            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sms = tmp / "sms.jsonl"
    numbers = iter(f"139{n:08d}" for n in range(10**8))
    try:
        for _ in range(100):
            try:
                if Visitor(base).request("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        results = {}

        def prepared(step):
            """A visitor with a code on its way (step "check") or verified (step "vote")."""
            visitor, phone = Visitor(base), next(numbers)
            visitor.request("/verify/")
            visitor.post("/verify/", {"phone": phone})
            visitor.request("/verify/")  # the code step, after the redirect
            if step == "vote":
                visitor.post("/verify/", {"code": code_for(sms, phone)})
                visitor.request("/vote/")
            return visitor, phone

        def measure(phase):
            to_check = [prepared("check") for _ in range(rounds)]
            to_vote = [prepared("vote") for _ in range(rounds)]
            pause, resume = phases[phase]
            pause()
            times = {"page": [], "send code": [], "check code": [], "ballot": []}
            outcomes = {key: set() for key in times}
            for index in range(rounds):
                for path in PAGES:
                    status, _, ms = Visitor(base).request(path)
                    times["page"].append(ms)
                    outcomes["page"].add(status)
                sender, phone = Visitor(base), next(numbers)
                sender.request("/verify/")
                _, _, ms = sender.post("/verify/", {"phone": phone})
                times["send code"].append(ms)
                outcomes["send code"].add("sent" if f'"{phone}"' in sms.read_text() else "refused")
                visitor, phone = to_check[index]
                status, _, ms = visitor.post("/verify/", {"code": code_for(sms, phone)})
                times["check code"].append(ms)
                outcomes["check code"].add(status)
                status, _, ms = to_vote[index][0].post("/vote/", {"choices": "3", "confirm": "1"})
                times["ballot"].append(ms)
                outcomes["ballot"].add(status)
            health = Visitor(base).request("/healthz")
            resume()
            results[phase] = (times, outcomes, health[:2])

        def kill():
            redis.kill()
            redis.wait()

        phases = {
            "Redis healthy": (lambda: None, lambda: None),
            "Redis hung (SIGSTOP)": (
                lambda: os.kill(redis.pid, signal.SIGSTOP),
                lambda: os.kill(redis.pid, signal.SIGCONT),
            ),
            "Redis down (killed)": (kill, lambda: None),
        }
        for phase in phases:
            measure(phase)
            time.sleep(6)  # past the breaker's 5 s, so each phase starts afresh
        print(f"{repo} ({rounds} rounds; ms: median / slowest)")
        for phase, (times, outcomes, (status, body)) in results.items():
            print(f"\n{phase}    /healthz {status}: {' | '.join(body.strip().splitlines())}")
            for action, values in times.items():
                outcome = ", ".join(str(o) for o in sorted(outcomes[action], key=str))
                print(f"  {action:11} {statistics.median(values):8.0f} / {max(values):6.0f}"
                      f"   ({outcome})")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        if redis.poll() is None:
            os.kill(redis.pid, signal.SIGCONT)
            redis.terminate()


if __name__ == "__main__":
    main()
