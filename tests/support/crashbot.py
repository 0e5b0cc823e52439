"""A paybot process for crash tests: it can kill itself at a chosen step.

    python -m tests.support.crashbot --database URL --api URL --out FILE
        [--say "alice: topup 20" ...] [--crash STEP] [--until TEXT [--count N]]
    [--poll-log FILE]

Messages the bot delivers are appended to FILE as JSON lines. With
``--crash``, the process sends itself SIGKILL at that step, so nothing is
flushed or cleaned up, exactly as with ``kill -9``:

- ``link-created``: ModelsLab made the payment link; it is not stored yet.
- ``confirmed``: confirm-checkout said paid; nothing is committed yet.
- ``recorded``: the payment is committed; its report is not sent yet.
- ``sent``: the report reached the chat; it is not marked sent yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import Paybot
from bot.billing.client import BillingClient
from bot.chat import Destination, Inbound, Message
from bot.settings import load_settings
from storage import repo

FAST = ((float("inf"), 0.2),)
LEASE = timedelta(seconds=2)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class FileChat:
    platform = "console"

    def __init__(self, path: Path, crash: str | None) -> None:
        self.path = path
        self.crash = crash

    def _write(self, kind: str, message: Message) -> str:
        ref = uuid.uuid4().hex[:8]
        line = json.dumps({"kind": kind, "ref": ref, "text": message.plain()})
        with self.path.open("a") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        if self.crash == "sent" and "Wallet funded" in message.text:
            die()
        return ref

    async def post(self, where: Destination, message: Message) -> str:
        return self._write("post", message)

    async def edit(
        self, where: Destination, message_ref: str, message: Message
    ) -> None:
        self._write("edit", message)

    async def ephemeral(self, where: Destination, message: Message) -> None:
        self._write("ephemeral", message)

    async def direct(self, where: Destination, message: Message) -> str:
        return self._write("direct", message)

    async def delete(self, where: Destination, message_ref: str) -> None:
        self._write("delete", Message(text=message_ref))

    def start_link(self, payload: str) -> str | None:
        return None


class CrashingBilling(BillingClient):
    crash: str | None = None
    poll_log: Path | None = None  # each confirm call: start, end, pid, session

    async def create_payment_link(self, *args: Any, **kwargs: Any) -> Any:
        link = await super().create_payment_link(*args, **kwargs)
        if self.crash == "link-created":
            die()
        return link

    async def confirm_checkout(self, *args: Any, **kwargs: Any) -> Any:
        started = time.time()
        outcome = await super().confirm_checkout(*args, **kwargs)
        if self.poll_log is not None:
            entry = [started, time.time(), os.getpid(), args[1]]
            with self.poll_log.open("a") as log:
                log.write(json.dumps(entry) + "\n")
        if self.crash == "confirmed" and outcome.status == "paid":
            die()
        return outcome


async def done(paybot: Paybot, out: Path, until: str, count: int) -> bool:
    """The awaited text was said often enough and nothing is left to send."""
    if out.read_text().count(until) < count:
        return False
    return await paybot.db.read_async(repo.count_pending_messages) == 0


async def main(args: argparse.Namespace) -> None:
    settings = load_settings(
        database_url=args.database,
        modelslab_api_url=args.api,
        modelslab_token="sandbox-token",
        paybot_approvers="console:bob",
        paybot_billing_calls_per_minute=600,
    )
    billing = CrashingBilling(args.api, "sandbox-token")
    billing.crash = args.crash
    billing.poll_log = Path(args.poll_log) if args.poll_log else None
    paybot = Paybot(settings, schedule=FAST, billing=billing)
    # A restarted process takes over the dead one's claims after the lease.
    paybot.watcher.lease = paybot.outbox.lease = LEASE
    out = Path(args.out)
    handle = paybot.add_adapter(FileChat(out, args.crash))
    if args.crash == "recorded":
        record = paybot.payments.record

        async def record_then_die(*a: Any, **k: Any) -> bool:
            settled = await record(*a, **k)
            if settled:
                die()
            return settled

        paybot.payments.record = record_then_die  # type: ignore[method-assign]
    for line in args.say:
        person, _, text = line.partition(": ")
        await handle(Inbound("console", "team", person, person, uuid.uuid4().hex, text))
    stop = asyncio.Event()
    workers = asyncio.create_task(paybot.run_workers(stop))
    while not await done(paybot, out, args.until, args.count):
        await asyncio.sleep(0.05)
    stop.set()
    await workers
    await paybot.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--say", action="append", default=[])
    parser.add_argument("--crash")
    parser.add_argument("--until", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--poll-log")
    asyncio.run(main(parser.parse_args()))
