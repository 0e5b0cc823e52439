"""Benchmark: paybot's checkout watcher next to the polling loop that
ModelsLab's guide shows (every 5 s, give up after 300 s), on one simulated
population of payers. Both talk HTTP (in process, through ASGI) to a sandbox
that enforces the documented rate limits. Time is virtual, so a day of
payers passes in about a minute.

Then, on SQLite: how long a restarted bot takes to resume watching 10,000
open checkouts, and its memory while it does.

    python -m tests.bench.watcher [--payers N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bot.billing.client import BillingClient
from bot.billing.sandbox import API_PREFIX, SandboxConfig, create_sandbox_app
from bot.budget import CallBudget
from bot.errors import BillingError
from bot.payments import Payments, link_key
from bot.settings import load_settings
from bot.states import State
from bot.watcher import CheckoutWatcher
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Checkout
from tests.support.rows import add_checkout, add_topup

TOKEN = "sandbox-token"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()
EARLY = 600.0  # payments in the first ten minutes have the tight target
OPEN_CHECKOUTS = 10_000
KINDS = ("early", "late", "hours", "never")


class VirtualClock:
    def __init__(self) -> None:
        self.now = START

    def unix(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class Payer:
    number: int
    kind: str  # "early" (< 3 min), "late" (5-30 min), "hours", "never"
    link_at: float
    pays_after: float | None
    session_id: str = ""
    detected_at: float | None = None

    @property
    def paid_at(self) -> float | None:
        return None if self.pays_after is None else self.link_at + self.pays_after


def population(size: int, seed: int) -> list[Payer]:
    """Links spread over a working day; most pay fast, some late, some never."""
    rng = random.Random(seed)
    payers = []
    for number in range(size):
        roll = rng.random()
        if roll < 0.65:
            kind, after = "early", rng.uniform(10, 180)
        elif roll < 0.80:
            kind, after = "late", rng.uniform(300, 1800)
        elif roll < 0.90:
            kind, after = "hours", rng.uniform(3600, 20 * 3600)
        else:
            kind, after = "never", None
        payers.append(Payer(number, kind, START + rng.uniform(0, 8 * 3600), after))
    return payers


LinkMaker = Callable[[Payer], Awaitable[str]]


def fresh_copy(payers: list[Payer]) -> list[Payer]:
    return [Payer(p.number, p.kind, p.link_at, p.pays_after) for p in payers]


class Simulation:
    """The payers' side: links appear and get paid at their moments."""

    def __init__(self, payers: list[Payer], confirm_bucket: str = "billing") -> None:
        self.clock = VirtualClock()
        config = SandboxConfig.from_mapping({"confirm_bucket": confirm_bucket})
        app = create_sandbox_app(config, clock=self.clock.unix)
        transport = httpx.ASGITransport(app=app)
        self.control = httpx.AsyncClient(transport=transport, base_url="http://sandbox")
        self.billing = BillingClient(
            "http://sandbox" + API_PREFIX,
            TOKEN,
            transport=transport,
            sleep=_no_wait,
            clock=self.clock.unix,
        )
        self.payers = payers
        self.events: list[tuple[float, int, str]] = [
            (p.link_at, p.number, "link") for p in payers
        ]
        heapq.heapify(self.events)

    def next_event(self) -> float:
        return self.events[0][0] if self.events else float("inf")

    async def happen(self, on_link: LinkMaker) -> None:
        """Everything the payers do up to now."""
        while self.events and self.events[0][0] <= self.clock.now:
            _, number, what = heapq.heappop(self.events)
            payer = self.payers[number]
            if what == "link":
                payer.session_id = await on_link(payer)
                if not payer.session_id:  # refused for now: ask again shortly
                    heapq.heappush(self.events, (self.clock.now + 5, number, what))
                    continue
                # A payer who was slow to get a link pays that much later.
                pays_at = max(payer.paid_at or 0, self.clock.now + 1)
                payer.link_at = self.clock.now
                if payer.pays_after is not None:
                    heapq.heappush(self.events, (pays_at, number, "pay"))
            else:
                await self.control.post(f"/_sandbox/sessions/{payer.session_id}/pay")

    def confirm_calls(self) -> int:
        return self.billing.call_outcomes.total() - len(self.payers)

    async def close(self) -> None:
        await self.billing.aclose()
        await self.control.aclose()


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


