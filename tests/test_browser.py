"""End to end in a real browser: Debian's Chromium, driven by Selenium through chromedriver,
against the live test server. A citizen reads, verifies, reviews the ballot, votes and sees the
result; staff close the poll in admin; the same on a 360 px phone with JavaScript off; the code
step's resend and Back through every step, with JavaScript on and off; axe-core on every page
state.

Needs /usr/bin/chromium, /usr/bin/chromedriver (Debian packages chromium, chromium-driver) and
axe-core from npm (`npm ci`); `.ci/run` installs all three. Elsewhere these tests skip, with the
reason; under CI=true a skip fails the run.

Each test keeps a screenshot of every step; they are written to test-artifacts/<test>/ when the
test fails. With SCREENSHOT_DIR set, the steps named in GUIDE_SHOTS are written there too
(`make screenshots` does that for docs/voting.md).
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from ballots.models import Ballot
from record.publish import publish_checkpoint
from verification import sms

from .conftest import resend_wait_passes

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = settings.BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = settings.BASE_DIR / "test-artifacts"
# WCAG 2.1 A and AA, and axe's best practices (heading order, landmarks, …) on top.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PHONE = "13812345678"

missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER, AXE) if not p.exists()]
pytestmark = [
    pytest.mark.skipif(bool(missing), reason=f"browser tests need {', '.join(missing)}"),
    # The live server reads committed data. serialized_rollback puts back what migrations
    # created (the staff groups) after each test empties the tables.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

if not missing:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait


class Steps:
    """The screenshots of one test, kept in memory until we know whether it failed."""

    def __init__(self, name):
        self.name = re.sub(r"[^\w.-]+", "_", name)
        self.shots = []

    def take(self, driver, label):
        self.shots.append((f"{len(self.shots):02d}-{label}", driver.get_screenshot_as_png()))

    def write(self, folder):
        folder.mkdir(parents=True, exist_ok=True)
        for label, png in self.shots:
            (folder / f"{label}.png").write_bytes(png)


@pytest.fixture
def steps(request):
    record = Steps(request.node.name)
    yield record
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = ARTIFACTS / record.name
        shutil.rmtree(folder, ignore_errors=True)
        record.write(folder)


@pytest.fixture
def open_browser(tmp_path):
    drivers = []

    def make(width=1280, height=900, javascript=True, mobile=False):
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-quic",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / f'chromium-{len(drivers)}'}",
            f"--window-size={width},{height}",
        ):
            options.add_argument(argument)
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        drivers.append(driver)
        driver.set_script_timeout(30)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        return driver

    yield make
    for driver in drivers:
        driver.quit()


def text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def _wait(driver, condition, seconds=10):
    # Waits out a navigation the last click started (the old page may still be showing).
    try:
        # While a new page replaces the old, reading the old one's nodes fails in several ways.
        WebDriverWait(driver, seconds, ignored_exceptions=[WebDriverException]).until(condition)
    except TimeoutException:
        return False
    return True


def shows(driver, words):
    """Whether the page shows `words`, once it has loaded."""
    return _wait(driver, lambda d: words in text(d))


def arrives(driver, url):
    return _wait(driver, lambda d: d.current_url == url)


def no_horizontal_scroll(driver):
    # Through DevTools, not page JavaScript, so it also holds with JavaScript off.
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    return metrics["cssContentSize"]["width"] <= metrics["cssLayoutViewport"]["clientWidth"]


def axe_violations(driver):
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        "  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        "     nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))"
        "  .catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));",
        AXE_TAGS,
    )
    return result


def small_touch_targets(driver):
    """Links, buttons and fields smaller than 44 px both ways (WCAG 2.5.5), outside running text."""
    return driver.execute_script(
        "return [...document.querySelectorAll('a, button, input, select, summary, label')]"
        "  .filter(e => e.offsetParent !== null && !e.closest('.visually-hidden, .skip-link'))"
        "  .filter(e => !(e.type === 'radio' || e.type === 'checkbox' || e.type === 'hidden'))"
        "  .map(e => [e, e.getBoundingClientRect()])"
        "  .filter(([e, r]) => r.height < 44 && r.width < 44 || r.height < 24)"
        "  .map(([e, r]) => e.outerHTML.slice(0, 80) + ' ' + Math.round(r.width) + 'x'"
        "       + Math.round(r.height));"
    )


def in_viewport(driver, selector):
    """Whether the element is wholly on screen (WebDriver's scripts run with JavaScript off)."""
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;",
        selector,
    )


