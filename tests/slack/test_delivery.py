"""Slack refusals through the outbox: logged with the request, not retried."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing

import pytest

from tests.slack.world import World, eventually


async def test_a_channel_paybot_is_not_in_is_given_up_at_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.outbox")
    world.fake.refuse("chat.postMessage", "not_in_channel", channel="C0GONE", times=9)

    await world.slack.command("/topup", "50", channel="C0GONE")

    await eventually(lambda: "(request 1) refused" in caplog.text, "the log line")
    assert "not_in_channel (invite paybot to the channel)" in caplog.text
    assert len(world.fake.calls_to("chat.postMessage", channel="C0GONE")) == 1
    await eventually(lambda: card_status(world) == "failed", "the card marked failed")


def card_status(world: World) -> str:
    with closing(sqlite3.connect(world.database, timeout=1)) as db:
        (status,) = db.execute("SELECT status FROM outbox_message").fetchone()
    return str(status)
