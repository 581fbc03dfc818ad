"""No raw phone or ID number at rest, in the database or the logs."""

import io
import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client, override_settings

from ballots.models import Ballot

from .conftest import last_code, resend_wait_passes, verify

PHONES = ["13812345678", "15987654321"]
ID_NUMBER = "370303198506120030"


@pytest.mark.django_db
def test_database_and_logs_hold_no_phone_or_id_number_after_full_flows(poll, caplog, capfd):
    poll.require_id_number = True
    poll.save()
    caplog.set_level(logging.DEBUG)

    first, second, pending = Client(), Client(), Client()
    with override_settings(SMS_BACKEND="console"):  # the code goes to the server log
        first.post("/verify/", {"phone": PHONES[0]})
    code = re.search(r"验证码是(\d{6})", capfd.readouterr().err).group(1)
    assert first.post("/verify/", {"code": code}).status_code == 302
    first.post("/vote/", {"choices": "3", "id_number": ID_NUMBER, "confirm": "1"})
    verify(second, PHONES[1])
    # Same ID number: refused.
    second.post("/vote/", {"choices": "4", "id_number": ID_NUMBER.lower(), "confirm": "1"})
    assert Ballot.objects.count() == 1
    # A session still waiting for its code, which asked for a second one without retyping:
    # the number it needs for that is sealed, not written down.
    resend_wait_passes(PHONES[1])
    pending.post("/verify/", {"phone": PHONES[1]})
    resend_wait_passes(PHONES[1])
    assert pending.post("/verify/resend/").status_code == 302
    assert last_code(PHONES[1])

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    sessions = [str(session.get_decoded()) for session in Session.objects.all()]
    stored = dump.getvalue() + "\n".join(sessions)
    assert len(sessions) >= 3
    assert "sealed_phone" in stored  # the pending session was among those read
    server_log = caplog.text + capfd.readouterr().err
    # Nor the last four digits of a number, which beside its 号段 would be all of it.
    # (The four digits alone could turn up by chance in a hash or a timestamp.)
    last_four = [f"****{phone[-4:]}" for phone in PHONES]
    for secret in [*PHONES, ID_NUMBER, ID_NUMBER[-8:], *last_four]:
        assert secret not in stored, f"{secret} is stored"
        assert secret not in server_log, f"{secret} is logged"
    assert "1381234****" in caplog.text  # logs name the citizen only by the masked number
    assert "1381234****" in dump.getvalue()  # as does the ballot, for staff
    assert "127.0.0.1" not in dump.getvalue()
    assert "127.0.0.0/24" in dump.getvalue()