def tap(driver, element):
    """Click as a thumb would: on the element in mid-screen, not under the ballot's sticky bar
    (WebDriver scrolls an element only just into view). WebDriver's scripts run with page
    JavaScript off too."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def last_code():
    return sms.outbox[-1]["code"]


def verify_and_vote(driver, base, steps, choice=3):
    driver.find_element(By.LINK_TEXT, "参加投票").click()
    assert arrives(driver, f"{base}/verify/?next=/vote/")
    driver.find_element(By.NAME, "phone").send_keys("138 1234 5678")
    steps.take(driver, "verify-phone")
    driver.find_element(By.XPATH, "//button[normalize-space()='获取验证码']").click()
    assert shows(driver, "验证码已发送至 1381234****")
    assert driver.current_url == f"{base}/verify/?next=/vote/"  # a GET of its own
    driver.find_element(By.NAME, "code").send_keys(last_code())
    steps.take(driver, "verify-code")
    driver.find_element(By.XPATH, "//button[normalize-space()='验证并继续']").click()
    assert arrives(driver, f"{base}/vote/")

    # The ballot's button is on screen before any scrolling, below fifteen cards' worth.
    assert in_viewport(driver, ".submit-bar button")
    steps.take(driver, "ballot")
    tap(driver, driver.find_element(By.CSS_SELECTOR, f"label[for='id_choices_{choice - 1}']"))
    # Reading another entry's whole text on the ballot keeps the choice made.
    summary = driver.find_element(By.XPATH, "(//details[@class='choice-more']/summary)[5]")
    assert summary.text.split()[0] == "展开全文"  # then the entry's name, for screen readers
    tap(driver, summary)
    assert "淄川区探索开展村级“三集中三规范”工作法" in text(driver)
    assert summary.text.split()[0] == "收起"
    assert driver.find_element(By.ID, f"id_choices_{choice - 1}").is_selected()
    assert in_viewport(driver, ".submit-bar button")  # still there, scrolled half-way down
    driver.find_element(By.XPATH, "//button[normalize-space()='提交选票']").click()

    # Nothing is cast yet: the review, without JavaScript too.
    assert shows(driver, "请确认您的选择")
    assert Ballot.objects.count() == 0
    steps.take(driver, "review")
    driver.find_element(By.XPATH, "//button[normalize-space()='确认提交']").click()
    assert arrives(driver, f"{base}/vote/done/")
    assert shows(driver, "投票成功")
    steps.take(driver, "receipt")


def log_in_as_moderator(driver, base):
    driver.get(f"{base}/admin/")
    driver.find_element(By.NAME, "username").send_keys("moderator")
    driver.find_element(By.NAME, "password").send_keys("a-long-staff-password")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert arrives(driver, f"{base}/admin/")  # logged in before going on


def close_in_admin(driver, base, poll):
    log_in_as_moderator(driver, base)
    driver.get(f"{base}/admin/ballots/poll/{poll.pk}/change/")
    driver.find_element(By.LINK_TEXT, "结束投票").click()
    assert shows(driver, "结束投票后不能恢复")
    driver.find_element(By.CSS_SELECTOR, "input[value='确定结束投票']").click()
    assert shows(driver, "投票已结束")


@pytest.fixture
def moderator(db):
    user = User.objects.create_user("moderator", password="a-long-staff-password", is_staff=True)
    user.groups.add(Group.objects.get(name="改革办审核员"))
    return user


# The steps docs/voting.md shows, at 360 px.
GUIDE_SHOTS = {"home": "home", "entry": "entry", "verify-phone": "verify-phone",
               "verify-code": "verify-code", "ballot": "ballot", "review": "review",
               "receipt": "receipt", "results": "results"}  # fmt: skip


@pytest.mark.parametrize(
    "device",
    [
        {"width": 1280, "height": 900, "javascript": True},
        {"width": 360, "height": 740, "javascript": False, "mobile": True},
    ],
    ids=["desktop", "phone-360-no-javascript"],
)
def test_a_citizen_reads_verifies_votes_and_sees_the_final_result(
    live_server, poll, moderator, open_browser, steps, device
):
    base = live_server.url
    citizen = open_browser(**device)

    citizen.get(f"{base}/")
    assert len(citizen.find_elements(By.CSS_SELECTOR, "li.entry")) == 15
    assert "投票中" in text(citizen)
    assert no_horizontal_scroll(citizen)
    steps.take(citizen, "home")

    citizen.find_element(By.LINK_TEXT, "张店区“四位一体”创新推进社会治理").click()
    assert arrives(citizen, f"{base}/reforms/3/")
    assert citizen.find_element(By.TAG_NAME, "h1").text == "张店区“四位一体”创新推进社会治理"
    assert "科学划分为919个网格" in text(citizen)
    assert no_horizontal_scroll(citizen)
    steps.take(citizen, "entry")
    citizen.find_element(By.LINK_TEXT, "返回全部改革创新经验").click()

    verify_and_vote(citizen, base, steps)
    ballot = Ballot.objects.get()
    assert ballot.receipt_display in text(citizen)
    assert no_horizontal_scroll(citizen)

    citizen.get(f"{base}/")
    assert "您已投票" in text(citizen)
    citizen.get(f"{base}/vote/")
    assert "您已投票" in text(citizen) and ballot.receipt_display in text(citizen)

    staff = open_browser()
    close_in_admin(staff, base, poll)

    citizen.get(f"{base}/results/")
    assert "初步结果" in text(citizen)
    first = citizen.find_element(By.CSS_SELECTOR, "li.result")
    assert "第1名" in first.text and "张店区“四位一体”创新推进社会治理" in first.text
    assert "1票，占100.00%" in first.text
    assert no_horizontal_scroll(citizen)
    steps.take(citizen, "results")

    target = os.environ.get("SCREENSHOT_DIR")
    if target and device["width"] == 360:
        for label, png in steps.shots:
            name = label.split("-", 1)[1]
            if name in GUIDE_SHOTS:
                (Path(target) / f"{GUIDE_SHOTS[name]}-360.png").write_bytes(png)


PHONE_360 = {"width": 360, "height": 740, "mobile": True}


def is_a_page_of_the_site(driver):
    """Not Chromium's own "Confirm Form Resubmission" page (ERR_CACHE_MISS), nor any error."""
    source = driver.page_source
    return "ERR_" not in source and "淄博市改革创新经验评选" in driver.title


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_citizen_resends_without_retyping_reviews_and_goes_back_without_resubmitting(
    live_server, poll, open_browser, steps, settings, javascript
):
    settings.SMS_RESEND_SECONDS = 6  # the minute's wait, shortened
    base = live_server.url
    phone = open_browser(javascript=javascript, **PHONE_360)

    # 投票 on an entry's page: that entry is ticked once the citizen is through.
    phone.get(f"{base}/reforms/5/")
    tap(phone, phone.find_element(By.LINK_TEXT, "投票给这项经验"))
    assert arrives(phone, f"{base}/verify/?next=/vote/%3Fchoices%3D5")
    phone.find_element(By.NAME, "phone").send_keys(PHONE)
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='获取验证码']"))
    assert shows(phone, "验证码已发送至 1381234****")
    assert phone.current_url == f"{base}/verify/?next=/vote/%3Fchoices%3D5"
    assert phone.find_elements(By.NAME, "phone") == []  # nothing to retype, nothing shown whole
    assert PHONE not in phone.page_source
    resend = phone.find_element(By.XPATH, "//button[normalize-space()='重新获取验证码']")
    if javascript:
        # The wait counts down on the page (static/js/resend.js), the button waits with it.
        assert not resend.is_enabled() and "秒后可重新获取验证码" in text(phone)
        steps.take(phone, "code-step-countdown")
        assert _wait(phone, lambda d: resend.is_enabled(), seconds=15)
        assert "现在可以重新获取验证码，无需再次输入号码" in text(phone)
    else:
        # Too early, without JavaScript: a notice on the code step, not an error.
        assert resend.is_enabled() and "秒后可重新获取验证码" in text(phone)
        tap(phone, resend)
        assert shows(phone, "验证码刚刚已发送，请查收短信")
        notice = phone.find_element(By.CSS_SELECTOR, ".callout")
        assert notice.get_attribute("role") == "status"
        assert phone.find_elements(By.CSS_SELECTOR, ".error-summary, [aria-invalid]") == []
        steps.take(phone, "code-step-notice")
        resend_wait_passes(PHONE)  # the seconds pass

    phone.find_element(By.NAME, "code").send_keys("000000" if last_code() != "000000" else "111111")
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='验证并继续']"))
    assert shows(phone, "还可以再输入4次")
    steps.take(phone, "code-step-wrong")
    # After an error, the resend still needs no retyping (it once came back empty).
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='重新获取验证码']"))
    assert shows(phone, "新的验证码已发送至 1381234****")
    assert len(sms.outbox) == 2
    phone.find_element(By.NAME, "code").send_keys(last_code())
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='验证并继续']"))
    assert arrives(phone, f"{base}/vote/?choices=5")
    assert phone.find_element(By.ID, "id_choices_4").is_selected()

    # Back from the ballot, all the way to the entry: never Chromium's resubmission page,
    # though an error and a resend lie on the way.
    for step in range(8):
        phone.back()
        assert _wait(phone, is_a_page_of_the_site), (step, phone.current_url, phone.title)
        if phone.current_url == f"{base}/reforms/5/":
            break
    assert phone.current_url == f"{base}/reforms/5/"
    phone.get(f"{base}/vote/?choices=5")
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='提交选票']"))
    assert shows(phone, "请确认您的选择")
    assert "淄川区推行“三集中三规范”工作法，构建村级事务管理新模式" in text(phone)
    tap(phone, phone.find_element(By.LINK_TEXT, "返回修改"))
    assert arrives(phone, f"{base}/vote/?choices=5")
    assert phone.find_element(By.ID, "id_choices_4").is_selected()
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='提交选票']"))
    assert shows(phone, "请确认您的选择")
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='确认提交']"))
    assert arrives(phone, f"{base}/vote/done/")
    assert Ballot.objects.get().choices.get().reform.number == 5
    # Back from the receipt: the review again (kept by the browser), not a resubmission.
    phone.back()
    assert _wait(phone, is_a_page_of_the_site), (phone.current_url, phone.title)
    assert Ballot.objects.count() == 1


