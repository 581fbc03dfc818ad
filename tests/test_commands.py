"""What the management commands share: bad arguments are a CommandError in Chinese, never a
traceback, whichever of our commands is given them."""

import re

import pytest
from django.core.management import CommandError, call_command, get_commands

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
OUR_APPS = {"zibo_vote", "reforms", "verification", "ballots", "record"}
OUR_COMMANDS = sorted(name for name, app in get_commands().items() if app in OUR_APPS)
# The options a command cannot run without, so that the option under test is the one refused.
REQUIRED = {"closing_package": ["--output", "closing.zip"]}


def refusal(*command):
    with pytest.raises(CommandError) as refused:
        call_command(*command)
    message = str(refused.value)
    assert CJK.search(message), message
    assert not message.startswith("Error:")
    return message


@pytest.mark.parametrize("command", OUR_COMMANDS)
def test_every_command_refuses_an_unknown_option_in_chinese(poll, command):
    refused = refusal(command, *REQUIRED.get(command, []), "--no-such-option", "x")
    assert "无法识别的参数：--no-such-option" in refused


@pytest.mark.parametrize("command", OUR_COMMANDS)
def test_every_command_refuses_a_bad_verbosity_in_chinese(poll, command):
    assert "-v/--verbosity" in refusal(command, *REQUIRED.get(command, []), "--verbosity", "9")


def test_a_missing_argument_is_named_in_chinese(poll):
    assert refusal("close_poll") == "缺少参数：slug"


@pytest.mark.parametrize(
    "command",
    [
        ["close_poll", "no-such"],
        ["export_tally", "--poll", "no-such"],
        ["check_tally", "--poll", "no-such"],
    ],
)
def test_a_poll_that_does_not_exist_is_named_with_the_ones_that_do(poll, command):
    assert refusal(*command) == "没有英文标识为“no-such”的投票活动（现有：reform-experiences）。"


@pytest.mark.parametrize(
    ("where", "reason"), [("no-such-folder/x.csv", "所在目录不存在"), ("", "这是一个目录")]
)
def test_export_to_a_place_it_cannot_write_says_why(poll, tmp_path, where, reason):
    output = str(tmp_path / where)
    assert refusal("export_tally", "--output", output) == f"无法写入 {output}：{reason}。"


def test_export_without_any_poll_says_so(db):
    assert refusal("export_tally") == "还没有投票活动。"
