from __future__ import annotations

import dataclasses

import pytest

from bot.commands import (
    HELP_TEXT,
    MAX_NOTE_LENGTH,
    Approve,
    Balance,
    Cancel,
    Command,
    Deny,
    Help,
    Paid,
    Plans,
    Requests,
    ShowPolicy,
    Status,
    Subscribe,
    Topup,
    help_text,
    parse_command,
)
from bot.errors import InvalidInput

PARSED: list[tuple[str, Command]] = [
    # top-ups, every amount form and the alias
    ("topup 50", Topup(5000, "")),
    ("/topup 50", Topup(5000, "")),
    ("/topup@AcmeBot 25", Topup(2500, "")),
    ("/TopUp@AcmeBot 25 GPU batch", Topup(2500, "GPU batch")),
    ("TOPUP 50.5", Topup(5050, "")),
    ("topup 50 GPU batch for Q3", Topup(5000, "GPU batch for Q3")),
    ("topup 50.50 for Q3", Topup(5050, "for Q3")),
    ("topup $50 note", Topup(5000, "note")),
    ("topup $ 50 note", Topup(5000, "note")),
    ("topup 50 usd note", Topup(5000, "note")),
    ("topup 50USD note", Topup(5000, "note")),
    ("topup USD 50 note", Topup(5000, "note")),
    ("topup 50$ note", Topup(5000, "note")),
    ("topup 50 dollars", Topup(5000, "")),
    ("fund 75", Topup(7500, "")),
    ("/fund@AcmeBot 75 ads", Topup(7500, "ads")),
    ("  topup   50   spaced  out  ", Topup(5000, "spaced  out")),
    ("topup 50 line one\nline two", Topup(5000, "line one line two")),
    ("topup 50 a\x00b\x1bc\u202ed", Topup(5000, "abcd")),
    ("topup 50 café ☕ 🚀", Topup(5000, "café ☕ 🚀")),
    # subscriptions: a plan id, then the note
    ("subscribe 10", Subscribe("10", "")),
    ("/subscribe@AcmeBot 10", Subscribe("10", "")),
    ("subscribe #10", Subscribe("10", "")),
    ("subscribe 10 for the video team", Subscribe("10", "for the video team")),
    ("subscribe 10 video team", Subscribe("10", "video team")),
    # subscriptions: a plan name, up to "for" or "--"
    ("subscribe Pro", Subscribe("Pro", "")),
    ("subscribe Pro Team", Subscribe("Pro Team", "")),
    ("subscribe Pro   Team", Subscribe("Pro Team", "")),
    ("subscribe Pro Team for Q3", Subscribe("Pro Team", "for Q3")),
    ("subscribe Pro FOR Q3", Subscribe("Pro", "FOR Q3")),
    ("subscribe Pro -- Q3 budget", Subscribe("Pro", "Q3 budget")),
    ("subscribe Pro — Q3", Subscribe("Pro", "Q3")),
    ("subscribe Pro for", Subscribe("Pro", "for")),
    ("subscribe Forge Plan", Subscribe("Forge Plan", "")),
    ("subscribe Pro-Max", Subscribe("Pro-Max", "")),
    # subscriptions: a quoted plan name
    ('subscribe "Pro for Teams" -- Q3', Subscribe("Pro for Teams", "Q3")),
    ('subscribe "Pro for Teams" for Q3', Subscribe("Pro for Teams", "for Q3")),
    ("subscribe “Pro for Teams”", Subscribe("Pro for Teams", "")),
    # commands without arguments
    ("plans", Plans()),
    ("/plans@AcmeBot", Plans()),
    ("PLANS", Plans()),
    ("balance", Balance()),
    ("/balance", Balance()),
    ("requests", Requests()),
    ("/requests@AcmeBot", Requests()),
    # commands on one request
    ("status 12", Status(12)),
    ("status #12", Status(12)),
    ("/status@AcmeBot #12", Status(12)),
    ("approve 12", Approve(12)),
    ("/Approve #7", Approve(7)),
    ("deny 12", Deny(12, "")),
    ("deny #12 over budget", Deny(12, "over budget")),
    ("/deny@AcmeBot 12 duplicate of #11", Deny(12, "duplicate of #11")),
    ("cancel 12", Cancel(12)),
    ("cancel #3", Cancel(3)),
    # paid
    ("paid 12", Paid(request_id=12)),
    ("paid #12", Paid(request_id=12)),
    ("/paid@AcmeBot 12", Paid(request_id=12)),
    ("paid cs_test_a1B2c3D4", Paid(session_id="cs_test_a1B2c3D4")),
    ("paid cs_live_a1B2c3D4e5", Paid(session_id="cs_live_a1B2c3D4e5")),
    # the team's rules
    ("policy", ShowPolicy()),
    ("/policy@AcmeBot", ShowPolicy()),
    ("POLICY", ShowPolicy()),
    ("/paybot policy", ShowPolicy()),
    ("help policy", Help("policy")),
    # help
    ("help", Help()),
    ("/help", Help()),
    ("HELP", Help()),
    ("start", Help()),
    ("/start@AcmeBot", Help()),
    ("/start invite-code", Help()),
    ("help topup", Help("topup")),
    ("help /fund", Help("topup")),
    ("help start", Help("help")),
    # the Slack umbrella command
    ("paybot topup 50", Topup(5000, "")),
    ("/paybot status #4", Status(4)),
    ("/paybot", Help()),
]


@pytest.mark.parametrize(("text", "command"), PARSED)
def test_parse(text: str, command: Command) -> None:
    assert parse_command(text) == command


