"""Webhook mode, forum topics, supergroup migration and replies to one person."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from tests.telegram.conftest import ALICE, BOB, GROUP, Telegram, eventually, running

SECRET = "s3cret_webhook-token"
OLD_GROUP = -4001
NEW_GROUP = -1004001


def webhook_env(bot_env: dict[str, str]) -> dict[str, str]:
    port = bot_env["PAYBOT_HTTP_PORT"]
    return {
        **bot_env,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }


async def test_webhook_mode_takes_updates_with_the_right_secret_only(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    api = telegram.api
    async with running(webhook_env(bot_env), telegram):
        registered = api.sent("setWebhook")[0].params
        assert registered["secret_token"] == SECRET
        assert registered.get("drop_pending_updates") in (None, "false")
        assert not api.sent("getUpdates")

        forged = api.command(GROUP, ALICE, "/topup 60")
        assert await api.deliver_to_webhook(forged, secret="wrong") == 403
        assert await api.deliver_to_webhook(forged, secret="") == 403
        assert not api.sent("sendMessage")
        for junk in ([], "x", None):
            assert await api.deliver_to_webhook(junk) == 400  # type: ignore[arg-type]

        genuine = api.command(GROUP, ALICE, "/topup 70")
        assert await api.deliver_to_webhook(genuine) == 200
        card = (await eventually(lambda: telegram.cards(GROUP)))[0]
        assert "#1 Top-up $70.00" in card.params["shown"]

        data = telegram.buttons(GROUP, card)["Approve"]
        press = api.press(GROUP, BOB, card.result["message_id"], data)
        assert await api.deliver_to_webhook(press) == 200
        await eventually(lambda: telegram.said(GROUP, "Payment link for #1"))
        assert len(api.sent("answerCallbackQuery")) == 1


async def test_webhook_mode_needs_a_secret(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    env = {**webhook_env(bot_env), "TELEGRAM_WEBHOOK_SECRET": ""}
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        async with running(env, telegram):
            pass


async def test_replies_stay_in_the_forum_topic_and_general_has_no_thread(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    api = telegram.api
    async with running(bot_env, telegram):
        in_topic = api.command(GROUP, ALICE, "/requests", topic=42)
        reply = (await eventually(lambda: telegram.said(GROUP, "No open")))[0]
        api.command(GROUP, ALICE, "/requests")
        general = (await eventually(lambda: telegram.said(GROUP, "No open")[1:]))[0]

    assert reply.params["message_thread_id"] == "42"
    ref = reply.params["reply_parameters"]
    assert ref["message_id"] == in_topic["message"]["message_id"]
    assert ref["allow_sending_without_reply"] is True
    assert "message_thread_id" not in general.params


async def test_refusals_reply_to_the_person_by_name(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    async with running(bot_env, telegram):
        command = telegram.api.command(GROUP, ALICE, "/approve 99")
        reply = (await eventually(lambda: telegram.said(GROUP, "no request #99")))[0]

    assert reply.params["shown"].startswith("Alice: ")
    assert 'href="tg://user?id=111"' in reply.params["text"]
    assert (
        reply.params["reply_parameters"]["message_id"]
        == command["message"]["message_id"]
    )


async def test_a_group_upgraded_to_a_supergroup_keeps_its_requests(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    api = telegram.api
    async with running(bot_env, telegram):
        api.command(OLD_GROUP, ALICE, "/topup 15", chat_type="group")
        await eventually(lambda: telegram.cards(OLD_GROUP))
        api.service(OLD_GROUP, migrate_to_chat_id=NEW_GROUP)
        api.command(NEW_GROUP, BOB, "/requests")
        listed = await eventually(lambda: telegram.said(NEW_GROUP, "#1 Top-up"))

    assert "Top-up $15.00 by Alice" in listed[0].params["shown"]


async def test_a_message_refused_for_migration_goes_to_the_new_chat(
    telegram: Telegram, bot_env: dict[str, str]
) -> None:
    api = telegram.api
    async with running(bot_env, telegram):
        api.command(OLD_GROUP, ALICE, "/topup 15", chat_type="group")
        await eventually(lambda: telegram.cards(OLD_GROUP))
        api.refuse(
            "sendMessage",
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            parameters={"migrate_to_chat_id": NEW_GROUP},
            chat_id=str(OLD_GROUP),
            times=0,
        )
        api.command(OLD_GROUP, BOB, "/approve 1", chat_type="group")
        await eventually(lambda: telegram.said(NEW_GROUP, "Payment link for #1"))
        api.command(NEW_GROUP, BOB, "/requests")
        listed = await eventually(lambda: telegram.said(NEW_GROUP, "#1 Top-up"))

    assert "Top-up $15.00 by Alice" in listed[0].params["shown"]
