"""Faults other Slack bots of this kind shipped, each replayed against paybot."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing

from tests.slack.fake_slack import BOT_USER
from tests.slack.steps import (
    CHANNEL,
    approve,
    button_value,
    pay,
    replies,
    request_card,
    rows,
)
from tests.slack.world import World, eventually

ROOT = "1700000000.000100"  # the fake's first message ts: the card's


async def test_b01_slow_billing_gets_a_fast_ack_and_no_second_request(
    world: World,
) -> None:
    world.sandbox.control("POST", "/_sandbox/config", {"slow_seconds": 2})
    world.sandbox.control("POST", "/_sandbox/faults", {"kinds": ["slow", "slow"]})

    first = await world.slack.command("/topup", "50")
    again = await world.slack.command("/topup", "50")

    assert first.status_code == again.status_code == 200
    assert [sent.seconds < 1 for sent in world.slack.sent] == [True, True]
    warning = await eventually(
        lambda: world.fake.ephemerals("U0AAA"), "the warning about the open request"
    )
    assert "already have the same request open: #1" in warning[0].text
    assert len(world.fake.cards(CHANNEL)) == 1
    assert rows(world, "payment_request") == 1


async def test_b01_approval_is_acked_while_the_link_is_slow(world: World) -> None:
    card = await request_card(world, "/topup", "50")
    world.sandbox.control("POST", "/_sandbox/config", {"slow_seconds": 2})
    world.sandbox.control("POST", "/_sandbox/faults", {"kinds": ["slow"]})

    link = await approve(world, card)

    assert world.slack.sent[-1].seconds < 1
    assert link.args["thread_ts"] == card.answer_ts
    assert len(world.sandbox.calls("/billing/payment-link")) == 1


def _age_inbound_key(world: World, key: str, seconds: int) -> None:
    """Make a stored dedupe key look ``seconds`` old."""
    with closing(sqlite3.connect(world.database, timeout=1)) as db:
        changed = db.execute(
            "UPDATE processed_inbound SET at = datetime(at, ?) WHERE key = ?",
            (f"-{seconds} seconds", key),
        ).rowcount
        db.commit()
    assert changed == 1


async def test_b02_event_retries_act_once_and_a_lone_retry_is_kept(
    world: World,
) -> None:
    mention_ts = "1700000500.000100"
    for retry in (None, 1):
        response = await world.slack.mention(
            "topup 20", ts=mention_ts, event_id="Ev0001", retry_num=retry
        )
        assert response.status_code == 200
    await eventually(lambda: world.fake.cards(CHANNEL), "the card of Ev0001")
    # Slack's last retry comes about five minutes after the first delivery.
    _age_inbound_key(world, "slack:event:Ev0001", 301)
    await world.slack.mention("topup 20", ts=mention_ts, event_id="Ev0001", retry_num=2)
    await world.slack.mention(
        "topup 30", ts="1700000600.000100", event_id="Ev0002", retry_num=1
    )

    await eventually(lambda: len(world.fake.cards(CHANNEL)) == 2, "Ev0002's card")
    first, second = world.fake.cards(CHANNEL)
    assert "Top-up $20.00" in first.text and first.args["thread_ts"] == mention_ts
    assert "Top-up $30.00" in second.text
    assert rows(world, "payment_request") == 2
    assert len(world.fake.posts()) == 2


async def test_b03_double_click_approves_once(world: World) -> None:
    card = await request_card(world, "/topup", "25")
    ts, ref = card.answer_ts, button_value(card, "approve")

    first = asyncio.create_task(
        world.slack.click("approve", ref, user="U0CCC", message_ts=ts)
    )
    await asyncio.sleep(0.3)
    await world.slack.click("approve", ref, user="U0CCC", message_ts=ts)
    await first
    await eventually(lambda: replies(world, ts, "Payment link"), "the payment link")
    await world.slack.click("approve", ref, user="U0DDD", message_ts=ts)

    late = await eventually(lambda: world.fake.ephemerals("U0DDD"), "dave's notice")
    assert "#1 is already decided" in late[0].text and "Carol" in late[0].text
    again = await eventually(lambda: world.fake.ephemerals("U0CCC"), "carol's notice")
    assert len(again) == 1 and "#1" in again[0].text
    assert rows(world, "vote") == 1
    assert len(replies(world, ts, "Payment link")) == 1
    assert len(world.sandbox.calls("/billing/payment-link")) == 1
    await eventually(
        lambda: (
            world.fake.updates(ts)[-1].action_ids == ["paybot_paid", "paybot_cancel"]
        ),
        "the card without Approve and Deny",
    )


async def test_b04_every_follow_up_goes_to_the_root_of_the_thread(
    world: World,
) -> None:
    card = await request_card(world, "/topup", "25")
    assert card.answer_ts == ROOT
    await world.slack.mention(
        "balance", ts="1700000100.000200", thread_ts=ROOT, user="U0EEE"
    )
    await eventually(lambda: replies(world, ROOT, "Wallet balance"), "the balance")

    pay(world, await approve(world, card))
    await eventually(
        lambda: replies(world, ROOT, "New balance: $100.00"), "the paid report"
    )

    follow_ups = world.fake.posts(channel=CHANNEL)[1:]
    assert len(follow_ups) == 3
    assert {post.args.get("thread_ts") for post in follow_ups} == {ROOT}
    assert not any("reply_broadcast" in post.args for post in world.fake.posts())


async def test_b04_a_top_level_mention_starts_a_thread_on_its_ts(
    world: World,
) -> None:
    await world.slack.mention("topup 15", ts="1700000200.000300")
    await world.slack.mention("help", ts=None, user="U0EEE")

    cards = await eventually(lambda: world.fake.cards(CHANNEL), "the card")
    assert cards[0].args["thread_ts"] == "1700000200.000300"
    help_reply = await eventually(
        lambda: [p for p in world.fake.posts() if "Commands" in p.text], "help"
    )
    assert "thread_ts" not in help_reply[0].args
    assert all(sent.response.status_code == 200 for sent in world.slack.sent)


async def test_b06_rate_limited_post_waits_and_is_sent_once(world: World) -> None:
    world.fake.rate_limit("chat.postMessage", 3, channel=CHANNEL)
    started = time.monotonic()

    await world.slack.command("/balance")
    await world.slack.command("/balance", channel="C0OTHER")

    other = await eventually(
        lambda: world.fake.posts(channel="C0OTHER"), "the other channel's balance"
    )
    report = await eventually(
        lambda: world.fake.posts(channel=CHANNEL), "the balance after the wait"
    )
    refused = [
        call
        for call in world.fake.calls_to("chat.postMessage", channel=CHANNEL)
        if call.error == "ratelimited"
    ]
    assert len(refused) == 1 and len(report) == 1
    assert "Wallet balance: $75.00" in report[0].text
    assert report[0].at - refused[0].at >= 3
    assert other[0].at - started < 3  # the worker kept going meanwhile


async def test_mentions_from_other_bots_are_ignored(world: World) -> None:
    other_bot = {
        "type": "app_mention",
        "user": "U0ZZZ",
        "bot_id": "B0OTHER",
        "text": f"<@{BOT_USER}> topup 33",
        "channel": CHANNEL,
        "ts": "1700000700.000100",
    }
    assert (await world.slack.event(other_bot, event_id="EvBot1")).status_code == 200
    await world.slack.mention("topup 21", ts="1700000800.000100", event_id="EvHuman")
    await eventually(lambda: world.fake.cards(CHANNEL), "the person's card")
    assert rows(world, "payment_request") == 1
    assert "Top-up $21.00" in world.fake.cards(CHANNEL)[0].text
