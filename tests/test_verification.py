"""A citizen proves a mobile number with a one-time SMS code."""

import ast
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ballots.models import Ballot
from verification import sms
from verification.identity import address_hash, phone_hash
from verification.models import CodeCheck, VerificationCode

from .conftest import last_code, resend_wait_passes, verify

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


def text(response):
    return response.content.decode("utf-8")


def is_verified(client):
    return client.get("/vote/").status_code == 200


def test_phone_step_is_a_form_with_csrf_protection(client, poll):
    html = text(client.get("/verify/"))
    assert 'name="phone"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'type="tel"' in html


def test_full_flow_sends_a_code_and_verifies_the_session(client, poll):
    response = client.post("/verify/", {"phone": "+86 138-1234-5678"})
    # POST-redirect-GET: the code step is a page of its own, so Back never meets a
    # "Confirm Form Resubmission" page.
    assert response.status_code == 302
    assert response["Location"] == "/verify/?next=/vote/"
    code_step = client.get(response["Location"])
    assert "验证码已发送至 <strong>1381234****</strong>" in text(code_step)
    assert 'name="code"' in text(code_step)
    assert len(sms.outbox) == 1
    assert sms.outbox[0]["phone"] == PHONE
    old_session_key = client.session.session_key

    response = client.post("/verify/", {"code": last_code(PHONE)})

    assert response.status_code == 302
    assert response["Location"] == "/vote/"
    # The session key is cycled, and the session holds the citizen's hash and nothing else.
    assert client.session.session_key != old_session_key
    citizen = client.session["citizen"]
    assert citizen["hash"] == phone_hash(PHONE)
    # The hash, the 号段 and two times: never the number, nor its last four digits.
    assert set(citizen) == {"hash", "segment", "code_sent_at", "verified_at"}
    assert citizen["segment"] == "1381234"
    assert citizen["code_sent_at"] <= citizen["verified_at"]
    assert "5678" not in str(dict(client.session))
    assert set(client.session.keys()) == {"citizen"}
    assert is_verified(client)


def test_code_is_stored_only_as_a_hash(client, poll):
    client.post("/verify/", {"phone": PHONE})
    code = last_code(PHONE)
    row = VerificationCode.objects.get()
    assert code not in row.code_hash
    assert row.phone_hash == phone_hash(PHONE)
    # The address that asked is kept only as the limits' keyed hash of it.
    assert row.sent_from == address_hash("127.0.0.1") and "127.0.0" not in row.sent_from
    assert row.expires_at - row.sent_at == timedelta(minutes=5)


def test_wrong_code_is_refused(client, poll):
    client.post("/verify/", {"phone": PHONE})
    wrong = "000000" if last_code(PHONE) != "000000" else "111111"
    response = client.post("/verify/", {"code": wrong}, follow=True)
    assert response.status_code == 200
    assert "验证码不正确" in text(response)
    assert not is_verified(client)


def wrong_code():
    return f"{(int(last_code(PHONE)) + 1) % 10**6:06d}"


def test_a_wrong_code_says_how_many_tries_are_left(client, poll):
    client.post("/verify/", {"phone": PHONE})
    first = text(client.post("/verify/", {"code": wrong_code()}, follow=True))
    assert "验证码不正确，请核对短信后重新输入。还可以再输入4次。" in first
    assert first.count("验证码不正确") == 1  # once, beside the field: not again in a summary
    assert "还可以再输入3次" in text(client.post("/verify/", {"code": wrong_code()}, follow=True))


def code_step(client):
    response = client.get("/verify/", {"next": "/vote/"})
    assert response.status_code == 200
    html = text(response)
    assert 'name="code"' in html
    return html


def resend_form(html):
    """The form whose button reads 重新获取验证码: (its action, its inputs' names)."""
    for form in re.findall(r"<form\b.*?</form>", html, flags=re.DOTALL):
        if "重新获取验证码</button>" in form:
            action = re.search(r'action="([^"]+)"', form).group(1)
            return action, re.findall(r'<input[^>]* name="([^"]+)"', form)
    raise AssertionError("no resend form")


