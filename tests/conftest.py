import io
import os
import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from ballots.models import Ballot, Poll
from verification import limits, sms
from verification.identity import phone_hash
from zibo_vote import cache_breaker, page_cache

IN_CI = os.environ.get("CI") == "true"

# Typed from the notice, one by one, so the fixture is checked against more than itself.
TITLES = {
    1: "编制空间规划，推动“多规合一”",
    2: "积极开展农村集体资产股份制改革试点工作",
    3: "张店区“四位一体”创新推进社会治理",
    4: "张店区试点“时间银行”探索养老新模式",
    5: "淄川区推行“三集中三规范”工作法，构建村级事务管理新模式",
    6: "淄川区建立小微权力清单制度，规范村级权力运行",
    7: "周村区探索实施村（社区）“民警副书记”工程",
    8: "临淄区组建医疗联合体，破解“三级诊疗”难题",
    9: "高青县打造“互联网+农业标准化+检验检测+品牌认证”模式，推进绿色农产品安全标准县建设",
    10: "高青县积极推行“小微文化”建设",
    11: "沂源县全力推动“两权”抵押贷款试点工作有序开展",
    12: "推进移风易俗，弘扬文明新风",
    13: "实施“五大救助行动”，构建关爱困境妇女儿童新格局",
    14: "推出“一窗受理、办结交付”一站式车驾管服务模式",
    15: "高新区创新快审快判机制，提升案件审判质效",
}


def pytest_report_header(config):
    return f"database: {connection.vendor} ({connection.settings_dict['NAME']})"


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are deselected on SQLite, never skipped.

    They prove what only PostgreSQL can show; `.ci/run` runs the suite a second time on
    PostgreSQL, where every one of them runs.
    """
    if connection.vendor == "postgresql":
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


def pytest_sessionfinish(session, exitstatus):
    # In CI nothing may quietly not run: a skip there is a failure.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("CI=true: skipped tests are not allowed here.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _fresh_cache_and_outbox():
    # Rate-limit counters and resend waits live in the cache; each test starts with none.
    cache.clear()
    page_cache.clear_local()  # this worker's own copies of public pages, too
    cache_breaker.shared_cache.reset()  # and no outage remembered from another test
    sms.outbox.clear()
    # A request to an /en/ page leaves English active in this thread (Django activates the
    # language per request and never deactivates it): each test starts in the default one.
    translation.deactivate()
    yield
    sms.outbox.clear()


@pytest.fixture
def poll(db):
    """The fifteen entries and the poll, exactly as a fresh deploy loads them."""
    call_command("load_initial_data", stdout=io.StringIO())
    return Poll.objects.get(slug="reform-experiences")


def last_code(phone):
    """The code in the newest SMS sent to this phone (the locmem backend's outbox)."""
    for message in reversed(sms.outbox):
        if message["phone"] == phone:
            assert re.fullmatch(r"\d{6}", message["code"])
            assert message["code"] in message["text"]
            return message["code"]
    raise AssertionError(f"no SMS was sent to {phone}")


def verify(client, phone="13812345678"):
    """The real flow: ask for a code, read it from the SMS, enter it."""
    response = client.post("/verify/", {"phone": phone})
    assert response.status_code == 302, response.content.decode()  # to the code step
    response = client.post("/verify/", {"code": last_code(phone)})
    assert response.status_code == 302, response.content.decode()
    return response


def resend_wait_passes(phone):
    """The 60 seconds before another code may go to this number have passed."""
    limits.end_resend_wait(phone_hash(phone))


@pytest.fixture
def citizen(client, poll):
    """A client whose session has verified 138 1234 5678."""
    verify(client)
    return client


def text(response):
    """The page as a citizen reads it."""
    return response.content.decode("utf-8")


def cast(poll, *numbers_per_ballot):
    """Ballots straight through the model, one per (made-up) citizen."""
    start = Ballot.objects.count()
    return [
        poll.cast_ballot(citizen_hash=f"citizen-{start + i:08d}".ljust(64, "0"), numbers=numbers)
        for i, numbers in enumerate(numbers_per_ballot)
    ]


@pytest.fixture
def make_staff(django_user_model):
    def make(username, role=None):
        user = django_user_model.objects.create_user(username, password="long-enough-pw-1")
        user.is_staff = True
        user.save()
        if role:
            user.groups.add(Group.objects.get(name=role))
        browser = Client()
        browser.force_login(user)
        browser.user = user
        return browser

    return make


@pytest.fixture
def moderator(make_staff):
    return make_staff("moderator", "改革办审核员")


@pytest.fixture
def statistician(make_staff):
    return make_staff("statistician", "统计导出")


def poll_form(poll, **changes):
    """The admin's poll form as its page posts it, with `changes`."""
    data = {
        "title": poll.title,
        "slug": poll.slug,
        "intro": poll.intro,
        "reforms": list(poll.reforms.values_list("pk", flat=True)),
        "opens_at_0": timezone.localtime(poll.opens_at).strftime("%Y-%m-%d"),
        "opens_at_1": timezone.localtime(poll.opens_at).strftime("%H:%M:%S"),
        "closes_at_0": "",
        "closes_at_1": "",
        "max_choices": poll.max_choices,
        "id_region_prefixes": poll.id_region_prefixes,
    }
    data.update(changes)
    return data


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets a fixture see, at teardown, whether its test failed (the browser tests then keep
    # their screenshots).
    report = yield
    if report.when == "call":
        item.report_call = report
    return report


@pytest.fixture
def compiled(monkeypatch):
    """The queries the ORM compiles from now on (a live list; compiled_models() reads it)."""
    from django.db.models.sql.compiler import SQLCompiler

    return record_calls(monkeypatch, SQLCompiler, "as_sql")


def compiled_models(compiled):
    return [compiler.query.model for compiler, *_rest in compiled]


def record_calls(monkeypatch, owner, name):
    """Each call of owner.name from now on, as the tuple of its arguments (the function still
    runs): how the tests see what a request compiled, rendered or sent."""
    calls = []
    function = getattr(owner, name)

    def recorded(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls
