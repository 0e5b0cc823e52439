"""Several bot processes on one PostgreSQL database share the work safely."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from bot.billing.client import BillingClient
from bot.states import State
from storage.db import Database
from storage.migrate import upgrade
from tests.conftest import reset_postgres
from tests.support.rows import add_link, add_topup
from tests.support.sandbox import RunningSandbox

ROOT = Path(__file__).resolve().parent.parent
CHECKOUTS = 200


async def open_checkouts(sandbox: RunningSandbox, url: str) -> list[str]:
    """Payment links made at the sandbox and stored as open checkouts."""
    billing = BillingClient(sandbox.api_url, "sandbox-token")
    links = [
        await billing.create_payment_link(
            "fund", idempotency_key=f"replica-{n}", amount_cents=1000 + n
        )
        for n in range(CHECKOUTS)
    ]
    await billing.aclose()
    database = Database(url)

    def store(session: Session) -> None:
        for number, link in enumerate(links):
            # Their cards are already in the chat.
            request = add_topup(
                session, number, State.LINK_OPEN, 1000 + number, card_ref=f"c{number}"
            )
            add_link(session, request, link)

    database.run_write(store)
    database.dispose()
    return [link.session_id for link in links]


def start_replica(
    sandbox: RunningSandbox, folder: Path, url: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.support.crashbot",
        "--database",
        url,
        "--api",
        sandbox.api_url,
        "--out",
        str(folder / "chat.jsonl"),
        "--poll-log",
        str(folder / "polls.jsonl"),
        "--until",
        "Wallet funded",
        "--count",
        str(CHECKOUTS),
    ]
    return subprocess.Popen(command, cwd=ROOT, text=True)


def overlapping_polls(log: Path) -> list[str]:
    """Sessions that two processes were confirming at the same moment."""
    calls: dict[str, list[tuple[float, float, int]]] = {}
    for line in log.read_text().splitlines():
        started, ended, pid, session = json.loads(line)
        calls.setdefault(session, []).append((started, ended, pid))
    clashes = []
    for session, spans in calls.items():
        spans.sort()
        for (_, end, pid), (start, _, other) in itertools.pairwise(spans):
            if other != pid and start < end:
                clashes.append(session)
    return clashes


async def test_three_replicas_report_each_payment_once_and_survive_a_death(
    sandbox: RunningSandbox, tmp_path: Path, postgres_url: str
) -> None:
    reset_postgres(postgres_url)
    upgrade(postgres_url)
    sessions = await open_checkouts(sandbox, postgres_url)
    (tmp_path / "chat.jsonl").touch()
    replicas = [start_replica(sandbox, tmp_path, postgres_url) for _ in range(3)]

    order = random.Random(5).sample(sessions, len(sessions))
    for number, session_id in enumerate(order):
        sandbox.pay(session_id)
        if number == CHECKOUTS // 3:
            replicas[0].send_signal(signal.SIGKILL)  # its claims must move on
        await asyncio.sleep(random.Random(number).uniform(0, 0.02))

    for replica in replicas[1:]:
        assert replica.wait(timeout=120) == 0
    replicas[0].wait(timeout=5)
    chat = (tmp_path / "chat.jsonl").read_text()
    reported = re.findall(r"Wallet funded: .*?\(request #(\d+)\)", chat)
    assert len(set(reported)) == CHECKOUTS  # every payment reported
    assert len(reported) <= CHECKOUTS + 1  # the killed one may repeat one send
    assert sandbox.state()["balance_cents"] == 7500 + sum(
        1000 + n for n in range(CHECKOUTS)
    )
    assert overlapping_polls(tmp_path / "polls.jsonl") == []