def test_large_text_and_english_without_javascript(live_server, poll, open_browser, steps):
    base = live_server.url
    phone = open_browser(width=360, height=740, javascript=False, mobile=True)
    phone.get(f"{base}/")
    normal = phone.find_element(By.TAG_NAME, "h1").value_of_css_property("font-size")
    phone.find_element(By.LINK_TEXT, "大字模式").click()
    assert shows(phone, "标准字号")  # the page after the switch, not the one before
    large = phone.find_element(By.TAG_NAME, "h1").value_of_css_property("font-size")
    assert float(large.rstrip("px")) > float(normal.rstrip("px")) * 1.2
    assert no_horizontal_scroll(phone)
    steps.take(phone, "large-text")
    phone.get(f"{base}/reforms/3/")
    assert "标准字号" in text(phone)  # remembered from page to page
    assert no_horizontal_scroll(phone)

    phone.find_element(By.LINK_TEXT, "English").click()
    assert arrives(phone, f"{base}/en/reforms/3/")
    assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Responsible unit" in text(phone)
    assert "张店区“四位一体”创新推进社会治理" in text(phone)  # the entries stay in Chinese
    steps.take(phone, "english")
    phone.find_element(By.LINK_TEXT, "简体中文").click()
    assert arrives(phone, f"{base}/reforms/3/")


