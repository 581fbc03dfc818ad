"""The results page: turnout while voting, the ranked result after; counts that stay exact."""

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from ballots.models import VoidReason, VoteCount
from ballots.tally import discrepancies, recount, tally

from .test_admin import cast

pytestmark = pytest.mark.django_db


def text(response):
    return response.content.decode("utf-8")


def test_while_open_only_turnout_is_shown(client, poll):
    cast(poll, [3], [3], [5])
    html = text(client.get("/results/"))
    assert "有效选票" in html and "3张" in html
    assert "各项得票情况将在投票结束后公布" in html
    assert "第1名" not in html and "张店区“四位一体”" not in html


def test_time_left_is_shown_when_the_poll_has_a_closing_time(client, poll):
    from datetime import timedelta

    from django.utils import timezone

    poll.closes_at = timezone.now() + timedelta(days=2, hours=3, minutes=30, seconds=20)
    poll.save()
    assert "2天3小时30分钟" in text(client.get("/results/"))


def test_staff_may_show_results_while_voting(client, poll):
    poll.results_visible_while_open = True
    poll.save()
    cast(poll, [3], [3], [5])
    html = text(client.get("/results/"))
    assert "当前得票" in html and "第1名" in html


def test_after_close_the_ranked_result_with_votes_shares_and_bars(client, poll, admin_user):
    cast(poll, [3], [3], [3], [5], [8])
    cast(poll, [1])[0].void(by=admin_user, reason=VoidReason.STUFFING)
    poll.close()
    html = text(client.get("/results/"))
    assert "最终结果" in html and "投票已于" in html
    first = html.index("第1名")
    assert html.index("张店区“四位一体”创新推进社会治理", first) > first
    assert "3票，占60.00%" in html
    assert "并列第2名" in html  # entries 5 and 8: one vote each
    assert "并列第4名" in html  # the twelve entries with none
    assert '<rect class="bar-fill" width="100.00"' in html
    assert '<rect class="bar-fill" width="33.33"' in html
    assert "有效选票" in html and "5张" in html  # the voided ballot is not counted


def test_results_page_reads_a_few_rows_whatever_the_ballots(
    client, poll, django_assert_max_num_queries
):
    poll.close()
    with django_assert_max_num_queries(6):
        client.get("/results/")


def test_running_counts_match_a_recount_after_votes_and_voids(poll, admin_user):
    poll.max_choices = 3
    poll.save()
    ballots = cast(poll, [1, 2, 3], [3], [3, 15], [4])
    ballots[0].void(by=admin_user, reason=VoidReason.TEST_DATA)
    ballots[0].void(by=admin_user, reason=VoidReason.TEST_DATA)  # twice: counted once
    poll.refresh_from_db()
    assert tally(poll) == recount(poll)
    assert discrepancies(poll) == []
    assert poll.ballot_count == 4 and poll.voided_count == 1
    assert recount(poll).votes_by_number()[3] == 2


def test_check_tally_reports_agreement_and_a_planted_mismatch(poll, capsys):
    cast(poll, [3], [5])
    call_command("check_tally")
    assert "counts agree: 2 ballots, 2 votes" in capsys.readouterr().out
    VoteCount.objects.filter(reform__number=3).update(votes=7)
    with pytest.raises(CommandError):
        call_command("check_tally", "--poll", "reform-experiences")
    assert "MISMATCH" in capsys.readouterr().err


def test_results_in_english(client, poll):
    poll.close()
    html = text(client.get("/en/results/"))
    assert '<html lang="en">' in html
    assert "Results" in html


@override_settings(LANGUAGE_CODE="zh-hans")
def test_results_without_any_poll(client, db):
    assert "目前没有投票活动" in text(client.get("/results/"))
