"""Fixtures: a fake Bot API, the sandbox, and ``paybot run`` started against them.

The bot runs either in this process (``run_bot`` as a task, fast) or as
``python -m bot run`` (the real command, for restarts and ``kill -9``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.billing.sandbox import SandboxConfig, create_sandbox_app
from bot.runner import run_bot
from bot.settings import Settings, load_settings
from tests.support.sandbox import RunningSandbox
from tests.support.servers import serve_in_thread
from tests.telegram.fake_bot_api import TOKEN, Call, FakeBotApi, user

GROUP = -1001234567890
ALICE = user(111, "Alice", "alice")
BOB = user(222, "Bob", "bob")
CAROL = user(333, "Carol")
APPROVERS = "telegram:222,telegram:333"
ROOT = Path(__file__).resolve().parents[2]


async def eventually(
    check: Callable[[], Any], timeout: float = 15.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Telegram:
    api: FakeBotApi
    url: str  # what TELEGRAM_API_URL is set to

    def cards(self, chat_id: int) -> list[Call]:
        """The bot's messages that were sent with buttons, oldest first."""
        calls = self.api.sent("sendMessage", chat_id)
        return [call for call in calls if call.params.get("reply_markup")]

    def now(self, chat_id: int, call: Call) -> dict[str, Any]:
        """A sent message as the chat shows it now, after any edits."""
        return self.api.messages[(str(chat_id), call.result["message_id"])]

    def said(self, chat_id: int, needle: str) -> list[Call]:
        calls = self.api.sent("sendMessage", chat_id)
        return [call for call in calls if needle in call.params["shown"]]

    def buttons(self, chat_id: int, call: Call) -> dict[str, str]:
        """Label to callback data of a message's current keyboard."""
        markup = self.now(chat_id, call).get("reply_markup") or {}
        rows = markup.get("inline_keyboard", [])
        return {b["text"]: b["callback_data"] for row in rows for b in row}


@dataclass(frozen=True)
class Sandbox(RunningSandbox):
    """The sandbox handle, plus finding a session by what it sells."""

    def session_for(
        self, amount_cents: int | None = None, plan_id: int | None = None
    ) -> str | None:
        for session in self.state()["sessions"]:
            if amount_cents is not None and session["amount_cents"] == amount_cents:
                return str(session["id"])
            if plan_id is not None and session["plan_id"] == plan_id:
                return str(session["id"])
        return None


@pytest.fixture
def telegram() -> Iterator[Telegram]:
    api = FakeBotApi()
    with serve_in_thread(api.app()) as root:
        yield Telegram(api, root + "/bot")
        api.closing = True


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig.from_mapping({"rate_limits": False})
    with serve_in_thread(create_sandbox_app(config)) as root:
        yield Sandbox(root)


@pytest.fixture
def bot_env(telegram: Telegram, sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """The environment of ``paybot run`` against the fakes."""
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.url,
        "MODELSLAB_API_URL": sandbox.api_url,
        "MODELSLAB_TOKEN": "sandbox-token",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paybot.db'}",
        "PAYBOT_APPROVERS": APPROVERS,
        "PAYBOT_HTTP_PORT": str(free_port()),
        "PAYBOT_LOG_LEVEL": "INFO",
    }


def settings_from(env: dict[str, str]) -> Settings:
    values = {key.lower(): value for key, value in env.items()}
    return load_settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def running(env: dict[str, str], telegram: Telegram) -> AsyncIterator[None]:
    """``paybot run`` in this process until the block ends."""
    before = len(telegram.api.sent())
    task = asyncio.create_task(run_bot(settings_from(env)))
    try:
        await eventually(
            lambda: (
                task.done()
                or any(
                    call.method in ("getUpdates", "setWebhook")
                    for call in telegram.api.sent()[before:]
                )
            ),
            what="the bot to start",
        )
        if task.done():
            task.result()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops the bot."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_process(tmp_path: Path, telegram: Telegram) -> Iterator[Callable[..., Any]]:
    """Start ``python -m bot run`` with an environment; stopped after the test."""
    processes: list[BotProcess] = []

    async def start(env: dict[str, str]) -> BotProcess:
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "SLACK_", "PAYBOT_", "MODELSLAB_"))
        }
        log = tmp_path / f"bot-{len(processes)}.log"
        before = len(telegram.api.sent("getUpdates"))
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env={**base, **env, "PYTHONPATH": str(ROOT)},
            cwd=tmp_path,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        bot = BotProcess(process, log)
        processes.append(bot)
        await eventually(
            lambda: (
                process.poll() is not None
                or len(telegram.api.sent("getUpdates")) > before
            ),
            timeout=20,
            what="the bot process to poll",
        )
        assert process.poll() is None, bot.output()
        return bot

    yield start
    for bot in processes:
        bot.stop()