def test_admin_and_public_pages_work_under_the_content_security_policy(
    live_server, poll, moderator, tmp_path, steps
):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'csp'}",
    ):
        options.add_argument(argument)  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    base = live_server.url
    try:
        log_in_as_moderator(browser, base)
        blocked = {}
        for path in ["/admin/", f"/admin/ballots/poll/{poll.pk}/change/", "/admin/ballots/ballot/",
                     "/admin/reforms/reform/", "/admin/reforms/reform/3/change/",
                     "/admin/reforms/reform/3/history/", f"/admin/ballots/poll/{poll.pk}/close/",
                     "/", "/reforms/3/", "/verify/", "/results/", "/receipt/",
                     "/record/"]:  # fmt: skip
            browser.get(base + path)
            steps.take(browser, path.strip("/").replace("/", "-") or "home")
            messages = [entry["message"] for entry in browser.get_log("browser")]
            refused = [m for m in messages if "Content Security Policy" in m]
            if refused:
                blocked[path] = refused
        assert blocked == {}
    finally:
        browser.quit()


# The office's contact and registrations, so that the footer and the notices show them too.
OFFICE = {
    "SITE_CONTACT_PHONE": "0533-3181234",
    "SITE_CONTACT_EMAIL": "ggb@zibo.gov.cn",
    "SITE_ICP_RECORD": "鲁ICP备05012345号",
    "SITE_PUBLIC_SECURITY_RECORD": "鲁公网安备37030302000123号",
    "SITE_GOV_ID": "3703000001",
}


