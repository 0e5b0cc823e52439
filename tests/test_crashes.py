"""kill -9 at each step of the flow, then a restart: nothing lost, nothing twice."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.sandbox import RunningSandbox

ROOT = Path(__file__).resolve().parent.parent
ASK = ["--say", "alice: topup 20 crash test", "--say", "bob: approve 1"]


class Bot:
    def __init__(self, sandbox: RunningSandbox, folder: Path) -> None:
        self.sandbox = sandbox
        self.out = folder / "chat.jsonl"
        self.out.touch()
        self.database = f"sqlite:///{folder / 'paybot.db'}"

    def start(self, *extra: str) -> subprocess.Popen[str]:
        command = [
            sys.executable,
            "-m",
            "tests.support.crashbot",
            "--database",
            self.database,
            "--api",
            self.sandbox.api_url,
            "--out",
            str(self.out),
            *extra,
        ]
        return subprocess.Popen(command, cwd=ROOT, text=True)

    def said(self, text: str) -> int:
        return self.out.read_text().count(text)

    def pay_when_linked(self, deadline: float = 20) -> None:
        limit = time.monotonic() + deadline
        while not self.sandbox.state()["sessions"]:
            assert time.monotonic() < limit, "no payment link was made"
            time.sleep(0.05)
        self.sandbox.pay(self.sandbox.state()["sessions"][0]["id"])


def finish(process: subprocess.Popen[str]) -> int:
    return process.wait(timeout=60)


@pytest.mark.parametrize("step", ["confirmed", "recorded", "sent"])
def test_kill_after_payment_then_restart_reports_once(
    sandbox: RunningSandbox, tmp_path: Path, step: str
) -> None:
    bot = Bot(sandbox, tmp_path)
    first = bot.start(*ASK, "--crash", step, "--until", "never said")
    bot.pay_when_linked()
    assert finish(first) == -9  # killed at the step, not exited

    second = bot.start("--until", "Wallet funded")
    assert finish(second) == 0
    reports = bot.said("Wallet funded: $20.00")
    # A message sent but not yet marked sent may go out once more.
    assert reports == (2 if step == "sent" else 1)
    assert sandbox.state()["balance_cents"] == 7500 + 2000
    assert len(sandbox.state()["sessions"]) == 1


def test_kill_after_the_link_is_made_but_not_stored(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    bot = Bot(sandbox, tmp_path)
    first = bot.start(*ASK, "--crash", "link-created", "--until", "never said")
    assert finish(first) == -9
    assert bot.said("Payment link for #1") == 0

    second = bot.start("--until", "Wallet funded")
    bot.pay_when_linked()
    assert finish(second) == 0
    assert bot.said("Payment link for #1") == 1
    assert bot.said("Wallet funded: $20.00") == 1
    assert len(sandbox.state()["sessions"]) == 1  # the same key, the same link