def test_the_code_step_masks_the_number_and_resends_without_retyping(client, poll):
    client.post("/verify/", {"phone": PHONE})
    html = code_step(client)
    assert "1381234****" in html
    assert PHONE not in html and "5678" not in html  # never the whole number
    assert 'href="/verify/?step=phone&amp;next=/vote/">更换手机号码</a>' in html
    action, inputs = resend_form(html)
    assert "phone" not in inputs  # nothing to retype
    resend_wait_passes(PHONE)

    response = client.post(action, {"next": "/vote/"})

    assert response.status_code == 302 and response["Location"] == "/verify/?next=/vote/"
    assert [message["phone"] for message in sms.outbox] == [PHONE, PHONE]
    assert "新的验证码已发送至 1381234****" in code_step(client)
    assert client.post("/verify/", {"code": last_code(PHONE)}).status_code == 302


def test_after_a_wrong_code_the_resend_still_needs_no_retyping(client, poll):
    # Today's bug: after any error the resend form came back with an empty phone field.
    client.post("/verify/", {"phone": PHONE})
    html = text(client.post("/verify/", {"code": wrong_code()}, follow=True))
    action, inputs = resend_form(html)
    assert "phone" not in inputs
    resend_wait_passes(PHONE)
    assert client.post(action, {"next": "/vote/"}).status_code == 302
    assert len(sms.outbox) == 2


def test_the_code_step_shows_the_time_left_before_a_resend(client, poll):
    client.post("/verify/", {"phone": PHONE})
    html = code_step(client)
    seconds = int(re.search(r'data-resend-in="(\d+)"', html).group(1))
    assert 55 <= seconds <= 60
    assert f"{seconds}秒后可重新获取验证码" in html
    # Counted down by a static file where JavaScript runs: no inline script (the CSP).
    assert re.search(r'<script src="/static/js/resend(\.[0-9a-f]+)?\.js" defer></script>', html)
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    resend_wait_passes(PHONE)
    session = client.session
    session["verify"] = {**session["verify"], "sent_at": time.time() - 61}
    session.save()
    assert "现在可以重新获取验证码" in code_step(client)


def test_resend_too_soon_is_a_notice_on_the_code_step_not_an_error(client, poll):
    client.post("/verify/", {"phone": PHONE})
    action, _ = resend_form(code_step(client))
    response = client.post(action, {"next": "/vote/"})
    assert response.status_code == 302 and response["Location"] == "/verify/?next=/vote/"
    html = code_step(client)
    assert re.search(r'<div class="callout" role="status"><p>验证码刚刚已发送，请查收短信。'
                     r"如未收到，可在\d+秒后重新获取。</p></div>", html)  # fmt: skip
    assert "请更正" not in html and 'aria-invalid="true"' not in html
    assert len(sms.outbox) == 1


def test_asking_twice_for_the_same_number_leads_to_the_code_step(client, poll):
    client.post("/verify/", {"phone": PHONE})
    response = client.post("/verify/", {"phone": PHONE})
    assert response.status_code == 302 and response["Location"] == "/verify/?next=/vote/"
    assert "验证码刚刚已发送" in code_step(client)
    assert len(sms.outbox) == 1


def test_every_answer_to_a_post_is_a_redirect_errors_too(client, poll):
    # Nothing in the browser's history is the answer to a POST: Back and Reload never ask to
    # send a form again (Chromium's ERR_CACHE_MISS page), whatever went wrong before.
    refused = client.post("/verify/", {"phone": "17012345678"})  # a real number, refused
    assert refused.status_code == 302
    assert refused["Location"] == "/verify/?step=phone&next=/vote/"
    # What was typed waits for the page in the session, sealed, never in clear.
    assert "17012345678" not in str(dict(client.session))
    page = text(client.get(refused["Location"]))
    assert "虚拟运营商" in page and 'value="17012345678"' in page
    assert "虚拟运营商" not in text(client.get(refused["Location"]))  # shown once, then gone
    client.post("/verify/", {"phone": PHONE})
    for code in ["12345", wrong_code()]:
        response = client.post("/verify/", {"code": code})
        assert response.status_code == 302 and response["Location"] == "/verify/?next=/vote/"
        assert f'value="{code}"' in code_step(client)  # kept, with its message


def test_verify_after_the_close_offers_no_phone_form(client, poll):
    poll.close()
    for path in ["/verify/", "/verify/?step=phone", "/en/verify/"]:
        response = client.get(path)
        assert response.status_code == 200
        assert 'name="phone"' not in text(response)
    assert "投票已结束" in text(client.get("/verify/"))


def minutes_since_sent(client, minutes):
    session = client.session
    session["verify"] = {**session["verify"], "sent_at": time.time() - minutes * 60}
    session.save()


