"""Updates around restarts and crashes of ``python -m bot run``.

None may be lost, none may act twice.
"""

from __future__ import annotations

from typing import Any

from tests.telegram.conftest import ALICE, BOB, GROUP, Sandbox, Telegram, eventually


def approve(telegram: Telegram, card: Any) -> None:
    data = telegram.buttons(GROUP, card)["Approve"]
    telegram.api.press(GROUP, BOB, card.result["message_id"], data)


async def test_b18_updates_sent_while_down_are_handled_once(
    telegram: Telegram, sandbox: Sandbox, bot_env: dict[str, str], start_process: Any
) -> None:
    bot = await start_process(bot_env)
    telegram.api.command(GROUP, ALICE, "/topup 20")
    card = (await eventually(lambda: telegram.cards(GROUP)))[0]
    bot.stop()

    telegram.api.command(GROUP, ALICE, "/topup 10")
    approve(telegram, card)
    await start_process(bot_env)

    await eventually(lambda: telegram.said(GROUP, "Payment link for #1"))
    await eventually(lambda: telegram.said(GROUP, "#2 Top-up $10.00"))
    await eventually(lambda: not telegram.api.pending_updates())
    assert len(telegram.said(GROUP, "#2 Top-up $10.00")) == 1
    assert len(telegram.said(GROUP, "Payment link for #1")) == 1
    assert len(sandbox.calls("/billing/payment-link")) == 1


def fetched(telegram: Telegram, update: dict[str, Any]) -> bool:
    """Whether a getUpdates answer has carried ``update`` to the bot."""
    return any(
        update["update_id"] in [u["update_id"] for u in call.result or ()]
        for call in telegram.api.sent("getUpdates")
    )


async def test_b18_a_kill_between_fetch_and_handling_loses_nothing(
    telegram: Telegram, sandbox: Sandbox, bot_env: dict[str, str], start_process: Any
) -> None:
    bot = await start_process(bot_env)
    sandbox.configure(slow_seconds=3)
    sandbox.faults("slow")
    plans = telegram.api.command(GROUP, ALICE, "/plans")
    await eventually(lambda: fetched(telegram, plans))
    bot.kill()  # the engine is still waiting for the plans

    assert not telegram.said(GROUP, "Plans")
    assert plans["update_id"] in telegram.api.pending_updates()
    await start_process(bot_env)
    await eventually(lambda: telegram.said(GROUP, "Plans"), timeout=15)
    await eventually(lambda: not telegram.api.pending_updates())
    assert len(telegram.said(GROUP, "Plans")) == 1


async def test_b18_an_approve_redelivered_after_a_crash_counts_once(
    telegram: Telegram, sandbox: Sandbox, bot_env: dict[str, str], start_process: Any
) -> None:
    bot = await start_process(bot_env)
    telegram.api.command(GROUP, ALICE, "/topup 20")
    card = (await eventually(lambda: telegram.cards(GROUP)))[0]

    # Handled, but the confirming getUpdates never reaches Telegram.
    telegram.api.freeze_confirmations = True
    approve(telegram, card)
    await eventually(lambda: telegram.said(GROUP, "Payment link for #1"))
    bot.kill()

    assert telegram.api.pending_updates()
    telegram.api.freeze_confirmations = False
    await start_process(bot_env)
    await eventually(lambda: not telegram.api.pending_updates())
    # The second delivery is answered again (too late now) and then ignored.
    await eventually(
        lambda: (
            len([c for c in telegram.api.calls if c.method == "answerCallbackQuery"])
            == 2
        )
    )
    assert len(telegram.said(GROUP, "Payment link for #1")) == 1
    assert len(sandbox.calls("/billing/payment-link")) == 1


async def test_an_unreadable_update_is_skipped_and_the_next_one_handled(
    telegram: Telegram, bot_env: dict[str, str], start_process: Any
) -> None:
    telegram.api.push({"message": {"message_id": "abc"}})  # no date, no chat
    telegram.api.command(GROUP, ALICE, "/topup 47")
    bot = await start_process(bot_env)
    await eventually(lambda: telegram.said(GROUP, "#1 Top-up $47.00"))
    await eventually(lambda: not telegram.api.pending_updates())
    assert bot.process.poll() is None  # still running
    assert "skipping update" in bot.output()
