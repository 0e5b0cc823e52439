"""Socket Mode: envelopes over a WebSocket instead of signed HTTP requests.

A small aiohttp WebSocket server stands in for Slack's Socket Mode
endpoint; the fake Web API hands out its URL from apps.connections.open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import WSMsgType, web

from tests.slack.fake_slack import APP_TOKEN, BOT_USER, FakeSlack
from tests.slack.sender import command_fields, event_callback
from tests.slack.world import World, eventually, running_world


@dataclass
class SocketServer:
    """Sends queued envelopes to the connected client; records its acks."""

    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    acks: dict[str, float] = field(default_factory=dict)

    async def connection(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1})
        sender = asyncio.create_task(self._send(socket))
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                envelope_id = json.loads(message.data).get("envelope_id")
                self.acks[envelope_id] = time.monotonic()
        sender.cancel()
        return socket

    async def _send(self, socket: web.WebSocketResponse) -> None:
        while True:
            await socket.send_json(await self.outbox.get())

    async def deliver(self, envelope_id: str, kind: str, payload: Any) -> float:
        """Send one envelope; returns the seconds until paybot acked it."""
        sent = time.monotonic()
        await self.outbox.put(
            {"envelope_id": envelope_id, "type": kind, "payload": payload}
        )
        await eventually(lambda: envelope_id in self.acks, f"the ack of {envelope_id}")
        return self.acks[envelope_id] - sent


@pytest.fixture
async def socket_world(tmp_path: Path) -> AsyncIterator[tuple[World, SocketServer]]:
    server = SocketServer()
    app = web.Application()
    app.router.add_get("/link", server.connection)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake = FakeSlack()
    fake.socket_url = f"ws://127.0.0.1:{port}/link"
    try:
        async with running_world(tmp_path, fake, slack_app_token=APP_TOKEN) as world:
            yield world, server
    finally:
        await runner.cleanup()


async def test_socket_mode_acks_fast_and_handles_each_event_once(
    socket_world: tuple[World, SocketServer],
) -> None:
    world, server = socket_world
    command = command_fields("/topup", "50", "U0AAA", "C0BBB", 1)
    mention = {
        "type": "app_mention",
        "user": "U0AAA",
        "channel": "C0BBB",
        "text": f"<@{BOT_USER}> topup 30",
        "ts": "1700000500.000100",
    }

    assert await server.deliver("e1", "slash_commands", command) < 1
    await server.deliver("e2", "events_api", event_callback(mention, "Ev0001"))
    await server.deliver("e3", "events_api", event_callback(mention, "Ev0001"))

    await eventually(lambda: len(world.fake.cards("C0BBB")) == 2, "both cards")
    first, second = world.fake.cards("C0BBB")
    assert "Top-up $50.00" in first.text and "Top-up $30.00" in second.text
    assert len(world.fake.calls_to("apps.connections.open")) == 1


async def test_socket_mode_serves_no_http_events_route(
    socket_world: tuple[World, SocketServer],
) -> None:
    world, _ = socket_world
    async with httpx.AsyncClient() as http:
        response = await http.post(world.slack.url, content=b"{}")

    assert response.status_code == 404