def test_the_sealed_number_lasts_as_long_as_the_code_and_goes_at_verification(client, poll):
    client.post("/verify/", {"phone": PHONE})
    pending = client.session["verify"]
    assert PHONE not in str(pending) and "5678" not in str(pending)
    assert set(pending) == {"phone_hash", "segment", "nonce", "sent_at", "sealed_phone"}
    assert client.post("/verify/", {"code": last_code(PHONE)}).status_code == 302
    assert "verify" not in client.session  # dropped at verification

    other = Client()
    other.post("/verify/", {"phone": "13987654321"})
    minutes_since_sent(other, 5)
    html = text(other.get("/verify/"))
    assert 'name="phone"' in html and "验证码已超过5分钟有效期" in html
    assert "verify" not in other.session  # the sealed number went with the pending code
    resend_wait_passes("13987654321")
    response = other.post("/verify/resend/", {"next": "/vote/"})
    assert response["Location"] == "/verify/?step=phone&next=/vote/"
    assert "请重新输入手机号码" in text(other.get(response["Location"]))
    assert len(sms.outbox) == 2


def test_a_sealed_number_opens_only_for_its_own_pending_code(client, poll):
    client.post("/verify/", {"phone": PHONE})
    session = client.session
    session["verify"] = {**session["verify"], "nonce": "another-code's-nonce"}
    session.save()
    resend_wait_passes(PHONE)
    response = client.post("/verify/resend/", {"next": "/vote/"})
    assert response["Location"] == "/verify/?step=phone&next=/vote/"
    assert len(sms.outbox) == 1


def test_malformed_code_gets_a_message(client, poll):
    client.post("/verify/", {"phone": PHONE})
    for bad, message in [
        ("", "请输入短信验证码"),
        ("12345", "验证码是6位数字"),
        ("abcdef", "验证码是6位数字"),
        ("1234567", "验证码是6位数字"),
        ("１２３４５", "验证码是6位数字"),
    ]:
        response = client.post("/verify/", {"code": bad}, follow=True)
        assert response.status_code == 200
        assert message in text(response)
        assert 'aria-invalid="true"' in text(response)
    assert VerificationCode.objects.get().wrong_tries == 0
    assert not is_verified(client)


def test_full_width_code_is_accepted(client, poll):
    client.post("/verify/", {"phone": PHONE})
    full_width = last_code(PHONE).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert client.post("/verify/", {"code": full_width}).status_code == 302


def test_expired_code_is_refused(client, poll):
    client.post("/verify/", {"phone": PHONE})
    VerificationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post("/verify/", {"code": last_code(PHONE)}, follow=True)
    assert "验证码已过期" in text(response)
    assert not is_verified(client)


def test_code_expires_after_five_minutes_by_the_clock(poll):
    start = timezone.now()
    _, code = VerificationCode.issue(phone_hash="p", nonce="n", now=start)
    check = VerificationCode.check_code
    late = start + timedelta(minutes=5)
    assert check(phone_hash="p", nonce="n", code=code, now=late).status == CodeCheck.EXPIRED
    in_time = start + timedelta(minutes=4, seconds=59)
    assert check(phone_hash="p", nonce="n", code=code, now=in_time).status == CodeCheck.OK


def test_code_works_once(poll):
    _, code = VerificationCode.issue(phone_hash="p", nonce="n")
    check = VerificationCode.check_code
    assert check(phone_hash="p", nonce="n", code=code).status == CodeCheck.OK
    assert check(phone_hash="p", nonce="n", code=code).status == CodeCheck.USED


def test_reused_code_does_not_verify_another_session(client, poll):
    verify(client)
    code = last_code(PHONE)
    other = Client()
    response = other.post("/verify/", {"phone": PHONE, "code": code}, follow=True)
    assert response.status_code == 200
    assert not is_verified(other)


def test_code_for_one_phone_does_not_verify_another(client, poll):
    client.post("/verify/", {"phone": PHONE})
    response = client.post(
        "/verify/", {"phone": "13987654321", "code": last_code(PHONE)}, follow=True
    )
    assert response.status_code == 200
    assert "请先获取验证码" in text(response)
    assert not is_verified(client)


