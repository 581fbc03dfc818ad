"""The fixture is loaded once; what staff change afterwards is never overwritten."""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from ballots.models import Poll
from reforms.models import Reform


def load():
    out = io.StringIO()
    call_command("load_initial_data", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_first_run_loads_fifteen_entries_and_the_poll():
    assert "Loaded 15 entries" in load()
    assert Reform.objects.count() == 15
    assert Poll.objects.get().reforms.count() == 15


@pytest.mark.django_db
def test_later_runs_keep_what_staff_edited():
    load()
    Reform.objects.filter(number=3).update(title="张店区社会治理（已修改）", published=False)
    Poll.objects.update(title="改名后的评选")

    assert "nothing loaded" in load()

    assert Reform.objects.count() == 15
    edited = Reform.objects.get(number=3)
    assert edited.title == "张店区社会治理（已修改）"
    assert edited.published is False
    assert Poll.objects.get().title == "改名后的评选"


@pytest.mark.django_db
def test_staff_can_add_a_poll_after_loading():
    # loaddata writes explicit primary keys; on PostgreSQL the id sequence must move past them.
    load()
    extra = Poll.objects.create(title="第二轮评选", slug="second-round")
    assert extra.pk != Poll.objects.get(slug="reform-experiences").pk


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_hosts_deploying_at_once_load_the_entries_exactly_once():
    start = threading.Barrier(4)
    outputs, errors = [], []

    def deploy():
        try:
            start.wait()
            outputs.append(load())
        except Exception as error:  # the assertion below reports it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deploy) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum("Loaded 15 entries" in output for output in outputs) == 1
    assert Reform.objects.count() == 15
    assert Poll.objects.count() == 1
