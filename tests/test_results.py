"""The results page: turnout while voting, the ranked result after; counts that stay exact."""

import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ballots.models import VoidReason, VoteCount
from ballots.tally import discrepancies, recount, tally
from reforms.models import Reform

from .conftest import cast, text

pytestmark = pytest.mark.django_db


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
    assert "<h2>初步结果" in html and "投票已于" in html
    first = html.index("第1名")
    assert html.index("张店区“四位一体”创新推进社会治理", first) > first
    assert "3票，占60.00%" in html
    assert "并列第2名" in html  # entries 5 and 8: one vote each
    # The twelve entries with none: one short list, not twelve cards tied for 4th place.
    assert "并列第4名" not in html
    assert "未获得选票的经验（12项）" in html
    assert '<rect class="bar-fill" width="100.00"' in html
    assert '<rect class="bar-fill" width="33.33"' in html
    assert "有效选票" in html and "5张" in html  # the voided ballot is not counted


def test_results_page_costs_the_same_whatever_the_ballots(client, poll):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries():
        with CaptureQueriesContext(connection) as captured:
            client.get(f"/results/?n={poll.ballot_count}")  # a query string: never cached
        # The running counts only: no query reads the ballots or their choices.
        assert not [q for q in captured if re.search(r"ballots_(ballot|choice)\b", q["sql"])]
        return len(captured)

    poll.close()
    none = queries()
    type(poll).objects.filter(pk=poll.pk).update(closed_at=None)
    cast(poll, *[[n % 15 + 1] for n in range(300)])
    poll.refresh_from_db()
    poll.close()
    assert queries() == none


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
    cast(poll, [3], [3], [5])
    poll.close()
    html = text(client.get("/en/results/"))
    assert '<html lang="en">' in html
    assert "<h1>Voting results</h1>" in html and "Preliminary result" in html
    assert "No. 1" in html and "2 votes, 66.67%" in html


def test_a_poll_scheduled_next_does_not_hide_the_finished_result(client, poll):
    cast(poll, [3])
    poll.close()
    later = type(poll).objects.create(
        title="第二轮", slug="second", opens_at=timezone.now() + timedelta(days=3)
    )
    later.reforms.set(poll.reforms.all())
    html = text(client.get("/results/"))
    assert "<h2>初步结果" in html and "1票，占100.00%" in html
    assert "第二轮" not in html


def test_withdrawn_entries_keep_their_votes_but_no_link(client, poll):
    cast(poll, [3], [5])
    entry = Reform.objects.get(number=5)
    entry.published = False
    entry.save()
    poll.close()
    html = text(client.get("/results/"))
    assert "1票，占50.00%" in html
    assert 'href="/reforms/5/"' not in html and 'href="/reforms/3/"' in html


def test_a_closed_poll_without_votes_says_so(client, poll):
    poll.close()
    html = text(client.get("/results/"))
    assert "暂无有效选票" in html and "第1名" not in html


@pytest.mark.parametrize(
    ("left", "chinese", "english"),
    [
        ({"days": 2, "hours": 3, "minutes": 30}, "2天3小时30分钟", "2 days 3 hours 30 minutes"),
        ({"days": 1}, "1天", "1 day"),
        ({"hours": 1, "minutes": 1}, "1小时1分钟", "1 hour 1 minute"),
        ({"seconds": 40}, "不足1分钟", "less than a minute"),
    ],
)
def test_time_left_leaves_out_zero_parts(client, poll, left, chinese, english):
    poll.closes_at = timezone.now() + timedelta(**left) + timedelta(seconds=20)
    poll.save()
    assert f"<dd>{chinese}</dd>" in text(client.get("/results/"))
    assert f"<dd>{english}</dd>" in text(client.get("/en/results/"))


def test_check_tally_can_set_the_counts_from_a_recount(poll, capsys):
    cast(poll, [3], [5])
    VoteCount.objects.filter(reform__number=3).update(votes=7)
    call_command("check_tally", "--fix")
    assert "counts agree: 2 ballots" in capsys.readouterr().out
    assert discrepancies(poll) == []


def test_results_without_any_poll(client, db):
    assert "目前没有投票活动" in text(client.get("/results/"))


def test_entries_without_votes_are_listed_apart_not_as_large_tied_cards(client, poll):
    cast(poll, [3], [3], [5], [1], [8])
    poll.close()
    html = text(client.get("/results/"))
    assert html.count('<li class="result">') == 4  # the entries that received votes
    assert "并列第" in html  # 1, 5 and 8 share the second place
    assert "并列第5名" not in html and "0票" not in html
    start = html.index('<section class="unvoted"')
    unvoted = html[start : html.index("</section>", start)]
    assert "未获得选票的经验（11项）" in unvoted
    assert unvoted.count("<li") == 11
    assert "十五、高新区创新快审快判机制，提升案件审判质效" in unvoted
