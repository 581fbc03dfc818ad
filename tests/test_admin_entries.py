"""The reform office edits the entries in admin: votes per entry, publishing, history."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ballots.models import VoidReason
from reforms.models import Reform

from .conftest import cast, text

pytestmark = pytest.mark.django_db


def test_entry_list_shows_votes_with_one_query_for_the_page(moderator, poll):
    cast(poll, [3], [3], [5])

    def load():
        with CaptureQueriesContext(connection) as queries:
            response = moderator.get("/admin/reforms/reform/")
        assert response.status_code == 200
        return response, len(queries)

    response, before = load()
    html = text(response)
    assert re.search(r'field-votes">2<', html)
    cast(poll, *[[n] for n in range(1, 16)] * 3)
    _, after = load()
    assert after == before  # no query per row or per ballot


def test_voided_ballots_leave_the_entry_votes(moderator, poll, admin_user):
    ballot, _ = cast(poll, [3], [3])
    ballot.void(by=admin_user, reason=VoidReason.STUFFING)
    html = text(moderator.get("/admin/reforms/reform/"))
    assert re.search(r'<a href="/admin/reforms/reform/3/change/">[^<]*</a></th>.*?field-votes">1<',
                     html, re.S)  # fmt: skip


def test_unpublish_and_publish_again_from_the_list(moderator, client, poll):
    entry = Reform.objects.get(number=3)
    response = moderator.post(
        "/admin/reforms/reform/",
        {"action": "unpublish", "_selected_action": [entry.pk], "confirm": "1"},
        follow=True,
    )
    assert "已撤回发布1项经验" in text(response)
    assert client.get("/reforms/3/").status_code == 404

    moderator.post("/admin/reforms/reform/", {"action": "publish", "_selected_action": [entry.pk]})
    assert client.get("/reforms/3/").status_code == 200
    assert list(entry.history.values_list("published", flat=True)) == [True, False, True]
    assert list(
        LogEntry.objects.filter(object_id=str(entry.pk)).values_list("change_message", flat=True)
    ) == ["发布", "撤回发布"]


def test_an_edit_is_kept_in_history_and_can_be_restored(
    moderator, client, poll, django_capture_on_commit_callbacks
):
    entry = Reform.objects.get(number=3)
    original = entry.title
    form = {
        "number": 3,
        "title": "改错的标题",
        "unit": entry.unit,
        "summary": entry.summary,
        "body": entry.body,
        "published": "on",
        "order": entry.order,
    }
    assert moderator.post(f"/admin/reforms/reform/{entry.pk}/change/", form).status_code == 302
    assert "改错的标题" in text(client.get("/reforms/3/"))

    history = text(moderator.get(f"/admin/reforms/reform/{entry.pk}/history/"))
    assert "moderator" in history
    assert "载入公示原文" in history

    first = entry.history.earliest()
    restore_url = f"/admin/reforms/reform/{entry.pk}/history/{first.history_id}/"
    assert moderator.get(restore_url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # as the request's commit does
        response = moderator.post(restore_url, {**form, "title": first.title})
    assert response.status_code == 302
    assert Reform.objects.get(number=3).title == original
    assert original in text(client.get("/reforms/3/"))
    assert entry.history.count() == 3


def test_restoring_a_version_needs_the_right_to_change(make_staff, poll, moderator):
    reader = make_staff("reader")
    reader.user.user_permissions.add(Permission.objects.get(codename="view_reform"))
    entry = Reform.objects.get(number=3)
    first = entry.history.earliest()
    url = f"/admin/reforms/reform/{entry.pk}/history/{first.history_id}/"
    assert reader.get(url).status_code == 200  # may look
    form = {"number": 3, "title": "被篡改", "unit": entry.unit, "summary": entry.summary,
            "body": entry.body, "order": entry.order}  # fmt: skip
    assert reader.post(url, form).status_code == 403
    assert Reform.objects.get(number=3).title == entry.title

    assert moderator.post(url, {**form, "title": entry.title, "published": "on"}).status_code == 302
    log = LogEntry.objects.filter(object_id=str(entry.pk)).latest("action_time")
    assert log.get_change_message() == f"从修改记录恢复（版本 #{first.history_id}）"


def test_an_open_polls_entries_cannot_be_deleted(admin_client, poll):
    from django.db.models import ProtectedError

    entry = Reform.objects.get(number=3)  # no ballot chose it: only the freeze protects it
    page = text(admin_client.get(f"/admin/reforms/reform/{entry.pk}/change/"))
    assert f"/admin/reforms/reform/{entry.pk}/delete/" not in page
    asked = admin_client.get(f"/admin/reforms/reform/{entry.pk}/delete/")
    assert asked.status_code == 403
    admin_client.post(f"/admin/reforms/reform/{entry.pk}/delete/", {"post": "yes"})
    listing = admin_client.post(
        "/admin/reforms/reform/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
        follow=True,
    )
    assert "投票中）的参评经验" in text(listing)
    assert "Poll_reforms object" not in text(listing)
    with pytest.raises(ProtectedError, match="投票开始后参评经验不能删除"), transaction.atomic():
        Reform.objects.filter(pk=entry.pk).delete()
    assert Reform.objects.filter(pk=entry.pk).exists()


def test_unpublishing_during_a_live_poll_asks_first_and_the_tally_marks_it(moderator, poll):
    entry = Reform.objects.get(number=3)
    unpublish = {"action": "unpublish", "_selected_action": [entry.pk]}
    asked = text(moderator.post("/admin/reforms/reform/", unpublish))
    assert "确认撤回发布" in asked and entry.title in asked and poll.title in asked
    assert 'name="confirm" value="1"' in asked
    entry.refresh_from_db()
    assert entry.published
    form = text(moderator.get(f"/admin/reforms/reform/{entry.pk}/change/"))
    assert "正在投票" in form  # the change form warns too

    moderator.post("/admin/reforms/reform/", {**unpublish, "confirm": "1"})
    entry.refresh_from_db()
    assert not entry.published
    tally = text(moderator.get(f"/admin/ballots/poll/{poll.pk}/change/"))
    assert f"{entry.title}（已撤下）" in tally
    assert tally.count("（已撤下）") == 1
