"""A verified citizen casts one ballot; every bad input gets a clear answer and changes nothing."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from ballots.models import Ballot, Choice, PollNotOpen
from reforms.models import Reform
from verification.identity import id_number_hash, phone_hash

from .conftest import last_code, resend_wait_passes, text, verify

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


def test_ballot_offers_the_published_entries_as_radio_buttons(citizen):
    html = text(citizen.get("/vote/"))
    assert html.count('type="radio" name="choices"') == 15
    for number in range(1, 16):
        assert f'name="choices" value="{number}"' in html
    assert "淄博市公安局" in html
    assert "推出“一窗受理、办结交付”一站式车驾管服务模式" in html
    # Each entry's whole text opens on the ballot itself, so choices are never left behind.
    assert "<details" in html and "办事效率平均提高3倍" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_vote_is_recorded_with_a_receipt(citizen, poll):
    response = citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/vote/done/"

    ballot = Ballot.objects.get()
    assert ballot.poll == poll
    assert ballot.citizen_hash == phone_hash(PHONE)
    assert ballot.network == "127.0.0.0/24"
    assert len(ballot.receipt) == 12
    assert set(ballot.receipt) <= set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    assert [choice.reform.number for choice in ballot.choices.all()] == [3]

    html = text(citizen.get("/vote/done/"))
    assert "投票成功" in html
    assert ballot.receipt_display in html
    assert "张店区“四位一体”创新推进社会治理" in html


def test_second_ballot_for_same_citizen_is_refused(citizen, poll):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    receipt = Ballot.objects.get().receipt_display

    response = citizen.post("/vote/", {"choices": "5", "confirm": "1"})

    assert response.status_code == 409
    assert "您已投票" in text(response)
    assert receipt in text(response)
    assert Ballot.objects.count() == 1
    assert list(Choice.objects.values_list("reform__number", flat=True)) == [3]


def test_same_phone_verified_again_elsewhere_cannot_vote_twice(citizen, poll):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    resend_wait_passes(PHONE)  # a minute later
    other_phone_browser = Client()
    verify(other_phone_browser, PHONE)
    response = other_phone_browser.get("/vote/")
    assert "您已投票" in text(response)
    response = other_phone_browser.post("/vote/", {"choices": "4", "confirm": "1"})
    assert response.status_code == 409
    assert Ballot.objects.count() == 1


def test_returning_citizen_sees_that_they_voted(citizen, poll):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    assert "您已投票" in text(citizen.get("/vote/"))
    home = text(citizen.get("/"))
    assert "您已投票" in home
    assert 'href="/vote/done/"' in home


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ([], "请选择一项改革创新经验。"),  # one to choose: not "至少"
        (["3", "5"], "每张选票最多选择1项，您选择了2项"),
        (["16"], "所选经验不在本次评选范围内"),
        (["0"], "所选经验不在本次评选范围内"),
        (["abc"], "所选经验不在本次评选范围内"),
        (["3", "3"], "同一项经验只能选择一次"),
    ],
)
def test_bad_ballot_gets_a_message_and_changes_nothing(citizen, poll, choices, message):
    response = citizen.post("/vote/", {"choices": choices, "confirm": "1"})
    html = text(response)
    assert response.status_code == 200
    assert message in html
    # Once, beside the choices: no summary box repeating it above them.
    assert html.count(message) == 1
    assert "请更正以下问题" not in html
    assert "<title>错误：" in html
    assert Ballot.objects.count() == 0


def test_a_ballot_choosing_several_says_at_least_one_when_none_is_chosen(citizen, poll):
    poll.max_choices = 3
    poll.save()
    html = text(citizen.post("/vote/", {"confirm": "1"}))
    assert "请至少选择一项改革创新经验" in html


def test_a_ballot_without_confirm_shows_the_review_and_casts_nothing(citizen, poll):
    response = citizen.post("/vote/", {"choices": "3"})
    html = text(response)
    assert response.status_code == 200
    assert "请确认您的选择" in html
    assert "张店区“四位一体”创新推进社会治理" in html
    assert "选票提交后不能更改" in html
    assert '<input type="hidden" name="choices" value="3">' in html
    assert '<input type="hidden" name="confirm" value="1">' in html
    assert ">确认提交</button>" in html
    assert 'href="/vote/?choices=3">返回修改</a>' in html
    assert Ballot.objects.count() == 0
    # 返回修改: the ballot again, with the choice still ticked.
    ballot = text(citizen.get("/vote/?choices=3"))
    assert re.search(r'name="choices" value="3" id="id_choices_2" checked', ballot)
    assert ballot.count(" checked") == 1


def test_the_review_lists_every_choice_and_carries_the_id_number(citizen, poll):
    poll.max_choices = 3
    poll.require_id_number = True
    poll.save()
    html = text(citizen.post("/vote/", {"choices": ["8", "1"], "id_number": "370303198506120030"}))
    assert html.index("编制空间规划") < html.index("临淄区组建医疗联合体")
    assert "370303198506120030" in html
    assert 'href="/vote/?choices=1&amp;choices=8">返回修改</a>' in html
    hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html)
    assert ("id_number", "370303198506120030") in hidden
    assert Ballot.objects.count() == 0


def test_the_review_of_someone_who_voted_says_so(citizen, poll):
    citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    response = citizen.post("/vote/", {"choices": "5"})
    assert response.status_code == 409 and "您已投票" in text(response)


def test_a_bad_ballot_is_answered_before_the_review(citizen, poll):
    html = text(citizen.post("/vote/", {"choices": "16"}))
    assert "所选经验不在本次评选范围内" in html and "请确认您的选择" not in html


def test_vote_on_an_entry_page_preselects_it_through_verification(client, poll):
    page = text(client.get("/reforms/3/"))
    assert 'href="/vote/?choices=3">投票给这项经验</a>' in page
    response = client.get("/vote/?choices=3")
    assert response["Location"] == "/verify/?next=/vote/%3Fchoices%3D3"
    client.post("/verify/", {"phone": PHONE, "next": "/vote/?choices=3"})
    response = client.post("/verify/", {"code": last_code(PHONE), "next": "/vote/?choices=3"})
    assert response["Location"] == "/vote/?choices=3"
    html = text(client.get(response["Location"]))
    assert re.search(r'name="choices" value="3" id="id_choices_2" checked', html)


def test_entry_pages_offer_no_vote_when_the_poll_is_closed(client, poll):
    poll.close()
    assert "投票给这项经验" not in text(client.get("/reforms/3/"))


def test_unpublished_entry_cannot_be_chosen(citizen, poll):
    Reform.objects.filter(number=7).update(published=False)
    html = text(citizen.get("/vote/"))
    assert 'value="7"' not in html
    response = citizen.post("/vote/", {"choices": "7", "confirm": "1"})
    assert "所选经验不在本次评选范围内" in text(response)
    assert Ballot.objects.count() == 0


def test_entry_not_offered_by_the_poll_cannot_be_chosen(citizen, poll):
    poll.reforms.remove(Reform.objects.get(number=9))
    response = citizen.post("/vote/", {"choices": "9", "confirm": "1"})
    assert "所选经验不在本次评选范围内" in text(response)
    assert Ballot.objects.count() == 0


def test_selection_is_kept_when_the_ballot_is_refused(citizen, poll):
    poll.max_choices = 2
    poll.save()
    html = text(citizen.post("/vote/", {"choices": ["2", "4", "6"], "confirm": "1"}))
    assert "最多选择2项，您选择了3项" in html
    checked = re.findall(r'<input type="checkbox" name="choices" value="(\d+)"[^>]* checked', html)
    assert checked == ["2", "4", "6"]


def test_several_choices_when_the_poll_allows_them(citizen, poll):
    poll.max_choices = 3
    poll.save()
    html = text(citizen.get("/vote/"))
    assert html.count('type="checkbox" name="choices"') == 15
    response = citizen.post("/vote/", {"choices": ["1", "8", "15"], "confirm": "1"})
    assert response.status_code == 302
    numbers = Choice.objects.values_list("reform__number", flat=True)
    assert sorted(numbers) == [1, 8, 15]


def test_closed_poll_refuses_ballots(citizen, poll):
    poll.close()
    assert "投票已结束" in text(citizen.get("/vote/"))
    response = citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    assert "投票已结束" in text(response)
    assert Ballot.objects.count() == 0


def test_poll_past_its_closing_time_refuses_ballots(citizen, poll):
    poll.closes_at = timezone.now() - timedelta(seconds=1)
    poll.opens_at = poll.closes_at - timedelta(days=1)
    poll.save()
    response = citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    assert "投票已结束" in text(response)
    assert Ballot.objects.count() == 0


def test_poll_not_yet_open_refuses_ballots(citizen, poll):
    poll.opens_at = timezone.now() + timedelta(hours=1)
    poll.save()
    response = citizen.post("/vote/", {"choices": "3", "confirm": "1"})
    assert "投票尚未开始" in text(response)
    assert Ballot.objects.count() == 0


def test_cast_ballot_checks_the_poll_under_its_lock(poll):
    poll.close()
    stale = type(poll).objects.get(pk=poll.pk)
    stale.closed_at = None  # a copy loaded before the close
    with pytest.raises(PollNotOpen):
        stale.cast_ballot(citizen_hash="x" * 64, numbers=[1])
    assert Ballot.objects.count() == 0


def test_closing_is_final_and_recorded(poll, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="x")
    assert poll.close(by=staff) is True
    closed_at = poll.closed_at
    assert poll.close() is False
    poll.refresh_from_db()
    assert poll.closed_at == closed_at
    assert poll.closed_by == staff


def test_close_poll_command(poll):
    out = io.StringIO()
    call_command("close_poll", "reform-experiences", stdout=out)
    assert "Closed reform-experiences" in out.getvalue()
    poll.refresh_from_db()
    assert poll.closed_at is not None
    out = io.StringIO()
    call_command("close_poll", "reform-experiences", stdout=out)
    assert "already closed" in out.getvalue()


def test_close_poll_command_names_unknown_slugs(poll):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="reform-experiences"):
        call_command("close_poll", "no-such-poll")


def test_missing_csrf_token_on_the_ballot_is_refused(poll):
    browser = Client(enforce_csrf_checks=True)
    verify_response = browser.get("/verify/")
    token = verify_response.cookies["csrftoken"].value
    browser.post("/verify/", {"phone": PHONE, "csrfmiddlewaretoken": token})
    browser.post("/verify/", {"code": last_code(PHONE), "csrfmiddlewaretoken": token})
    assert browser.get("/vote/").status_code == 200
    response = browser.post("/vote/", {"choices": "3", "confirm": "1"})
    assert response.status_code == 403
    assert "页面已过期" in text(response)
    assert Ballot.objects.count() == 0


class TestIdNumber:
    @pytest.fixture
    def id_poll(self, poll):
        poll.require_id_number = True
        poll.id_region_prefixes = "3703"
        poll.save()
        return poll

    def test_ballot_asks_for_the_id_number(self, citizen, id_poll):
        assert 'name="id_number"' in text(citizen.get("/vote/"))

    @pytest.mark.parametrize(
        ("id_number", "message"),
        [
            ("", "请输入居民身份证号码"),
            ("370303198506120031", "校验位不正确"),
            ("11010519491231002X", "身份证号码须以 3703 开头"),
            ("37030319850612", "18位"),
        ],
    )
    def test_bad_id_number_gets_a_message_and_changes_nothing(
        self, citizen, id_poll, id_number, message
    ):
        response = citizen.post("/vote/", {"choices": "3", "id_number": id_number, "confirm": "1"})
        html = text(response)
        assert message in html
        assert "checked" in html  # the choice survives
        assert Ballot.objects.count() == 0

    def test_valid_id_number_is_kept_as_a_hash(self, citizen, id_poll):
        response = citizen.post(
            "/vote/", {"choices": "3", "id_number": "370303198506120030", "confirm": "1"}
        )
        assert response.status_code == 302
        assert Ballot.objects.get().id_number_hash == id_number_hash("370303198506120030")

    def test_one_ballot_per_id_number(self, citizen, id_poll):
        citizen.post("/vote/", {"choices": "3", "id_number": "370303198506120030", "confirm": "1"})
        other = Client()
        verify(other, "13987654321")
        response = other.post(
            "/vote/", {"choices": "4", "id_number": "370303198506120030", "confirm": "1"}
        )
        html = text(response)
        assert "该身份证号码已参加过本次投票" in html
        # Someone who only knows the ID number learns nothing of that ballot.
        assert Ballot.objects.get().receipt_display not in html
        assert Ballot.objects.count() == 1

    def test_one_id_number_in_three_spellings_is_one_ballot(self, citizen, id_poll):
        # The number as typed on a PC, with a Chinese input method, and in two scripts whose
        # digits look like digits (Arabic-Indic, Devanagari): one person, one ballot.
        ascii_digits = "370303199003071235"
        response = citizen.post(
            "/vote/", {"choices": "3", "id_number": ascii_digits, "confirm": "1"}
        )
        assert response.status_code == 302
        full_width = ascii_digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        other = Client()
        verify(other, "13987654321")
        response = other.post("/vote/", {"choices": "4", "id_number": full_width, "confirm": "1"})
        assert "该身份证号码已参加过本次投票" in text(response)
        for n, spelling in enumerate(["3703٠٣١٩٩٠٠٣٠٧١٢٣5", "3703०३१९९००३०७१२३5"]):
            browser = Client()
            verify(browser, f"1370000000{n}")
            response = browser.post(
                "/vote/", {"choices": "5", "id_number": spelling, "confirm": "1"}
            )
            html = text(response)
            assert response.status_code == 200
            assert "请输入18位居民身份证号码" in html
            assert f'value="{spelling}"' in html
        assert Ballot.objects.count() == 1


def test_a_ballot_sent_without_a_choice_marks_its_boxes_invalid_and_keeps_nothing_ticked(citizen):
    html = text(citizen.post("/vote/", {"choices": []}))
    assert html.count('aria-invalid="true"') >= 15
    assert " checked" not in html
    assert Ballot.objects.count() == 0
    # A fresh ballot carries no such mark.
    assert 'aria-invalid="true"' not in text(citizen.get("/vote/"))
