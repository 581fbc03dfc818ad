"""The reform office edits the entries in admin: votes per entry, publishing, history."""

import re
from html import unescape

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from ballots.models import VoidReason
from reforms.models import Reform

from .conftest import cast, record_calls, text

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
    form = entry_form(entry, title="改错的标题")
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
    form = entry_form(entry, title="被篡改")
    assert reader.post(url, form).status_code == 403
    assert Reform.objects.get(number=3).title == entry.title

    assert moderator.post(url, {**form, "title": entry.title}).status_code == 302
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


# The history page (修改记录) as a clerk on day one reads it.


def entry_form(entry, **changes):
    """The entry's change form as its page posts it, with `changes` (published: "on" or absent)."""
    form = {"number": entry.number, "title": entry.title, "unit": entry.unit,
            "summary": entry.summary, "body": entry.body, "order": entry.order}  # fmt: skip
    if entry.published:
        form["published"] = "on"
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def history_table(response):
    """The history table as read on screen: its headers, and each row as {header: text}."""
    table = re.search(r'<table id="change-history".*?</table>', text(response), re.S).group()

    def cells(row, tag):
        found = re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", row, re.S)
        return [unescape(" ".join(re.sub(r"<[^>]+>", " ", cell).split())) for cell in found]

    rows = re.findall(r"<tr\b[^>]*>(.*?)</tr>", table, re.S)
    headers = cells(rows[0], "th")
    return table, headers, [dict(zip(headers, cells(row, "td"), strict=True)) for row in rows[1:]]


def breadcrumbs(response):
    found = re.search(r'<div class="breadcrumbs">(.*?)</div>', text(response), re.S).group(1)
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", found).split()))


def change_url(entry):
    return reverse("admin:reforms_reform_change", args=[entry.pk])


def history_url(entry):
    return reverse("admin:reforms_reform_history", args=[entry.pk])


def version_url(entry, record):
    return reverse("admin:reforms_reform_simple_history", args=[entry.pk, record.history_id])


def test_the_history_page_reads_in_chinese(moderator, poll):
    entry = Reform.objects.get(number=3)
    form = entry_form(entry, title="改错的标题", published=None)
    assert moderator.post(change_url(entry), form).status_code == 302

    response = moderator.get(history_url(entry))
    assert response.status_code == 200
    table, headers, rows = history_table(response)
    assert headers == ["版本", "已发布", "时间", "操作", "修改人", "修改内容"]
    shown = " ".join([*headers, *(cell for row in rows for cell in row.values())])
    for english in ("PUBLISHED", "Published", "CHANGES", "Changes", "True", "False", "None"):
        assert english not in shown
    assert "chars]" not in table
    edit, loaded = rows
    assert edit["已发布"] == "否" and loaded["已发布"] == "是"
    assert edit["操作"] == "已修改" and edit["修改人"] == "moderator"
    assert loaded["操作"] == "已创建（载入公示原文）"
    assert "改前： 是 改后： 否" in edit["修改内容"]
    assert "改前： 张店区“四位一体”创新推进社会治理 改后： 改错的标题" in edit["修改内容"]
    assert "修改记录：三、改错的标题" in text(response)  # the heading


def test_the_history_shows_a_long_text_in_full_and_escaped(moderator, poll):
    entry = Reform.objects.get(number=3)
    paragraph = "今年以来，全区共化解矛盾纠纷1200余件，调解成功率达到96%。"
    long_body = f"{entry.body}\n\n{paragraph * 3}"
    assert len(long_body) > 300
    moderator.post(change_url(entry), entry_form(entry, body=long_body))
    new_body = long_body + "\n\n补充：<b>群众满意率</b>达到98%。"
    assert moderator.post(change_url(entry), entry_form(entry, body=new_body)).status_code == 302

    table, _, rows = history_table(moderator.get(history_url(entry)))
    old = " ".join(long_body.split())
    assert rows[0]["修改内容"] == f"正文 改前： {old} 改后： {old} 补充：<b>群众满意率</b>达到98%。"
    assert "chars]" not in table
    assert "&lt;b&gt;群众满意率&lt;/b&gt;" in table and "<b>" not in table


def test_the_history_breadcrumb_names_the_entry_and_its_history(moderator, poll):
    entry = Reform.objects.get(number=3)
    trail = f"首页 › 改革创新经验 › 改革创新经验 › {entry} › 修改记录"  # as on the entry's own page
    assert breadcrumbs(moderator.get(history_url(entry))) == trail

    first = entry.history.earliest()
    response = moderator.get(version_url(entry, first))
    assert breadcrumbs(response) == f"{trail} › 版本 #{first.history_id}"
    html = text(response)
    assert "Historical" not in html and "Reforms" not in html
    assert f"<h1>版本 #{first.history_id}：{entry}</h1>" in html
    assert 'value="恢复此版本"' in html
    for english in ("Revert", "还原", "History"):
        assert english not in html


def test_a_restore_shows_as_a_restore_in_the_history(moderator, poll):
    entry = Reform.objects.get(number=3)
    moderator.post(change_url(entry), entry_form(entry, title="改错的标题"))
    moderator.post(change_url(entry), entry_form(entry, title="又改错的标题"))
    first = entry.history.earliest()
    assert moderator.post(version_url(entry, first), entry_form(entry)).status_code == 302

    _, _, rows = history_table(moderator.get(history_url(entry)))
    assert [row["操作"] for row in rows] == [
        f"恢复（自版本 #{first.history_id}）",
        "已修改",
        "已修改",
        "已创建（载入公示原文）",
    ]
    assert "改后： 张店区“四位一体”创新推进社会治理" in rows[0]["修改内容"]
    restored = entry.history.latest()
    assert rows[0]["版本"] == f"#{restored.history_id}"


def test_the_history_page_in_english(moderator, poll):
    entry = Reform.objects.get(number=3)
    moderator.post(change_url(entry), entry_form(entry, published=None))
    first = entry.history.earliest()
    moderator.post(version_url(entry, first), entry_form(entry))
    # The admin is in the site's default language; an English default shows its translation.
    # translation.override puts back the language active before, whatever the request set.
    with override_settings(LANGUAGE_CODE="en"), translation.override("en"):
        response = moderator.get(history_url(entry))
        version = text(moderator.get(version_url(entry, first)))
    _, headers, rows = history_table(response)
    assert headers == ["Version", "Published", "Time", "Action", "Changed by", "Changes"]
    assert [row["Action"] for row in rows] == [
        f"Restored (from version #{first.history_id})",
        "Changed",
        "Created (载入公示原文)",
    ]
    assert "Before: No After: Yes" in rows[0]["Changes"]
    assert f"History: {entry}" in text(response)
    assert "History" in text(response) and "修改记录" not in text(response)
    assert 'value="Restore this version"' in version
    assert f"Version #{first.history_id}" in version and "修改记录" not in version


def test_the_history_names_the_staff_member_and_public_pages_do_without_it(
    moderator, client, poll, monkeypatch
):
    import simple_history.middleware

    entered = record_calls(monkeypatch, simple_history.middleware, "_context_manager")
    assert "获取验证码" in text(client.get("/verify/"))
    assert client.get("/reforms/3/").status_code == 200
    assert entered == []  # no public page changes an entry, so none needs the request kept

    entry = Reform.objects.get(number=3)
    form = entry_form(entry, title="改错的标题")
    assert moderator.post(f"/admin/reforms/reform/{entry.pk}/change/", form).status_code == 302
    assert len(entered) == 1
    assert entry.history.latest().history_user.username == "moderator"