async def run_baseline(payers: list[Payer], bucket: str) -> dict[str, str]:
    """Poll every 5 s and give up after 300 s, one loop per payer."""
    sim = Simulation(payers, bucket)
    polls: dict[int, float] = {}

    async def make_link(payer: Payer) -> str:
        try:
            link = await sim.billing.create_payment_link(
                "fund", idempotency_key=f"baseline-{payer.number}", amount_cents=2000
            )
        except BillingError:
            return ""
        polls[payer.number] = sim.clock.now
        return link.session_id

    while sim.events or polls:
        sim.clock.now = min(sim.next_event(), min(polls.values(), default=float("inf")))
        await sim.happen(make_link)
        for number in [n for n, at in polls.items() if at <= sim.clock.now]:
            payer = payers[number]
            outcome = await sim.billing.confirm_checkout("fund", payer.session_id)
            if outcome.status == "paid":
                payer.detected_at = sim.clock.now
                del polls[number]
            elif sim.clock.now - payer.link_at >= 300:
                del polls[number]
            else:
                polls[number] = sim.clock.now + 5
    figures = summarise(payers, sim)
    await sim.close()
    return figures


async def run_paybot(
    payers: list[Payer], database_url: str, bucket: str
) -> dict[str, str]:
    """The real watcher, payments and budget, on the virtual clock."""
    sim = Simulation(payers, bucket)
    upgrade(database_url)
    db = Database(database_url)
    settings = load_settings(database_url=database_url, modelslab_token=TOKEN)
    budget = CallBudget(
        settings.paybot_billing_calls_per_minute,
        clock=sim.clock.unix,
        wall_clock=sim.clock.unix,
    )
    payments = Payments(db, sim.billing, settings, budget)
    payments.clock = sim.clock.utc
    watcher = CheckoutWatcher(
        db, sim.billing, payments, budget, owner="bench", clock=sim.clock.utc
    )

    requests: dict[int, int] = {}

    async def make_link(payer: Payer) -> str:
        if payer.number not in requests:
            requests[payer.number] = db.run_write(
                lambda s: _approved_request(s, payer.number)
            )
        request_id = requests[payer.number]
        await payments.create_link(request_id)
        checkout = db.run_read(lambda s: repo.checkout_for_request(s, request_id))
        return checkout.session_id if checkout else ""

    while sim.events or db.run_read(repo.count_open_checkouts):
        await sim.happen(make_link)
        await watcher.tick()
        sim.clock.now = min(sim.next_event(), _next_poll(db, sim, budget))
    _detections(db, payers)
    figures = summarise(payers, sim)
    await sim.close()
    db.dispose()
    return figures


def _approved_request(session: Session, number: int) -> int:
    request = add_topup(session, number, State.APPROVED)
    request.link_key = link_key(request)
    return request.id or 0


def _next_poll(db: Database, sim: Simulation, budget: CallBudget) -> float:
    """When the watcher has something to do next."""
    due = db.run_read(repo.earliest_poll)
    if due is None:
        return float("inf")
    at = max(due.timestamp(), sim.clock.now + budget.seconds_until_available())
    return max(at, sim.clock.now + 0.05)


def _detections(db: Database, payers: list[Payer]) -> None:
    by_session = {p.session_id: p for p in payers}
    for checkout in db.run_read(lambda s: list(s.exec(select(Checkout)))):
        payer = by_session.get(checkout.session_id)
        if payer and checkout.status == "paid" and checkout.settled_at:
            payer.detected_at = checkout.settled_at.timestamp()


def summarise(payers: list[Payer], sim: Simulation) -> dict[str, str]:
    paid = [p for p in payers if p.paid_at is not None]
    detected = [p for p in paid if p.detected_at is not None]
    early = [p for p in detected if (p.pays_after or 0) <= EARLY]
    delays = sorted((p.detected_at or 0) - (p.paid_at or 0) for p in early)
    late = [p for p in paid if (p.pays_after or 0) > EARLY]
    late_found = [p for p in late if p.detected_at is not None]
    return {
        "payments detected": f"{len(detected)} of {len(paid)}",
        "delay mean, paid in 10 min (s)": f"{statistics.fmean(delays):.1f}",
        "delay p95, paid in 10 min (s)": f"{_p95(delays):.1f}",
        "delay max, paid in 10 min (s)": f"{max(delays, default=0):.1f}",
        "confirm calls per detected payment": (
            f"{sim.confirm_calls() / max(len(detected), 1):.1f}"
        ),
        "late payers detected": f"{len(late_found)} of {len(late)}",
        "429 answers": str(sim.billing.call_outcomes.get("429", 0)),
    }