def test_code_is_bound_to_the_session_that_asked_for_it(client, poll):
    client.post("/verify/", {"phone": PHONE})
    code = last_code(PHONE)
    stranger = Client()
    stranger.post("/verify/", {"phone": "13987654321"})  # a session with a pending code
    response = stranger.post("/verify/", {"phone": PHONE, "code": code}, follow=True)
    assert "请先获取验证码" in text(response)
    assert not is_verified(stranger)
    # The owner's code is untouched by the stranger's attempt.
    assert VerificationCode.objects.get(phone_hash=phone_hash(PHONE)).wrong_tries == 0
    assert client.post("/verify/", {"code": code}).status_code == 302


def test_five_wrong_tries_kill_the_code(client, poll):
    client.post("/verify/", {"phone": PHONE})
    code = last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for attempt in range(1, 6):
        response = client.post("/verify/", {"code": wrong}, follow=True)
        expected = "错误次数过多" if attempt == 5 else f"还可以再输入{5 - attempt}次"
        assert expected in text(response)
    # The sixth try, with the right code, fails too.
    response = client.post("/verify/", {"code": code}, follow=True)
    assert "错误次数过多" in text(response)
    assert not is_verified(client)


def test_resend_waits_sixty_seconds(client, poll):
    client.post("/verify/", {"phone": PHONE})
    client.post("/verify/", {"phone": PHONE})
    assert len(sms.outbox) == 1
    # Another session asking for the same number waits too: the wait belongs to the phone.
    # It is told so as a notice, with the number kept, not as a mistake of theirs.
    response = Client().post("/verify/", {"phone": PHONE}, follow=True)
    html = text(response)
    assert response.status_code == 200
    assert re.search(r'<div class="callout" role="status"><p>该号码刚刚获取过验证码，'
                     r"请查收短信，或在\d+秒后重新获取。</p></div>", html)  # fmt: skip
    assert "请更正" not in html and 'aria-invalid="true"' not in html
    assert f'value="{PHONE}"' in html
    assert len(sms.outbox) == 1


def test_a_new_code_replaces_the_old_one(client, poll):
    client.post("/verify/", {"phone": PHONE})
    first = last_code(PHONE)
    resend_wait_passes(PHONE)
    client.post("/verify/", {"phone": PHONE})
    second = last_code(PHONE)
    if first != second:  # one chance in a million that they are the same
        assert "验证码不正确" in text(client.post("/verify/", {"code": first}, follow=True))
        assert not is_verified(client)
    assert client.post("/verify/", {"code": second}).status_code == 302


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("", "请输入手机号码"),
        ("12345", "请输入11位中国大陆手机号码"),
        ("1381234567x", "请输入11位中国大陆手机号码"),
        ("17012345678", "虚拟运营商"),
        ("1" * 40, "手机号码过长"),
    ],
)
def test_bad_phone_gets_a_message_keeps_the_input_and_sends_nothing(client, poll, phone, message):
    response = client.post("/verify/", {"phone": phone}, follow=True)
    html = text(response)
    assert response.status_code == 200
    assert message in html
    assert 'aria-invalid="true"' in html
    assert f'value="{phone}"' in html or not phone
    assert sms.outbox == []
    assert not VerificationCode.objects.exists()


def test_code_without_asking_first_gets_a_message(client, poll):
    response = client.post("/verify/", {"code": "123456"}, follow=True)
    assert response.status_code == 200
    assert "请先获取短信验证码" in text(response)


def test_unverified_visitor_is_sent_to_verify_and_back(client, poll):
    response = client.get("/vote/")
    assert response.status_code == 302
    assert response["Location"] == "/verify/?next=/vote/"
    html = text(client.get(response["Location"]))
    assert 'name="next" value="/vote/"' in html
    client.post("/verify/", {"phone": PHONE, "next": "/vote/"})
    response = client.post("/verify/", {"code": last_code(PHONE), "next": "/vote/"})
    assert response["Location"] == "/vote/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/steal", "//evil.example", "foo", "/\\evil.example", ""]
)
def test_next_never_leads_off_the_site_or_to_an_error(client, poll, target):
    client.post("/verify/", {"phone": PHONE})
    response = client.post("/verify/", {"code": last_code(PHONE), "next": target})
    assert response["Location"] == "/vote/"
    response = client.get("/verify/", {"next": target})  # already verified
    assert response["Location"] == "/vote/"


def test_no_code_is_sent_when_no_poll_is_open(client, poll):
    poll.close()
    response = client.post("/verify/", {"phone": PHONE})
    assert "投票已结束" in text(response)
    assert sms.outbox == []
    assert not VerificationCode.objects.exists()