def test_no_accessibility_violations_on_any_page(live_server, poll, open_browser, steps, settings):
    for name, value in OFFICE.items():
        setattr(settings, name, value)
    base = live_server.url
    # axe-core runs as page JavaScript; the states only pages without it reach are made below.
    browser = open_browser(**PHONE_360)
    found = {}

    def check(name):
        steps.take(browser, name)
        violations = axe_violations(browser)
        small = small_touch_targets(browser)
        if small:
            violations.append({"id": "touch-target-44px", "nodes": small})
        if violations:
            found[name] = violations

    def press(label):
        tap(browser, browser.find_element(By.XPATH, f"//button[normalize-space()='{label}']"))

    for path, name in [("/", "home-and-rules"), ("/reforms/3/", "entry"),
                       ("/results/", "results-open"), ("/privacy/", "privacy-notice"),
                       ("/en/", "home-english"), ("/en/privacy/", "privacy-notice-english"),
                       ("/no/such/page/", "404")]:  # fmt: skip
        browser.get(base + path)
        check(name)

    browser.get(f"{base}/verify/")
    check("verify-phone")
    browser.find_element(By.NAME, "phone").send_keys("12345")
    press("获取验证码")
    assert shows(browser, "请输入11位中国大陆手机号码")
    check("verify-phone-error")
    browser.find_element(By.NAME, "phone").clear()
    browser.find_element(By.NAME, "phone").send_keys(PHONE)
    press("获取验证码")
    assert shows(browser, "验证码已发送至")
    check("verify-code")  # the countdown, and the button it holds back
    # A tap too early, as without JavaScript (here the button waits for the countdown).
    browser.execute_script("document.querySelector('[data-resend-button]').form.submit();")
    assert shows(browser, "验证码刚刚已发送")
    check("verify-code-resend-notice")
    browser.find_element(By.NAME, "code").send_keys("00000")
    press("验证并继续")
    assert shows(browser, "验证码是6位数字")
    check("verify-code-error")
    browser.find_element(By.NAME, "code").clear()  # it kept what was typed
    browser.find_element(By.NAME, "code").send_keys(
        "000000" if last_code() != "000000" else "1" * 6
    )
    press("验证并继续")
    assert shows(browser, "还可以再输入4次")
    check("verify-code-tries-left")
    browser.find_element(By.NAME, "code").clear()
    browser.find_element(By.NAME, "code").send_keys(last_code())
    press("验证并继续")
    assert arrives(browser, f"{base}/vote/")

    check("ballot")
    press("提交选票")
    assert shows(browser, "请选择一项改革创新经验")
    check("ballot-error")
    tap(browser, browser.find_element(By.CSS_SELECTOR, "label[for='id_choices_2']"))
    tap(browser, browser.find_element(By.XPATH, "(//details[@class='choice-more']/summary)[3]"))
    check("ballot-text-open")
    press("提交选票")
    assert shows(browser, "请确认您的选择")
    check("review")
    press("确认提交")
    assert shows(browser, "投票成功")
    check("receipt")

    receipt = Ballot.objects.get().receipt_display
    browser.get(f"{base}/receipt/")
    check("receipt-check")
    browser.find_element(By.XPATH, "//button[normalize-space()='查询']").click()
    assert shows(browser, "请输入回执编号")
    check("receipt-check-error")
    browser.find_element(By.NAME, "receipt").send_keys(receipt)
    browser.find_element(By.XPATH, "//button[normalize-space()='查询']").click()
    assert shows(browser, "尚未写入公开记录")
    check("receipt-check-pending")
    publish_checkpoint(poll)
    browser.find_element(By.NAME, "receipt").clear()
    browser.find_element(By.NAME, "receipt").send_keys(receipt.lower())
    browser.find_element(By.XPATH, "//button[normalize-space()='查询']").click()
    assert shows(browser, "包含证明已核验通过")
    check("receipt-check-counted")
    browser.get(f"{base}/record/")
    check("record")
    browser.get(f"{base}/record/{poll.slug}/")
    check("record-poll-open")

    poll.close()  # publishes the close's checkpoint (on commit)
    browser.get(f"{base}/verify/")
    check("verify-after-the-close")
    browser.get(f"{base}/results/")
    check("results-preliminary")  # with the entries no one voted for in a list of their own
    poll.certify()  # publishes the certification and builds the package
    browser.get(f"{base}/results/")
    check("results-final")
    browser.get(f"{base}/record/{poll.slug}/")
    assert shows(browser, "公开记录包（zip）")
    check("record-poll-certified")
    browser.get(f"{base}/text-size/?size=large&next=/results/")
    check("results-large-text")

    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)


