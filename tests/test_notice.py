"""What the site tells citizens before it asks for anything: the rules, the 个人信息保护说明
(PIPL Art. 17: who, why, what is kept, how long, whom to ask), the office's identifiers."""

import re

import pytest
from django.test import override_settings

from .conftest import text

pytestmark = pytest.mark.django_db

OFFICE = {
    "SITE_CONTACT_PHONE": "0533-3181234",
    "SITE_CONTACT_EMAIL": "ggb@zibo.gov.cn",
    "SITE_ICP_RECORD": "鲁ICP备05012345号",
    "SITE_PUBLIC_SECURITY_RECORD": "鲁公网安备37030302000123号",
    "SITE_GOV_ID": "3703000001",
}


def test_the_phone_step_says_who_collects_what_for_what_and_how_long(client, poll):
    html = text(client.get("/verify/"))
    note = html[html.index('<section class="privacy-note"') :]
    assert "淄博市委改革办收集您的手机号码" in note  # who
    assert "仅用于发送短信验证码和确保一人一票" in note  # why
    assert "号码摘要、号段（如1381234****）、上网所在网段和投票时间" in note  # what is kept
    assert "在投票结果确认满30天后一天内删除" in note  # how long
    assert 'href="/privacy/"' in note
    # Before the number is asked for: on the page of the form, not after it was sent.
    assert html.index('name="phone"') < html.index('<section class="privacy-note"')
    # The jargon sentence that was also untrue (ballots keep the 号段 and the network) is gone.
    assert "经不可逆处理" not in html


def test_the_privacy_notice_covers_what_pipl_article_17_asks(client, poll):
    response = client.get("/privacy/")
    assert response.status_code == 200
    html = text(response)
    assert "<h1>个人信息保护说明</h1>" in html
    for part in ["个人信息处理者", "处理目的", "收集和保存的信息", "保存期限", "您的权利"]:
        assert part in html
    for kept in ["号码摘要", "号段", "1381234****", "上网所在网段", "IPv4地址前24位", "投票时间"]:
        assert kept in html
    assert "最终结果）后30天，随后删除" in html
    assert "居民身份证号码" not in html  # this poll asks for none
    assert "请通过淄博市委改革办对外公布的电话与我们联系" in html  # no contact configured


@override_settings(PERSONAL_DATA_RETENTION_DAYS=90, **OFFICE)
def test_the_notice_follows_the_settings_and_the_poll(client, poll):
    poll.require_id_number = True
    poll.save()
    html = text(client.get("/privacy/"))
    assert "后90天，随后删除" in html
    assert "居民身份证号码" in html and "每个居民身份证号码只投一票" in html
    assert '<a href="tel:05333181234">0533-3181234</a>' in html
    assert '<a href="mailto:ggb@zibo.gov.cn">ggb@zibo.gov.cn</a>' in html
    assert "确认满90天后一天内删除" in text(client.get("/verify/"))


def test_the_home_page_states_the_rules(client, poll):
    html = text(client.get("/"))
    rules = html[html.index('<section class="rules"') : html.index("</section>", html.index(
        '<section class="rules"'))]  # fmt: skip
    assert "活动规则" in rules
    assert "截止时间以市委改革办公告为准" in rules  # the period
    assert "每个手机号码限投一票" in rules
    assert "从公示的15项改革创新经验中选择1项" in rules
    assert "提交前可核对，提交后不能更改" in rules
    assert "投票期间只公布有效选票数" in rules and "公布各项得票和名次" in rules
    assert "咨询电话" not in rules  # none configured


def test_the_rules_follow_the_poll(client, poll):
    from datetime import UTC, datetime

    from reforms.models import Reform

    poll.max_choices = 3
    poll.require_id_number = True
    poll.results_visible_while_open = True
    poll.closes_at = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    poll.save()
    Reform.objects.filter(number=7).update(published=False)
    with override_settings(**OFFICE):
        html = text(client.get("/"))
    assert "至2030年1月1日 10:00（北京时间）" in html
    assert "每个手机号码、每个身份证号码限投一票" in html
    assert "从公示的14项改革创新经验中最多选择3项" in html
    assert "投票期间在“结果”栏目公布各项当前得票" in html
    assert "咨询电话：" in html and "0533-3181234" in html


def test_the_footer_shows_the_identifiers_only_when_set(client, poll):
    html = text(client.get("/"))
    footer = html[html.index('<footer class="site-footer">') :]
    assert "网站标识码" not in footer and "ICP" not in footer and "公网安备" not in footer
    assert 'href="/privacy/"' in footer
    with override_settings(**OFFICE):
        footer = text(client.get("/reforms/3/"))
    footer = footer[footer.index('<footer class="site-footer">') :]
    assert "网站标识码：3703000001" in footer
    assert '<a href="https://beian.miit.gov.cn/" lang="zh-Hans">鲁ICP备05012345号</a>' in footer
    assert re.search(
        r'<a href="https://beian\.mps\.gov\.cn/#/query/webSearch\?code=37030302000123" '
        r'lang="zh-Hans">鲁公网安备37030302000123号</a>',
        footer,
    )
    assert "联系电话：" in footer and "ggb@zibo.gov.cn" in footer


def test_the_csrf_page_speaks_to_citizens_who_have_no_account(poll):
    from django.test import Client

    html = text(Client(enforce_csrf_checks=True).post("/verify/", {"phone": "13812345678"}))
    assert "页面已过期" in html
    assert "账户" not in html
    assert "没有产生任何投票" in html