def _p95(values: list[float]) -> float:
    return (
        values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else 0.0
    )


def resume_figures(folder: Path) -> dict[str, str]:
    """Fill SQLite with open checkouts, then time a fresh process resuming.

    The time runs from starting the process (interpreter and imports
    included) to the end of its first poll of due checkouts.
    """
    url = f"sqlite:///{folder / 'resume.db'}"
    upgrade(url)
    db = Database(url)
    db.run_write(lambda s: _many_open_checkouts(s, OPEN_CHECKOUTS))
    db.dispose()
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.watcher", "--resume-child", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    child.stdout.readline()  # "polling" after the first poll
    resumed = time.perf_counter() - started
    peak = json.loads(child.stdout.readline())["peak_rss_mb"]
    child.wait(timeout=60)
    return {
        f"resume watching {OPEN_CHECKOUTS:,} open checkouts (s)": f"{resumed:.2f}",
        f"peak memory with {OPEN_CHECKOUTS:,} open checkouts (MB)": f"{peak:.0f}",
    }


def _many_open_checkouts(session: Session, count: int) -> None:
    now = datetime.now(UTC)
    for number in range(count):
        request = add_topup(session, number, State.LINK_OPEN)
        add_checkout(
            session,
            request,
            f"cs_test_bench_{number}",
            now + timedelta(hours=12),
            created_at=now - timedelta(minutes=number % 600),
        )


async def resume_child(url: str) -> None:
    """A restarted bot: open the database, claim and poll what is due."""
    sim = Simulation([])
    sim.clock.now = time.time()
    upgrade(url)
    db = Database(url)
    settings = load_settings(database_url=url, modelslab_token=TOKEN)
    budget = CallBudget(settings.paybot_billing_calls_per_minute)
    payments = Payments(db, sim.billing, settings, budget)
    watcher = CheckoutWatcher(db, sim.billing, payments, budget, owner="resume")
    assert await watcher.tick() > 0
    print("polling", flush=True)
    for _ in range(20):  # keep working a while so memory reflects steady work
        budget.tokens = budget.capacity
        await watcher.tick()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": peak_kb / 1024}), flush=True)
    await sim.close()


def table(columns: dict[str, dict[str, str]]) -> str:
    names = list(columns)
    rows = list(next(iter(columns.values())))
    width = max(len(row) for row in rows)
    lines = ["| " + " | ".join(["figure".ljust(width), *names]) + " |"]
    lines.append(
        "|" + "|".join("-" * (len(c) + 2) for c in ["x" * width, *names]) + "|"
    )
    for row in rows:
        cells = [columns[name].get(row, "").rjust(len(name)) for name in names]
        lines.append("| " + " | ".join([row.ljust(width), *cells]) + " |")
    return "\n".join(lines)


async def main(payers: int, seed: int) -> None:
    people = population(payers, seed)
    kinds = {kind: sum(p.kind == kind for p in people) for kind in KINDS}
    print(f"{payers} payers (seed {seed}): {kinds}")
    with tempfile.TemporaryDirectory(prefix="paybot-bench-") as scratch:
        folder = Path(scratch)
        for bucket, limit in (("billing", 15), ("general", 120)):
            started = time.perf_counter()
            url = f"sqlite:///{folder / bucket}.db"
            ours = await run_paybot(fresh_copy(people), url, bucket)
            baseline = await run_baseline(fresh_copy(people), bucket)
            took = time.perf_counter() - started
            print(
                f"\nconfirm-checkout limited to {limit} calls a minute "
                f"(simulated in {took:.0f} s):\n"
            )
            print(table({"paybot watcher": ours, "every 5 s for 300 s": baseline}))
        print()
        for name, value in resume_figures(folder).items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--resume-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.resume_child:
        asyncio.run(resume_child(args.resume_child))
    else:
        asyncio.run(main(args.payers, args.seed))