def test_several_errors_lead_to_their_fields_each_message_once(
    live_server, poll, open_browser, steps
):
    poll.require_id_number = True
    poll.save()
    base = live_server.url
    phone = open_browser(**PHONE_360)
    phone.get(f"{base}/verify/")
    phone.find_element(By.NAME, "phone").send_keys(PHONE)
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='获取验证码']"))
    assert shows(phone, "验证码已发送至")
    phone.find_element(By.NAME, "code").send_keys(last_code())
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='验证并继续']"))
    assert arrives(phone, f"{base}/vote/")
    phone.find_element(By.NAME, "id_number").send_keys("3703")
    tap(phone, phone.find_element(By.XPATH, "//button[normalize-space()='提交选票']"))
    assert shows(phone, "请更正以下问题后重新提交")
    steps.take(phone, "ballot-two-errors")
    links = phone.find_elements(By.CSS_SELECTOR, ".error-summary li a")
    assert [link.get_attribute("href").split("#")[1] for link in links] == [
        "id_choices", "id_id_number"]  # fmt: skip
    # Each message once, beside its field; the box names the fields.
    for message in ["请选择一项改革创新经验。", "请输入18位居民身份证号码"]:
        assert text(phone).count(message) == 1
    # A block, so that a message wrapped onto two lines keeps its bullet on the first one (an
    # inline-block's baseline, where the bullet sits, is its last line).
    assert {link.value_of_css_property("display") for link in links} == {"block"}
    assert axe_violations(phone) == []


