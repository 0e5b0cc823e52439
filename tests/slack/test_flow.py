"""The whole flow, driven only by signed requests to ``paybot run``."""

from __future__ import annotations

import re

from tests.slack.fake_slack import Call
from tests.slack.world import World, eventually

CHANNEL = "C0BBB"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/checkout/cs_[A-Za-z0-9_-]+")


def button_value(card: Call, action: str) -> str:
    for block in card.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == f"paybot_{action}":
                return str(element["value"])
    raise AssertionError(f"no {action} button on {card.rendered}")


def replies(world: World, thread: str, needle: str) -> list[Call]:
    posts = world.fake.posts(channel=CHANNEL, thread_ts=thread)
    return [post for post in posts if needle in post.text]


async def request_card(world: World, command: str, text: str) -> Call:
    response = await world.slack.command(command, text)
    assert response.status_code == 200
    cards = await eventually(lambda: world.fake.cards(CHANNEL), "the request card")
    assert len(cards) == 1
    return cards[0]


async def approve_and_pay(world: World, card: Call) -> Call:
    """Approver carol clicks Approve; the payer pays the link in the thread."""
    ts = card.answer_ts
    await world.slack.click(
        "approve", button_value(card, "approve"), user="U0CCC", message_ts=ts
    )
    link = await eventually(
        lambda: replies(world, ts, "Payment link"), "the payment link"
    )
    url = LINK.search(link[0].text)
    assert url is not None, link[0].text
    assert f"<{url.group(0)}>" in link[0].rendered  # verbatim and clickable
    world.sandbox.pay(url.group(0).rsplit("/", 1)[1])
    return link[0]


async def test_topup_from_command_to_report_in_the_thread(world: World) -> None:
    card = await request_card(world, "/topup", "50 GPU batch")
    assert "thread_ts" not in card.args
    assert "Top-up $50.00" in card.rendered and "GPU batch" in card.rendered
    assert card.action_ids == ["paybot_approve", "paybot_deny"]
    ts = card.answer_ts

    await approve_and_pay(world, card)

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

    await approve_and_pay(world, card)

    await eventually(
        lambda: replies(world, ts, "Subscription to Standard: active"),
        "the subscription report",
    )
    final = await eventually(
        lambda: [u for u in world.fake.updates(ts) if "Paid" in u.rendered],
        "the card edited to paid",
    )
    assert final[-1].action_ids == []
