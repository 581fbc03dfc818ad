"""SMS backends, and what a citizen sees when sending fails."""

import http.server
import json
import threading
import urllib.parse

import pytest
from django.conf import settings
from django.test import Client, override_settings

from verification import sms
from verification.models import VerificationCode

from .conftest import last_code

PHONE = "13812345678"


class Pigeon:
    """Another gateway, named by dotted path in SMS_BACKEND."""

    sent = []

    def send(self, phone, code, text):
        self.sent.append(phone)


@override_settings(SMS_BACKEND="tests.test_sms.Pigeon")
def test_another_gateway_is_a_class_named_by_its_path():
    sms.send_code(PHONE, "123456", "文本")
    assert Pigeon.sent == [PHONE]


def test_locmem_backend_keeps_an_outbox():
    sms.send_code(PHONE, "123456", "您的验证码是123456")
    assert sms.outbox[-1]["phone"] == PHONE and sms.outbox[-1]["code"] == "123456"


def test_file_backend_appends_one_json_object_per_line(tmp_path):
    inbox = tmp_path / "sms.jsonl"
    with override_settings(SMS_BACKEND="file", SMS_FILE=str(inbox)):
        sms.send_code(PHONE, "123456", "文本一")
        sms.send_code("13987654321", "654321", "文本二")
    lines = [json.loads(line) for line in inbox.read_text(encoding="utf-8").splitlines()]
    assert [set(line) for line in lines] == [{"phone", "code", "text", "sent_at"}] * 2
    assert lines[0]["phone"] == PHONE and lines[0]["code"] == "123456"
    assert lines[1]["text"] == "文本二"


@override_settings(SMS_BACKEND="console")
def test_console_backend_prints_the_code_with_a_masked_number(capsys):
    sms.send_code(PHONE, "123456", "您的验证码是123456")
    printed = capsys.readouterr().err
    assert "1381234****" in printed and "123456" in printed
    assert PHONE not in printed


class AliyunStub(http.server.BaseHTTPRequestHandler):
    """Stands in for dysmsapi.aliyuncs.com on loopback and records what arrives."""

    requests = []
    answer = {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "r1"}

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        type(self).requests.append({"headers": dict(self.headers), "query": query})
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def aliyun():
    AliyunStub.requests = []
    AliyunStub.answer = dict(AliyunStub.answer, Code="OK")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AliyunStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = {
        "ACCESS_KEY_ID": "test-access-key-id",
        "ACCESS_KEY_SECRET": "test-access-key-secret",
        "SIGN_NAME": "淄博改革评选",
        "TEMPLATE_CODE": "SMS_000000001",
        "ENDPOINT": f"127.0.0.1:{server.server_address[1]}",
        "PROTOCOL": "http",
    }
    with override_settings(SMS_BACKEND="aliyun", ALIYUN_SMS=options):
        yield AliyunStub
    server.shutdown()
    server.server_close()


def test_aliyun_backend_sends_a_signed_sendsms_request(aliyun):
    sms.send_code(PHONE, "123456", "ignored: the template holds the text")
    [request] = aliyun.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["x-acs-action"] == "SendSms"
    assert headers["x-acs-version"] == "2017-05-25"
    assert headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=test-access-key-id,")
    assert "Signature=" in headers["authorization"]
    assert "test-access-key-secret" not in json.dumps(request)
    assert request["query"] == {
        "PhoneNumbers": PHONE,
        "SignName": "淄博改革评选",
        "TemplateCode": "SMS_000000001",
        "TemplateParam": '{"code": "123456"}',
    }


def test_aliyun_refusal_raises_sms_error(aliyun):
    aliyun.answer = dict(aliyun.answer, Code="isv.BUSINESS_LIMIT_CONTROL", Message="触发流控")
    with pytest.raises(sms.SmsError, match="BUSINESS_LIMIT_CONTROL"):
        sms.send_code(PHONE, "123456", "")


def test_aliyun_unreachable_raises_sms_error():
    options = {**settings.ALIYUN_SMS, "ENDPOINT": "127.0.0.1:1", "PROTOCOL": "http"}
    options.update(ACCESS_KEY_ID="k", ACCESS_KEY_SECRET="s", SIGN_NAME="s", TEMPLATE_CODE="t")
    with (
        override_settings(SMS_BACKEND="aliyun", ALIYUN_SMS=options),
        pytest.raises(sms.SmsError, match="request failed"),
    ):
        sms.send_code(PHONE, "123456", "")


@pytest.mark.django_db
def test_the_whole_flow_through_the_aliyun_backend(aliyun, poll):
    browser = Client()
    response = browser.post("/verify/", {"phone": PHONE}, follow=True)
    assert "验证码已发送至 <strong>1381234****</strong>" in response.content.decode()
    code = json.loads(aliyun.requests[-1]["query"]["TemplateParam"])["code"]
    assert browser.post("/verify/", {"code": code}).status_code == 302


@pytest.mark.django_db
def test_failed_send_says_try_again_and_leaves_no_usable_code(poll, tmp_path, caplog):
    unwritable = tmp_path / "no-such-directory" / "sms.jsonl"
    browser = Client()
    with override_settings(SMS_BACKEND="file", SMS_FILE=str(unwritable)):
        response = browser.post("/verify/", {"phone": PHONE}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "短信发送失败，请稍后重试" in html
    assert f'value="{PHONE}"' in html  # what the citizen typed is kept
    assert not VerificationCode.objects.exists()
    assert "SMS to 1381234**** failed" in caplog.text
    assert PHONE not in caplog.text
    # The resend wait was released: trying again at once works.
    assert browser.post("/verify/", {"phone": PHONE}).status_code == 302  # to the code step
    assert browser.post("/verify/", {"code": last_code(PHONE)}).status_code == 302
