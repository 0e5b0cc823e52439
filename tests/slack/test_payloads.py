"""Slack payloads to neutral ``Inbound``: text, thread, dedupe key."""

from __future__ import annotations

from adapters.slack import action_inbound, command_inbound, event_inbound
from tests.slack.sender import block_actions, command_fields, event_callback


def test_a_slash_command_is_its_name_and_text() -> None:
    inbound = command_inbound(
        command_fields("/topup", "50 GPU &amp; more", "U0AAA", "C0BBB", 7)
    )

    assert inbound.text == "topup 50 GPU & more"
    assert (inbound.chat_id, inbound.user_id, inbound.user_name) == (
        "C0BBB",
        "U0AAA",
        "alice",
    )
    assert inbound.dedupe_key == "slack:command:7.1700000000.trigger"
    assert inbound.thread_ref is None and inbound.message_ref is None


def test_paybot_passes_the_command_that_follows() -> None:
    assert command_inbound(command_fields("/paybot", "status 3", "U", "C", 1)).text == (
        "status 3"
    )
    assert command_inbound(command_fields("/paybot", " ", "U", "C", 1)).text == "help"
    assert command_inbound(command_fields("/plans", "", "U", "C", 1)).text == "plans"


def test_a_button_press_names_the_action_and_the_root_of_its_thread() -> None:
    body = block_actions("approve", "r3f", "U0CCC", "C0BBB", "1700.0002", "1700.0001")
    body["actions"][0]["action_ts"] = "1700.0009"

    inbound = action_inbound(body)

    assert inbound is not None
    assert (inbound.action, inbound.action_value) == ("approve", "r3f")
    assert inbound.dedupe_key == "slack:action:1700.0009:U0CCC"
    assert (inbound.thread_ref, inbound.message_ref) == ("1700.0001", "1700.0002")


def test_a_payload_without_actions_is_not_a_press() -> None:
    body = block_actions("approve", "r3f", "U0CCC", "C0BBB", "1700.0002", None)
    body["actions"] = []

    assert action_inbound(body) is None


def test_a_mention_in_a_thread_is_a_command_in_that_thread() -> None:
    event = {
        "type": "app_mention",
        "user": "U0AAA",
        "channel": "C0BBB",
        "text": "<@UBOT> topup 20 for &lt;!here&gt;",
        "ts": "1700000100.000200",
        "thread_ts": "1700000000.000100",
    }

    inbound = event_inbound(event_callback(event, "Ev0001"), "UBOT")

    assert inbound is not None
    assert inbound.text == "topup 20 for <!here>"
    assert inbound.dedupe_key == "slack:event:Ev0001"
    assert inbound.thread_ref == "1700000000.000100"
    assert inbound.message_ref == "1700000100.000200"


def test_an_event_without_ts_or_bot_id_still_works() -> None:
    event = {"type": "app_mention", "user": "U0AAA", "channel": "C0BBB"}
    event["text"] = "<@UOTHERBOT> help"

    inbound = event_inbound(event_callback(event, "Ev0003"), None)

    assert inbound is not None
    assert inbound.text == "help"
    assert inbound.thread_ref is None and inbound.message_ref is None


def test_an_event_without_a_person_is_ignored() -> None:
    event = {"type": "app_mention", "channel": "C0BBB", "text": "hi"}

    assert event_inbound(event_callback(event, "Ev0004"), "UBOT") is None