REFUSED = [
    # nothing, or an unknown word
    ("", "Type a command, like `topup 50`"),
    ("   ", "Type a command"),
    ("foo", "Unknown command `foo`. Try `help` for the list."),
    ("/Foo@AcmeBot 12", "Unknown command `foo`."),
    ("top-up 50", "Unknown command `top-up`."),
    ("@AcmeBot", "Type a command"),
    ("help foo", "Unknown command `foo`."),
    ("paybot paybot", "Unknown command `paybot`."),
    ("policy now", "`policy` takes nothing after it; type just `policy`."),
    # top-ups
    ("topup", "Say how much to top up. Usage: topup AMOUNT [note]"),
    ("topup abc", "That is not an amount."),
    ("topup 0", "more than zero"),
    ("topup -5", "must be positive"),
    ("topup 10.005", "at most two decimals"),
    ("topup 1e3", "plain digits"),
    ("topup NaN", "not an amount"),
    ("topup 1,000", "thousands separators"),
    ("topup 1 000", "thousands separators"),
    ("topup 12 100 GPUs", "thousands separators"),
    ("topup 50 EUR", "US dollars"),
    ("topup 50 eur for the trip", "US dollars"),
    ("topup €50", "US dollars"),
    ("topup € 50", "US dollars"),
    ("topup +5", "without a sign"),
    ("topup 50 " + "x" * (MAX_NOTE_LENGTH + 1), "keep it to 300 or fewer"),
    # subscriptions
    ("subscribe", "Say which plan"),
    ("subscribe -- Q3", "Say which plan"),
    ("subscribe for the team", "Say which plan"),
    ('subscribe "Pro for Teams', "Close the quotes"),
    ('subscribe "" -- Q3', "Say which plan"),
    ("subscribe " + "P" * 101, "plan name is too long"),
    # commands that take nothing
    ("plans please", "`plans` takes nothing after it; type just `plans`."),
    ("balance now", "type just `balance`"),
    ("requests all", "type just `requests`"),
    # request ids
    ("status", "Say which request, by its id. Usage: status ID, like `status 12`."),
    ("status abc", "`abc` is not a request id."),
    ("status #0", "`#0` is not a request id."),
    ("status -3", "is not a request id"),
    ("status 12 13", "`status` takes only a request id."),
    ("status ##12", "is not a request id"),
    ("status 1234567890", "is not a request id"),
    ("approve", "Usage: approve ID, like `approve 12`."),
    ("approve twelve", "is not a request id"),
    ("approve 12 looks good", "takes only a request id"),
    ("cancel", "Usage: cancel ID"),
    ("cancel x", "is not a request id"),
    ("deny", "Usage: deny ID [reason], like `deny 12 over budget`."),
    ("deny over budget", "`over` is not a request id."),
    ("deny 12 " + "no " * 150, "The reason is 449 characters long"),
    # paid
    ("paid", "Give the request id or the checkout session id."),
    ("paid 12 13", "Give the request id or the checkout session id."),
    ("paid cs_x", "`cs_x` is not a request or session id."),
    ("paid pi_123456", "is not a request or session id"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_command(text)

    assert reason in caught.value.reason


def test_argument_errors_show_usage_and_an_example() -> None:
    for text in ["topup", "topup 10.005", "subscribe", "status", "deny", "paid"]:
        with pytest.raises(InvalidInput) as caught:
            parse_command(text)

        assert "Usage: " in caught.value.reason
        assert ", like `" in caught.value.reason


def test_unknown_words_are_quoted_back_short_and_without_backticks() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_command("`x`" + "y" * 100)

    assert caught.value.reason == (
        f"Unknown command `x{'y' * 31}`. Try `help` for the list."
    )


def test_note_of_exactly_the_limit_is_kept() -> None:
    note = "n" * MAX_NOTE_LENGTH

    assert parse_command(f"topup 50 {note}") == Topup(5000, note)


def test_commands_are_frozen() -> None:
    command = parse_command("topup 50")

    with pytest.raises(dataclasses.FrozenInstanceError):
        command.amount_cents = 1  # type: ignore[misc, union-attr]


def test_help_lists_every_command_with_an_example() -> None:
    words = [
        "topup",
        "fund",
        "subscribe",
        "plans",
        "balance",
        "requests",
        "status",
        "approve",
        "deny",
        "cancel",
        "paid",
        "policy",
        "help",
        "start",
    ]

    for word in words:
        assert word in HELP_TEXT
    for line in HELP_TEXT.splitlines()[1:-1]:
        assert "Example: " in line


def test_every_example_in_the_help_parses() -> None:
    for line in HELP_TEXT.splitlines()[1:-1]:
        example = line.split("Example: ")[1].strip("`")

        parse_command(example)


def test_help_text_quotes_commands_and_has_no_markup() -> None:
    for marker in ["*", "<", ">", "[b]"]:
        assert marker not in HELP_TEXT
    assert "Example: `topup 50 GPU batch for Q3`" in HELP_TEXT


def test_help_for_one_command_has_details() -> None:
    text = help_text("subscribe")

    assert text.startswith("`subscribe PLAN [note]`")
    assert 'subscribe "Pro for Teams" -- Q3' in text
    assert text.endswith("Example: `subscribe 10 for the video team`")


def test_help_for_an_alias_shows_the_command() -> None:
    assert help_text("/fund") == help_text("topup")
    assert help_text() == HELP_TEXT


def test_help_for_an_unknown_command_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Unknown command `nope`"):
        help_text("nope")
