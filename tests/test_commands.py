"""What the management commands share: how they answer a poll that does not exist."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "command",
    [
        ["close_poll", "no-such"],
        ["export_tally", "--poll", "no-such"],
        ["check_tally", "--poll", "no-such"],
    ],
)
def test_a_poll_that_does_not_exist_is_named_with_the_ones_that_do(poll, command):
    with pytest.raises(CommandError) as refused:
        call_command(*command)
    assert str(refused.value) == "No poll with slug 'no-such' (known: reform-experiences)."
