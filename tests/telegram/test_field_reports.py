"""Faults other Telegram bots shipped, each replayed against ``paybot run``."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from bot import app
from tests.telegram.conftest import (
    ALICE,
    BOB,
    GROUP,
    Sandbox,
    Telegram,
    eventually,
    running,
)
from tests.telegram.fake_bot_api import user

OTHER_GROUP = -1005550001111


async def open_card(telegram: Telegram, person: dict[str, Any], text: str) -> Any:
    before = len(telegram.cards(GROUP))
    telegram.api.command(GROUP, person, text)
    cards = await eventually(
        lambda: telegram.cards(GROUP)[before:], what=f"a card for {text!r}"
    )
    return cards[0]


def press(telegram: Telegram, person: dict[str, Any], card: Any, label: str) -> Any:
    data = telegram.buttons(GROUP, card)[label]
    return telegram.api.press(GROUP, person, card.result["message_id"], data)


def answers(telegram: Telegram) -> list[Any]:
    return telegram.api.sent("answerCallbackQuery")


def attempts(telegram: Telegram, method: str) -> list[Any]:
    """Calls of ``method``, including the ones the fake refused."""
    return [call for call in list(telegram.api.calls) if call.method == method]


async def test_b09_user_text_is_shown_literally_in_html(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    ops = user(444, "Ops-Team (beta)!")
    async with running(bot_env, telegram):
        card = await open_card(telegram, ops, "/topup 10.50 <b>Q3</b> & more")

    shown = card.params["shown"]
    assert "Requested by: Ops-Team (beta)!" in shown
    assert "Note: <b>Q3</b> & more" in shown
    assert "$10.50" in shown
    assert card.params["parse_mode"] == "HTML"
    assert "&lt;b&gt;Q3&lt;/b&gt; &amp; more" in card.params["text"]


async def test_b09_unparsable_html_falls_back_to_plain_text(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    telegram.api.refuse(
        "sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag"
    )
    async with running(bot_env, telegram):
        card = await open_card(telegram, ALICE, "/topup 12 <i>odd</i>")

    assert "parse_mode" not in card.params
    assert "Note: <i>odd</i>" in card.params["shown"]
    assert telegram.buttons(GROUP, card)  # the buttons survive the fallback


async def test_b11_callbacks_are_answered_before_the_slow_billing_call(
    telegram: Telegram, sandbox: Sandbox, bot_env: dict[str, str]
) -> None:
    async with running(bot_env, telegram):
        card = await open_card(telegram, ALICE, "/topup 20")
        sandbox.configure(slow_seconds=2)
        sandbox.faults("slow")
        pressed_at = time.monotonic()
        press(telegram, BOB, card, "Approve")
        answer = (await eventually(lambda: answers(telegram)))[0]
        assert answer.at - pressed_at < 1.0
        assert not telegram.said(GROUP, "Payment link for #1")

        stale = telegram.api.press(
            GROUP, BOB, card.result["message_id"], "approve:R9999"
        )
        await eventually(lambda: len(answers(telegram)) == 2)
        assert answers(telegram)[1].params["text"] == "This request no longer exists."
        assert (
            stale["callback_query"]["id"]
            == answers(telegram)[1].params["callback_query_id"]
        )
        await eventually(lambda: telegram.said(GROUP, "Payment link for #1"))


async def test_b11_repeated_and_late_presses_approve_once(
    telegram: Telegram, sandbox: Sandbox, bot_env: dict[str, str], caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    async with running(bot_env, telegram):
        card = await open_card(telegram, ALICE, "/topup 30")
        telegram.api.callback_deadline = -1  # every answer now comes too late
        press(telegram, BOB, card, "Approve")
        press(telegram, BOB, card, "Approve")
        await eventually(lambda: telegram.said(GROUP, "Payment link for #1"))
        await eventually(lambda: len(attempts(telegram, "answerCallbackQuery")) == 2)
        await asyncio.sleep(0.5)

    assert len(sandbox.calls("/billing/payment-link")) == 1
    assert len(telegram.said(GROUP, "Payment link for #1")) == 1
    assert "query is too old" in caplog.text.lower()


async def test_b12_commands_for_this_bot_only_from_the_first_update(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    telegram.api.command(GROUP, ALICE, "/topup@OtherBot 25")
    telegram.api.command(GROUP, ALICE, "/topup@AcmeTopupBot 25")
    async with running(bot_env, telegram):
        card = (await eventually(lambda: telegram.cards(GROUP)))[0]
        await eventually(lambda: not telegram.api.pending_updates())
        await asyncio.sleep(0.3)

    assert "#1 Top-up $25.00" in card.params["shown"]
    assert len(telegram.api.sent("sendMessage")) == 1
    get_me = telegram.api.sent("getMe")[0]
    first_poll = telegram.api.sent("getUpdates")[0]
    assert get_me.at < first_poll.at


async def test_b13_privacy_mode_is_reported_at_start(
    telegram: Telegram, bot_env: dict[str, str], caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    async with running(bot_env, telegram):
        telegram.api.command(GROUP, ALICE, "/requests@AcmeTopupBot")
        await eventually(lambda: telegram.said(GROUP, "No open requests"))

    warnings = [r for r in caplog.records if "privacy mode is on" in r.getMessage()]
    assert len(warnings) == 1
    assert "plain mentions" in warnings[0].getMessage()


async def test_b13_mentions_work_when_the_bot_reads_the_group(
    telegram: Telegram, bot_env: dict[str, str], caplog: Any
) -> None:
    telegram.api.can_read_all_group_messages = True
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    async with running(bot_env, telegram):
        telegram.api.command(GROUP, ALICE, "yes")
        card = await open_card(telegram, ALICE, "@AcmeTopupBot topup 25")

    assert "#1 Top-up $25.00" in card.params["shown"]
    assert len(telegram.api.sent("sendMessage")) == 1  # "yes" was not for us
    assert "privacy mode" not in caplog.text


async def test_b14_flood_control_pauses_only_that_chat(
    telegram: Telegram, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scaled down: a fast pace and a 2 s wait instead of 1 s and 25 s.
    monkeypatch.setitem(app.PACING, "telegram", 0.02)
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # the library's future type
    telegram.api.refuse(
        "sendMessage",
        429,
        "Too Many Requests: retry after 2",
        parameters={"retry_after": 2},
        chat_id=str(GROUP),
        skip=20,
    )
    async with running(bot_env, telegram):
        for _ in range(30):
            telegram.api.command(GROUP, ALICE, "/requests")
        refused = await eventually(
            lambda: [c for c in telegram.api.calls if c.refused], what="the 429"
        )
        telegram.api.command(OTHER_GROUP, BOB, "/requests")
        other = (await eventually(lambda: telegram.said(OTHER_GROUP, "No open")))[0]
        await eventually(lambda: len(telegram.said(GROUP, "No open")) == 30)

    sent = telegram.said(GROUP, "No open")
    assert len(sent) == 30
    assert sent[20].at - refused[0].at >= 2.0
    assert other.at - refused[0].at < 2.0


async def test_b16_a_blocked_payer_does_not_stop_the_group_report(
    telegram: Telegram,
    sandbox: Sandbox,
    bot_env: dict[str, str],
    caplog: Any,
) -> None:
    payer = 100000001
    caplog.set_level(logging.INFO)
    telegram.api.refuse(
        "sendMessage",
        403,
        "Forbidden: bot was blocked by the user",
        chat_id=str(payer),
        times=0,
    )
    env = {**bot_env, "PAYBOT_PAYER": f"telegram:{payer}"}
    async with running(env, telegram):
        card = await open_card(telegram, ALICE, "/topup 40")
        press(telegram, BOB, card, "Approve")
        await eventually(lambda: telegram.said(GROUP, "privately to"))
        # The payer cannot be written to: the link comes to the group instead,
        # with a deep link that sends it to the payer once they open the bot.
        fallback = await eventually(
            lambda: telegram.said(GROUP, "Could not send this privately")
        )
        assert "t.me/AcmeTopupBot?start=pay-" in fallback[0].params["shown"]
        sandbox.pay(await eventually(lambda: sandbox.session_for(amount_cents=4000)))
        await eventually(lambda: "I've paid" in telegram.buttons(GROUP, card))
        press(telegram, ALICE, card, "I've paid")
        await eventually(
            lambda: telegram.said(GROUP, "Wallet funded: $40.00. New balance: $"),
            timeout=15,
        )

    attempts = [c for c in telegram.api.calls if c.params.get("chat_id") == str(payer)]
    assert len(attempts) == 1  # refused for good, never retried
    assert f"Telegram user {payer} is unreachable" in caplog.text
