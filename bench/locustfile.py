"""Citizens, each doing the whole flow once: code → verify → vote (bench/run.py runs this).

Every flow is a new citizen: a new phone number, a new session, a new address in X-Real-IP
(the server trusts that header in the benchmark, as it does behind nginx). The SMS code is
read from the `file` backend's SMS_FILE, as a phone would receive it. Completed and failed
flows are counted here and written to FLOW_COUNTS when the run stops; locust's own statistics
hold the requests.
"""

import itertools
import json
import os
import random
import re
import time

import gevent
from locust import FastHttpUser, constant, events, task

SMS_FILE = os.environ["SMS_FILE"]
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_numbers = itertools.count(random.randrange(10**7))  # noqa: S311 - test data
inbox = {}
flows = {"completed": 0, "failed": 0, "started": None}


@events.test_start.add_listener
def count_from_now(environment, **kwargs):
    flows["started"] = time.monotonic()


@events.test_stop.add_listener
def write_counts(environment, **kwargs):
    seconds = time.monotonic() - flows["started"]
    with open(os.environ["FLOW_COUNTS"], "w", encoding="utf-8") as out:
        json.dump({"completed": flows["completed"], "failed": flows["failed"],
                   "seconds": seconds}, out)  # fmt: skip


def read_inbox():
    """Follows the SMS file: phone → latest code."""
    with open(SMS_FILE, "a+", encoding="utf-8") as sms:
        sms.seek(0, os.SEEK_END)
        while True:
            position = sms.tell()
            line = sms.readline()
            if not line.endswith("\n"):
                # Nothing new, or a line still being written: read it again in a moment.
                sms.seek(position)
                gevent.sleep(0.002)
                continue
            message = json.loads(line)
            inbox[message["phone"]] = message["code"]


@events.init.add_listener
def start_inbox(environment, **kwargs):
    gevent.spawn(read_inbox)


def wait_for_code(phone, seconds=10):
    deadline = time.monotonic() + seconds
    while phone not in inbox:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no SMS for {phone}")
        gevent.sleep(0.002)
    return inbox.pop(phone)


class Citizen(FastHttpUser):
    wait_time = constant(0)

    def _token(self, path, name=None, expect_form=True):
        """GET the page; its form's CSRF token (or True for a page without a form), or None."""
        with self.client.get(
            path, name=name or f"GET {path}", headers=self.headers, catch_response=True
        ) as response:
            found = TOKEN.search(response.text or "")
            if response.status_code != 200 or (expect_form and not found):
                response.failure(f"no form at {path}: {response.status_code}")
                return None
            return found.group(1) if found else True

    def _post(self, path, data, expect, name, location=None):
        with self.client.post(
            path,
            data=data,
            name=name,
            headers=self.headers,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != expect:
                response.failure(f"{name}: {response.status_code}")
                return False
            if location is not None and response.headers.get("Location") != location:
                response.failure(f"{name}: went to {response.headers.get('Location')}")
                return False
            return True

    @task
    def vote(self):
        if self.flow():
            flows["completed"] += 1
        else:
            flows["failed"] += 1

    def flow(self):
        self.client.cookiejar.clear()
        phone = f"139{next(_numbers) % 10**8:08d}"
        address = random.getrandbits(24)
        self.headers = {"X-Real-IP": f"10.{address >> 16}.{(address >> 8) & 255}.{address & 255}"}
        token = self._token("/verify/")
        if token is None or not self._post(
            "/verify/", {"phone": phone, "csrfmiddlewaretoken": token}, 302, "POST /verify/ phone"
        ):
            return False
        try:
            code = wait_for_code(phone)
        except TimeoutError:
            return False
        # The flow as a browser goes through it, redirects followed: the code step's page, the
        # ballot, its review, the cast, the receipt (eight requests, as bench/flow.py's).
        token = self._token("/verify/", name="GET /verify/ code step")
        if token is None or not self._post(
            "/verify/", {"code": code, "csrfmiddlewaretoken": token}, 302, "POST /verify/ code"
        ):
            return False
        token = self._token("/vote/")
        choice = random.randint(1, 15)  # noqa: S311
        chosen = {"choices": choice, "csrfmiddlewaretoken": token}
        if token is None or not self._post("/vote/", chosen, 200, "POST /vote/ review"):
            return False
        return self._post(
            "/vote/",
            {**chosen, "confirm": "1"},
            302,
            "POST /vote/ confirm",
            # To the receipt: a redirect elsewhere (back to /verify/, say) is not a vote.
            location="/vote/done/",
        ) and self._token("/vote/done/", expect_form=False)