def verified_minutes_ago(client, minutes):
    session = client.session
    session["citizen"] = {**session["citizen"], "verified_at": time.time() - minutes * 60}
    session.save()


def test_verification_lasts_thirty_minutes(citizen):
    verified_minutes_ago(citizen, 29)
    assert is_verified(citizen)
    verified_minutes_ago(citizen, 31)
    assert not is_verified(citizen)
    assert (
        citizen.post("/vote/", {"choices": "3", "confirm": "1"}).status_code == 302
    )  # back to /verify/
    assert not Ballot.objects.exists()


def test_missing_csrf_token_is_refused_in_chinese(poll):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/verify/", {"phone": PHONE})
    assert response.status_code == 403
    assert "页面已过期" in text(response)
    assert sms.outbox == []


class TestOnePhoneOneCitizen:
    """A number is the number it looks like: one spelling, one hash, one ballot."""

    ASCII = "13912300001"
    FULL_WIDTH = "１３９１２３００００１"  # what a Chinese input method types: the same number
    ARABIC_INDIC = "13٩١٢٣٠٠٠٠١"  # looks like a number, is not one a phone can dial

    def test_full_width_digits_are_the_same_citizen(self, poll):
        first = Client()
        verify(first, self.ASCII)
        assert first.post("/vote/", {"choices": "3", "confirm": "1"}).status_code == 302
        resend_wait_passes(self.ASCII)
        second = Client()
        second.post("/verify/", {"phone": self.FULL_WIDTH})
        # The SMS goes to the canonical number, and the wait is the same number's wait.
        assert sms.outbox[-1]["phone"] == self.ASCII
        assert second.post("/verify/", {"code": last_code(self.ASCII)}).status_code == 302
        assert "您已投票" in text(second.get("/vote/"))
        assert second.post("/vote/", {"choices": "4", "confirm": "1"}).status_code == 409
        assert Ballot.objects.count() == 1

    @pytest.mark.parametrize("spelling", [ARABIC_INDIC, "13९१२३००००१", "17٠١٢٣٤٥٦٧٨"])
    def test_digits_of_other_scripts_are_refused_and_nothing_is_sent(self, client, poll, spelling):
        response = client.post("/verify/", {"phone": spelling}, follow=True)
        html = text(response)
        assert response.status_code == 200
        assert "请输入11位中国大陆手机号码" in html
        assert f'value="{spelling}"' in html  # what was typed is kept
        assert sms.outbox == []
        assert not VerificationCode.objects.exists()

    def test_circled_and_superscript_digits_are_not_digits_either(self, client, poll):
        response = client.post("/verify/", {"phone": "①³⁸１２３４５６７８"}, follow=True)
        assert "请输入11位中国大陆手机号码" in text(response)
        assert sms.outbox == []


def end_verification_form(html):
    """The action of the form whose button reads 使用其他手机号码, or None."""
    for form in re.findall(r"<form\b.*?</form>", html, flags=re.DOTALL):
        if "使用其他手机号码" in form:
            assert 'method="post"' in form and 'name="csrfmiddlewaretoken"' in form
            return re.search(r'action="([^"]+)"', form).group(1)
    return None


class TestSharedPhone:
    """A family phone: once one person has voted, the next can still verify their own number."""

    def test_after_voting_another_person_can_verify_on_the_same_phone(self, citizen, poll):
        assert citizen.post("/vote/", {"choices": "3", "confirm": "1"}).status_code == 302
        html = text(citizen.get("/vote/"))
        assert "您已投票" in html
        action = end_verification_form(html)
        assert action is not None

        response = citizen.post(action, {"next": "/vote/"})

        assert response.status_code == 302
        phone_step = text(citizen.get(response["Location"]))
        assert 'name="phone"' in phone_step
        assert "您已投票" not in phone_step
        # The receipts of the one who voted went with them.
        assert "您已投票" not in text(citizen.get("/"))
        assert citizen.get("/vote/done/").status_code == 302
        verify(citizen, "13987654321")
        assert citizen.post("/vote/", {"choices": "5", "confirm": "1"}).status_code == 302
        assert Ballot.objects.count() == 2

    def test_the_phone_step_offers_the_way_out_to_a_verified_visitor(self, citizen):
        html = text(citizen.get("/verify/", {"step": "phone"}))
        assert end_verification_form(html) is not None

    def test_the_way_out_is_offered_before_voting_and_on_the_receipt(self, citizen):
        assert end_verification_form(text(citizen.get("/vote/"))) is not None
        citizen.post("/vote/", {"choices": "3", "confirm": "1"})
        assert end_verification_form(text(citizen.get("/vote/done/"))) is not None

    def test_ending_verification_needs_a_post_with_a_csrf_token(self, poll):
        browser = Client(enforce_csrf_checks=True)
        token = browser.get("/verify/").cookies["csrftoken"].value
        browser.post("/verify/", {"phone": PHONE, "csrfmiddlewaretoken": token})
        browser.post("/verify/", {"code": last_code(PHONE), "csrfmiddlewaretoken": token})
        action = end_verification_form(text(browser.get("/vote/")))
        assert browser.get(action).status_code == 405
        assert browser.post(action).status_code == 403
        assert is_verified(browser)
        assert browser.post(action, {"csrfmiddlewaretoken": token}).status_code == 302
        assert not is_verified(browser)


