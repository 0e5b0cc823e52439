"""The whole flow, driven only by signed requests to ``paybot run``."""

from __future__ import annotations

import logging

import pytest

from tests.slack.fake_slack import BOT_TOKEN
from tests.slack.sender import SIGNING_SECRET
from tests.slack.steps import approve, pay, replies, request_card
from tests.slack.world import World, eventually


async def test_topup_from_command_to_report_in_the_thread(world: World) -> None:
    card = await request_card(world, "/topup", "50 GPU batch")
    assert "thread_ts" not in card.args
    assert "Top-up $50.00" in card.rendered and "GPU batch" in card.rendered
    assert card.action_ids == ["paybot_approve", "paybot_deny"]
    ts = card.answer_ts

    pay(world, await approve(world, card))

    report = await eventually(
        lambda: replies(world, ts, "Wallet funded: $50.00. New balance: $"),
        "the top-up report",
    )
    assert len(report) == 1
    final = await eventually(
        lambda: [u for u in world.fake.updates(ts) if "Paid" in u.rendered],
        "the card edited to paid",
    )
    assert final[-1].action_ids == []


async def test_subscription_from_command_to_report(world: World) -> None:
    card = await request_card(world, "/subscribe", "2 for the video team")
    assert "Subscription Standard ($47.00)" in card.rendered
    ts = card.answer_ts

    pay(world, await approve(world, card))

    await eventually(
        lambda: replies(world, ts, "Subscription to Standard: active"),
        "the subscription report",
    )
    final = await eventually(
        lambda: [u for u in world.fake.updates(ts) if "Paid" in u.rendered],
        "the card edited to paid",
    )
    assert final[-1].action_ids == []


async def test_paybot_command_and_plans(world: World) -> None:
    await world.slack.command("/paybot", "plans")
    await world.slack.command("/plans")

    await eventually(lambda: len(world.fake.posts()) == 2, "two plan lists")
    for plans in world.fake.posts():
        assert "Standard" in plans.text and "$47.00" in plans.rendered


async def test_no_secret_reaches_a_log_line_at_debug(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    card = await request_card(world, "/topup", "25 secrets check")
    pay(world, await approve(world, card))
    await eventually(
        lambda: replies(world, card.answer_ts, "Wallet funded: $25.00"), "the report"
    )
    logged = caplog.text
    assert "DEBUG" in logged  # the whole flow was logged in detail
    for secret in (BOT_TOKEN, SIGNING_SECRET, "sandbox-token"):
        assert secret not in logged
