"""The fifteen entries and the poll come from the notice word for word.

Word for word, not mark for mark: the notice as the news site reprinted it uses ASCII commas,
colons, semicolons and brackets; the site writes them in the full-width forms of GB/T 15834, as
the city's own pages do. The tests compare the words (`as_in_notice`) and pin the marks
(`test_titles_and_texts_use_full_width_punctuation`).
"""

import hashlib
import re

import pytest
from django.conf import settings
from django.utils import timezone

from ballots.models import PollStatus
from reforms.models import Reform, chinese_numeral

from .conftest import TITLES

NOTICE = (settings.BASE_DIR / "fixtures" / "notice.txt").read_text(encoding="utf-8")
NOTICE_LINES = NOTICE.splitlines()

# The only marks the site changes: ASCII in the reprint, full-width (GB/T 15834) on the site.
# Decimal points (74.17%), per cent signs and the plus of “互联网+” stay as they are.
FULL_WIDTH = str.maketrans(",;:()", "，；：（）")
ASCII = str.maketrans("，；：（）", ",;:()")


def as_in_notice(text):
    """The text with the reprint's ASCII marks, to compare word for word with the notice."""
    return text.translate(ASCII)


# The unit named in the title; where the title names none, the subject of the first sentence.
UNITS = {
    1: "桓台县",
    2: "淄博市",
    3: "张店区",
    4: "张店区",
    5: "淄川区",
    6: "淄川区",
    7: "周村区",
    8: "临淄区",
    9: "高青县",
    10: "高青县",
    11: "沂源县",
    12: "淄博市",
    13: "淄博市妇联",
    14: "淄博市公安局",
    15: "高新区",
}

PHRASES = {
    1: "构建有机联系、功能互补的“一心三极、两区两网”国土空间开发总体格局",
    2: "全市确定试点村（居）42个，目前正在组织实施的11个，全面完成的3个",
    3: "科学划分为919个网格，“多员合一”遴选网格员",
    7: "共采集流动人口信息24315条，发现并调解处理矛盾纠纷589起",
    11: "农村承包土地的经营权抵押贷款余额达3800万元",
    13: "依托龙头企业、女能手（女状元），结对帮扶上项目",
    14: "由过去“停三次车、进两个厅”压缩为“停一次车、进一个门”",
    15: "共立案2168件，结案1608件，结案率达74.17%，结案数量同比上升44.6%。",
}

# The notice's first paragraph is a news report's: a lead (今日，从……获悉，), the office's
# purpose, and a line introducing the list. The poll's 说明 is the office speaking: the purpose.
NEWS_LEAD = "今日,从淄博市政府官方网站获悉,"
LIST_LEAD = "这15项改革创新经验是:"


def test_notice_is_the_unaltered_source():
    # The copy of the notice is the reference the fixture is checked against; pin it.
    digest = hashlib.sha256(NOTICE.encode("utf-8")).hexdigest()
    assert digest == "8c539937dd044d5af0f284a5fe7ed705a99140a7a1d9145e72b2d744ca7f4665"


@pytest.mark.django_db
def test_fifteen_entries_numbered_one_to_fifteen(poll):
    assert list(Reform.objects.values_list("number", flat=True)) == list(range(1, 16))
    assert [reform.numeral for reform in Reform.objects.all()] == [
        "一", "二", "三", "四", "五", "六", "七", "八", "九", "十",
        "十一", "十二", "十三", "十四", "十五",
    ]  # fmt: skip


@pytest.mark.django_db
def test_titles_and_units_are_as_in_the_notice(poll):
    for reform in Reform.objects.all():
        assert reform.title == TITLES[reform.number]
        assert reform.unit == UNITS[reform.number]
        assert f"{reform.numeral}、{as_in_notice(reform.title)}" in NOTICE_LINES
        assert reform.unit in reform.title or reform.unit in reform.summary


@pytest.mark.django_db
def test_each_body_is_its_paragraph_of_the_notice_word_for_word(poll):
    for reform in Reform.objects.all():
        heading = NOTICE_LINES.index(f"{reform.numeral}、{as_in_notice(reform.title)}")
        assert as_in_notice(reform.body) == NOTICE_LINES[heading + 1]


@pytest.mark.django_db
def test_titles_and_texts_use_full_width_punctuation(poll):
    # GB/T 15834: Chinese text takes the full-width comma, colon, semicolon and brackets.
    texts = [poll.title, poll.intro]
    for reform in Reform.objects.all():
        texts += [reform.title, reform.unit, reform.summary, reform.body]
    for text in texts:
        assert not re.search(r"[,;:()]", text), text
        assert text == as_in_notice(text).translate(FULL_WIDTH)  # nothing else was changed


@pytest.mark.django_db
def test_summary_is_the_first_sentence_of_the_body(poll):
    for reform in Reform.objects.all():
        assert reform.summary.endswith("。")
        assert reform.summary.count("。") == 1
        assert reform.body.startswith(reform.summary)


@pytest.mark.django_db
def test_exact_phrases_survive(poll):
    for number, phrase in PHRASES.items():
        assert phrase in Reform.objects.get(number=number).body


@pytest.mark.django_db
def test_poll_offers_all_fifteen_for_one_choice_and_is_open(poll):
    assert poll.title == "淄博市改革创新经验评选"
    # The office's purpose, in the notice's words, without the news lead or the list's lead.
    assert NOTICE_LINES[0].startswith(NEWS_LEAD) and NOTICE_LINES[0].endswith(LIST_LEAD)
    assert as_in_notice(poll.intro) == NOTICE_LINES[0].removeprefix(NEWS_LEAD).removesuffix(
        LIST_LEAD
    )
    assert poll.intro.startswith("为进一步发挥改革创新经验的示范带动作用，")
    assert poll.intro.endswith("欢迎广大群众积极参加投票评选。")
    assert sorted(poll.reforms.values_list("number", flat=True)) == list(range(1, 16))
    assert poll.max_choices == 1
    assert poll.results_visible_while_open is False
    assert poll.closes_at is None and poll.closed_at is None
    assert poll.opens_at <= timezone.now()
    assert poll.status == PollStatus.OPEN


@pytest.mark.parametrize(
    ("number", "numeral"),
    [(1, "一"), (9, "九"), (10, "十"), (11, "十一"), (15, "十五"), (20, "二十"), (42, "四十二")],
)
def test_chinese_numerals(number, numeral):
    assert chinese_numeral(number) == numeral
