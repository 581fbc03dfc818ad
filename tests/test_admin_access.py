"""Who may do what in admin: the roles, permissions on every address, the staff login."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from reforms.models import Reform

from .conftest import cast, poll_form, text

pytestmark = pytest.mark.django_db


def test_admin_speaks_chinese(admin_client, poll):
    html = text(admin_client.get("/admin/"))
    assert "淄博市改革创新经验评选 管理" in html
    assert "改革创新经验" in html and "投票活动" in html and "选票" in html


def test_roles_exist_with_their_permissions(db):
    def perms(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert perms("统计导出") == {"view_poll", "export_tally"}
    assert {"change_reform", "close_poll", "void_ballot", "export_tally"} <= perms("改革办审核员")
    assert "delete_reform" not in perms("改革办审核员")
    assert "change_ballot" not in perms("改革办审核员")


def test_statistician_sees_the_tally_and_exports_only(statistician, poll):
    cast(poll, [3])
    page = statistician.get(f"/admin/ballots/poll/{poll.pk}/change/")
    assert page.status_code == 200
    assert "各项得票" in text(page) and "导出计票结果（CSV）" in text(page)
    assert "结束投票</a>" not in text(page)
    assert statistician.get(f"/admin/ballots/poll/{poll.pk}/export/tally.csv").status_code == 200

    assert statistician.get("/admin/reforms/reform/3/change/").status_code == 403
    assert statistician.get(f"/admin/ballots/poll/{poll.pk}/close/").status_code == 403
    assert statistician.post(f"/admin/ballots/poll/{poll.pk}/close/").status_code == 403
    assert statistician.get("/admin/ballots/ballot/").status_code == 403
    form = poll_form(poll, title="改名")
    assert statistician.post(f"/admin/ballots/poll/{poll.pk}/change/", form).status_code == 403
    statistician.post(
        "/admin/ballots/poll/", {"action": "close_selected", "_selected_action": [poll.pk]}
    )
    first = Reform.objects.get(number=3).history.earliest()
    restore = f"/admin/reforms/reform/{first.id}/history/{first.history_id}/"
    assert statistician.post(restore, {"title": "x"}).status_code == 403
    poll.refresh_from_db()
    assert poll.closed_at is None and poll.title != "改名"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/ballots/poll/abc/close/",
        "/admin/ballots/poll/abc/export/tally.csv",
        "/admin/ballots/poll/999999/close/",
        "/admin/reforms/reform/abc/history/1/",
        "/admin/reforms/reform/3/history/abc/",
        "/admin/reforms/reform/?unit=%00",
        "/admin/reforms/reform/?q=a%00b",
        "/admin/ballots/ballot/?hour=99",
        "/admin/ballots/ballot/?q=%00",
        "/reforms/3/?x=%00",
    ],
)
def test_odd_admin_addresses_never_end_in_a_500(admin_client, poll, path):
    assert admin_client.get(path).status_code in {200, 301, 302, 400, 404}


def test_staff_without_the_permission_cannot_export_even_by_url(make_staff, poll):
    nobody = make_staff("clerk")
    for kind in ("tally", "ballots"):
        assert nobody.get(f"/admin/ballots/poll/{poll.pk}/export/{kind}.csv").status_code == 403


def test_moderator_can_do_the_office_work(moderator, poll):
    assert moderator.get("/admin/reforms/reform/3/change/").status_code == 200
    assert moderator.get(f"/admin/ballots/poll/{poll.pk}/export/tally.csv").status_code == 200
    assert moderator.get(f"/admin/ballots/poll/{poll.pk}/close/").status_code == 200
    assert moderator.get("/admin/reforms/reform/3/delete/").status_code == 403
    assert moderator.get("/admin/ballots/poll/add/").status_code == 403


def login(browser, password):
    return browser.post(
        "/admin/login/?next=/admin/", {"username": "moderator", "password": password}
    )


def test_admin_login_locks_after_five_failures(moderator):
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(4):
        assert login(attacker, "wrong-password").status_code == 200
    assert login(attacker, "wrong-password").status_code == 429  # the fifth failure locks
    locked = login(attacker, "long-enough-pw-1")
    assert locked.status_code == 429
    assert "账号已临时锁定" in text(locked)
    # The lock is on this username from this address: the real user elsewhere still logs in.
    assert login(Client(REMOTE_ADDR="198.51.100.10"), "long-enough-pw-1").status_code == 302


def test_staff_sessions_end_with_the_browser(moderator):
    browser = Client()
    assert login(browser, "long-enough-pw-1").status_code == 302
    assert browser.session.get_expire_at_browser_close()
    assert browser.session.get_expiry_age() <= 9 * 60 * 60


def test_the_login_protection_tables_read_in_chinese(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "登录保护" in index and "登录尝试" in index and "登录记录" in index
    assert "登录失败记录" in index
    assert "Axes" not in index and "Access attempts" not in index and "Access logs" not in index
    from axes.models import AccessAttempt

    AccessAttempt.objects.create(
        username="x", ip_address="192.0.2.1", user_agent="ua", http_accept="*/*",
        path_info="/admin/login/", get_data="", post_data="", failures_since_start=1,
    )  # fmt: skip
    listing = admin_client.get("/admin/axes/accessattempt/").content.decode()
    assert "失败次数" in listing and "Failed Logins" not in listing
