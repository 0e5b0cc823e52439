"""``paybot run`` in-process, with the sandbox as ModelsLab and a fake Slack.

Everything a test does goes through HTTP: signed requests to the bot's
``/slack/events``, the sandbox's control routes, and what the fake Slack
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot.billing.sandbox import API_PREFIX, SandboxConfig, create_sandbox_app
from bot.runner import run_bot
from bot.settings import Settings, load_settings
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack
from tests.slack.sender import SIGNING_SECRET, SlackSender
from tests.support.sandbox import RunningSandbox
from tests.support.servers import serve_in_thread

T = TypeVar("T")

APPROVERS = ["slack:U0CCC", "slack:U0DDD"]
WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Sandbox(RunningSandbox):
    """The sandbox handle, plus the one session a test expects."""

    def only_session(self) -> str:
        sessions = self.state()["sessions"]
        assert len(sessions) == 1, sessions
        return str(sessions[0]["id"])


@dataclass
class World:
    fake: FakeSlack
    sandbox: Sandbox
    slack: SlackSender
    bot_url: str
    database: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_settings(
    database: Path, sandbox_root: str, slack_root: str, port: int, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "modelslab_api_url": sandbox_root + API_PREFIX,
        "modelslab_token": "sandbox-token",
        "database_url": f"sqlite:///{database}",
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_app_token": None,
        "slack_api_url": slack_root + "/api/",
        "telegram_bot_token": None,
        "paybot_http_host": "127.0.0.1",
        "paybot_http_port": port,
        "paybot_approvers": APPROVERS,
        "paybot_payer": None,
        "paybot_allowed_chats": [],
    }
    return load_settings(**(values | extra))


@contextlib.asynccontextmanager
async def running_world(
    tmp: Path, fake: FakeSlack | None = None, **extra: Any
) -> AsyncIterator[World]:
    """The bot, the sandbox and the fake Slack, until the block ends."""
    fake = fake or FakeSlack()
    with ExitStack() as stack:
        sandbox_root = stack.enter_context(
            serve_in_thread(create_sandbox_app(SandboxConfig()))
        )
        slack_root = stack.enter_context(serve_in_thread(fake.app()))
        port = free_port()
        database = tmp / "paybot.db"
        settings = bot_settings(database, sandbox_root, slack_root, port, **extra)
        bot = asyncio.create_task(run_bot(settings))
        bot_url = f"http://127.0.0.1:{port}"
        try:
            await _until_listening(bot_url, bot)
            slack = SlackSender(bot_url + "/slack/events")
            yield World(fake, Sandbox(sandbox_root), slack, bot_url, database)
        finally:
            bot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bot


async def _until_listening(url: str, bot: asyncio.Task[int]) -> None:
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if bot.done():
                bot.result()
                raise AssertionError("paybot run stopped at start")
            with contextlib.suppress(httpx.TransportError):
                await http.get(url + "/metrics")
                return
            await asyncio.sleep(0.05)
    raise AssertionError("paybot run did not start listening")


async def eventually(
    find: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS
) -> T:
    """Poll ``find`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)
