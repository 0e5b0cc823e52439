"""Steps the Slack tests share: ask, find the card, approve, pay."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

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


def rows(world: World, table: str) -> int:
    """How many rows a table of the bot's database holds."""
    with closing(sqlite3.connect(world.database, timeout=1)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def request_card(world: World, command: str, text: str) -> Call:
    response = await world.slack.command(command, text)
    assert response.status_code == 200
    cards = await eventually(lambda: world.fake.cards(CHANNEL), "the request card")
    assert len(cards) == 1
    return cards[0]


async def approve(world: World, card: Call, user: str = "U0CCC") -> Call:
    """An approver clicks Approve; returns the payment link reply."""
    ts = card.answer_ts
    response = await world.slack.click(
        "approve", button_value(card, "approve"), user=user, message_ts=ts
    )
    assert response.status_code == 200
    link = await eventually(
        lambda: replies(world, ts, "Payment link"), "the payment link"
    )
    return link[0]


def pay(world: World, link: Call) -> None:
    """The payer pays the link in ``link``, shown verbatim and clickable."""
    url = LINK.search(link.text)
    assert url is not None, link.text
    assert f"<{url.group(0)}>" in link.rendered
    world.sandbox.pay(url.group(0).rsplit("/", 1)[1])