def test_large_text_is_as_much_larger_as_the_guide_says(live_server, poll, open_browser):
    """docs/voting.md gives the enlargement of 大字模式; the browser measures it."""
    phone = open_browser(javascript=False, **PHONE_360)
    sizes = {}
    for size in ["normal", "large"]:
        phone.get(f"{live_server.url}/text-size/?size={size}&next=/reforms/3/")
        assert shows(phone, "责任单位")
        body = phone.find_element(By.CSS_SELECTOR, ".reform .body p")
        sizes[size] = float(body.value_of_css_property("font-size").removesuffix("px"))
    percent = round((sizes["large"] / sizes["normal"] - 1) * 100)
    guide = " ".join((settings.BASE_DIR / "docs" / "voting.md").read_text(encoding="utf-8").split())
    stated = re.search(r"body text (\d+) → (\d+) px \(\+(\d+) %\)", guide)
    assert stated, "docs/voting.md states the measured sizes"
    assert [int(n) for n in stated.groups()] == [round(sizes["normal"]), round(sizes["large"]),
                                                 percent]  # fmt: skip


def test_the_ballot_list_fits_1280_px(live_server, poll, moderator, open_browser, steps):
    from ballots.models import VoidReason

    from .conftest import cast

    first, *_ = cast(poll, [1], [4], [5])
    Ballot.objects.update(
        phone_masked="138****1234", network="2408:8214:1a2b:3c4d::/64", ua_family="Chrome Mobile"
    )
    first.void(by=moderator, reason=VoidReason.DUPLICATE_IDENTITY, note="核查")
    base = live_server.url
    driver = open_browser(width=1280, height=900)
    log_in_as_moderator(driver, base)
    driver.get(f"{base}/admin/ballots/ballot/")
    assert shows(driver, "已作废")
    steps.take(driver, "ballots-1280")
    # The admin scrolls a wide table inside its .results box, not the page: measure both.
    widths = driver.execute_script(
        "const box = document.querySelector('#changelist .results');"
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " box.scrollWidth, box.clientWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths


def test_the_history_shows_a_long_text_whole_within_1280_px(
    live_server, poll, moderator, open_browser, steps
):
    from reforms.models import Reform

    entry = Reform.objects.get(number=3)
    more = "今年以来，全区共化解矛盾纠纷1200余件，调解成功率达到96%。" * 4
    last = "补充：群众满意率达到98%，“一站式”调处平台全年受理纠纷1200余件。"
    entry.body = f"{entry.body}\n\n{more}\n\n{last}"
    entry.save()
    base = live_server.url
    driver = open_browser(width=1280, height=900)
    log_in_as_moderator(driver, base)
    driver.get(f"{base}/admin/reforms/reform/{entry.pk}/history/")
    assert shows(driver, last)  # the whole new text, to its last sentence
    steps.take(driver, "history-1280")
    assert no_horizontal_scroll(driver)
    headers = driver.find_elements(By.CSS_SELECTOR, "#change-history th")
    assert [h.text for h in headers] == ["版本", "已发布", "时间", "操作", "修改人", "修改内容"]
    assert all(h.size["height"] < 40 for h in headers)  # one line each