def test_verification_imports_nothing_of_ballots():
    # verification knows phones, codes and limits; who asks (ballots) is not its business.
    root = Path(settings.BASE_DIR) / "verification"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] == "ballots"], path


def other_than(code):
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_new_code_is_one_statement_that_replaces_the_sessions_earlier_one(db):
    hashed = phone_hash(PHONE)
    _first, first_code = VerificationCode.issue(phone_hash=hashed, nonce="n1")
    for _ in range(2):
        VerificationCode.check_code(phone_hash=hashed, nonce="n1", code=other_than(first_code))
    with CaptureQueriesContext(connection) as queries:
        second, code = VerificationCode.issue(phone_hash=hashed, nonce="n1")
    assert [query["sql"].split()[0] for query in queries] == ["INSERT"], queries.captured_queries
    assert VerificationCode.objects.get().pk == second.pk
    # The earlier code is gone with its wrong tries: the new one starts with all five.
    outcome = VerificationCode.check_code(phone_hash=hashed, nonce="n1", code=other_than(code))
    assert outcome.status == CodeCheck.WRONG
    assert outcome.tries_left == settings.SMS_CODE_MAX_WRONG_TRIES - 1
    assert VerificationCode.check_code(phone_hash=hashed, nonce="n1", code=code).status == (
        CodeCheck.OK
    )


def test_the_database_holds_one_code_per_number_and_session(db):
    VerificationCode.issue(phone_hash=phone_hash(PHONE), nonce="n1")
    row = VerificationCode.objects.get()
    row.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()
    # Another session, or another number, has a code of its own.
    VerificationCode.issue(phone_hash=phone_hash(PHONE), nonce="n2")
    VerificationCode.issue(phone_hash=phone_hash("13912345678"), nonce="n1")
    assert VerificationCode.objects.count() == 3


def test_a_right_code_is_used_in_one_statement(db):
    hashed = phone_hash(PHONE)
    _row, code = VerificationCode.issue(phone_hash=hashed, nonce="n1")
    with CaptureQueriesContext(connection) as queries:
        outcome = VerificationCode.check_code(phone_hash=hashed, nonce="n1", code=code)
    assert outcome.status == CodeCheck.OK and outcome.sent_at is not None
    assert [query["sql"].split()[0] for query in queries] == ["UPDATE"], queries.captured_queries
    used = VerificationCode.objects.get()
    assert used.used_at is not None and used.sent_at == outcome.sent_at
    # Used once: the same code again is refused as used, the tries untouched.
    again = VerificationCode.check_code(phone_hash=hashed, nonce="n1", code=code)
    assert again.status == CodeCheck.USED
    assert VerificationCode.objects.get().wrong_tries == 0


@pytest.mark.django_db(transaction=True)
def test_a_new_code_and_its_use_need_no_transaction_around_them(monkeypatch):
    # One statement each: no BEGIN and COMMIT around it (Django's atomic() commits when done).
    commits = []
    commit = connection.commit
    monkeypatch.setattr(connection, "commit", lambda: commits.append(1) or commit())
    hashed = phone_hash(PHONE)
    row, code = VerificationCode.issue(phone_hash=hashed, nonce="n1")
    assert VerificationCode.check_code(phone_hash=hashed, nonce="n1", code=code).status == (
        CodeCheck.OK
    )
    assert commits == []
    row.delete()  # the row issue() returns is a saved one (an SMS that failed deletes it)
    assert not VerificationCode.objects.exists()
