"""The whole flow through ``python -m bot run``, driven only by Bot API updates."""

from __future__ import annotations

from typing import Any

from tests.telegram.conftest import (
    ALICE,
    BOB,
    CAROL,
    GROUP,
    Sandbox,
    Telegram,
    eventually,
)
from tests.telegram.fake_bot_api import TOKEN

TOPIC = 7
OTHER_GROUP = -1009876543210


async def test_topup_and_subscription_end_to_end(
    telegram: Telegram, sandbox: Sandbox, bot_env: dict[str, str], start_process: Any
) -> None:
    # Everything logged in detail: still no token may show.
    bot = await start_process({**bot_env, "PAYBOT_LOG_LEVEL": "DEBUG"})
    api = telegram.api

    topup = api.command(GROUP, ALICE, "/topup@AcmeTopupBot 50 GPU batch", topic=TOPIC)
    subscribe = api.command(OTHER_GROUP, CAROL, "/subscribe 10 team plan")
    topup_id = topup["message"]["message_id"]
    subscribe_id = subscribe["message"]["message_id"]

    card = await eventually(lambda: telegram.cards(GROUP), what="the top-up card")
    card = card[0]
    assert card.params["reply_parameters"]["message_id"] == topup_id
    assert card.params["message_thread_id"] == str(TOPIC)
    assert "#1 Top-up $50.00" in card.params["shown"]
    assert "GPU batch" in card.params["shown"]
    assert set(telegram.buttons(GROUP, card)) == {"Approve", "Deny"}
    sub_card = (await eventually(lambda: telegram.cards(OTHER_GROUP)))[0]
    assert sub_card.params["reply_parameters"]["message_id"] == subscribe_id

    api.press(
        GROUP, BOB, card.result["message_id"], telegram.buttons(GROUP, card)["Approve"]
    )
    api.press(
        OTHER_GROUP,
        BOB,
        sub_card.result["message_id"],
        telegram.buttons(OTHER_GROUP, sub_card)["Approve"],
    )

    link = (await eventually(lambda: telegram.said(GROUP, "Payment link for #1")))[0]
    assert link.params["reply_parameters"]["message_id"] == topup_id
    assert link.params["message_thread_id"] == str(TOPIC)
    await eventually(lambda: telegram.said(OTHER_GROUP, "Payment link for #2"))
    assert len(api.sent("answerCallbackQuery")) == 2

    session = await eventually(lambda: sandbox.session_for(amount_cents=5000))
    assert session in link.params["shown"]
    sandbox.pay(session)
    sandbox.pay(await eventually(lambda: sandbox.session_for(plan_id=10)))

    report = (
        await eventually(
            lambda: telegram.said(GROUP, "Wallet funded: $50.00. New balance: $"),
            timeout=20,
        )
    )[0]
    assert report.params["reply_parameters"]["message_id"] == topup_id
    assert report.params["message_thread_id"] == str(TOPIC)
    sub_report = (
        await eventually(lambda: telegram.said(OTHER_GROUP, "Subscription to"))
    )[0]
    assert "active" in sub_report.params["shown"]
    assert sub_report.params["reply_parameters"]["message_id"] == subscribe_id

    await eventually(
        lambda: (
            "Paid" in telegram.now(GROUP, card)["text"]
            and "reply_markup" not in telegram.now(GROUP, card)
        ),
        what="the final top-up card",
    )
    await eventually(
        lambda: (
            "Paid" in telegram.now(OTHER_GROUP, sub_card)["text"]
            and "reply_markup" not in telegram.now(OTHER_GROUP, sub_card)
        ),
        what="the final subscription card",
    )
    bot.stop()
    output = bot.output()
    assert "DEBUG" in output
    for secret in (TOKEN, TOKEN.split(":")[1], "sandbox-token"):
        assert secret not in output
