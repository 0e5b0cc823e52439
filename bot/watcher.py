"""The checkout watcher: polls confirm-checkout for every open checkout.

Young checkouts and ``paid`` nudges are polled often, older ones less and
less, all within one shared call budget; polling goes on until a checkout is
paid or past its ``expires_at`` plus a grace period. Everything it needs is
in the database, so it resumes where it was after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.billing.client import BillingClient
from bot.billing.models import CheckoutOutcome
from bot.budget import CallBudget
from bot.outage import Outage
from bot.payments import Payments, purpose_of
from bot.states import State
from storage import repo
from storage.db import Database
from storage.models import Checkout, utcnow

log = logging.getLogger(__name__)

# Long enough for one call to finish; a replica that dies holds its claims
# no longer than this.
LEASE = timedelta(seconds=30)
LINK_SWEEP_SECONDS = 5.0
PRUNE_SECONDS = 3600.0
# Chat platforms redeliver within minutes (Slack) or a day (Telegram); a
# week of dedupe keys covers both with room to spare.
KEEP_INBOUND_KEYS = timedelta(days=7)
MAX_BACKOFF_SECONDS = 300.0
# (age in seconds up to which it applies, seconds between polls). Most
# payers pay within minutes of getting the link, so those minutes are polled
# closely; after that the chance of a payment in any given minute is small
# and polls thin out, down to one every ten minutes after two hours, which
# keeps a day-long link to a couple of hundred calls.
DEFAULT_SCHEDULE: tuple[tuple[float, float], ...] = (
    (180, 4),
    (600, 6),
    (1800, 30),
    (7200, 120),
    (float("inf"), 600),
)


def poll_interval(
    age_seconds: float, schedule: tuple[tuple[float, float], ...]
) -> float:
    for up_to, interval in schedule:
        if age_seconds <= up_to:
            return interval
    return schedule[-1][1]


class CheckoutWatcher:
    def __init__(
        self,
        db: Database,
        billing: BillingClient,
        payments: Payments,
        budget: CallBudget,
        *,
        owner: str,
        schedule: tuple[tuple[float, float], ...] = DEFAULT_SCHEDULE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.billing = billing
        self.payments = payments
        self.budget = budget
        self.owner = owner
        self.lease = LEASE
        self.schedule = schedule
        self.clock = clock
        self.outage = Outage()
        self.link_failures: dict[int, int] = {}
        self.link_retry_at: dict[int, float] = {}
        self.wakeup = asyncio.Event()
        self.lag_seconds = 0.0
        self.outcomes: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = next_prune = 0.0
        while not stop.is_set():
            if loop.time() >= next_sweep:
                await self.sweep_links()
                next_sweep = loop.time() + LINK_SWEEP_SECONDS
            if loop.time() >= next_prune:
                await self.forget_old_inbound_keys()
                next_prune = loop.time() + PRUNE_SECONDS
            await self.tick()
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=0.5)

    async def forget_old_inbound_keys(self) -> None:
        cutoff = self.clock() - KEEP_INBOUND_KEYS
        await self.db.write_async(lambda s: repo.forget_inbound_before(s, cutoff))

    async def tick(self) -> int:
        """Poll the checkouts due now, as many as the budget allows."""
        now = self.clock()
        limit = self.outage.allowance(now, self.budget.available())
        if limit < 1:
            return 0
        due = await self.db.write_async(
            lambda s: repo.claim_due_checkouts(
                s, now, self.owner, self.lease, limit, self._urgency(now)
            )
        )
        if due:
            oldest = min(checkout.next_poll_at for checkout in due)
            self.lag_seconds = max(0.0, (now - oldest).total_seconds())
        for checkout in due:
            await self.poll(checkout)
        return len(due)

    def _urgency(self, now: datetime) -> Callable[[Checkout], float]:
        """Rank for a claim: nudges, then how late a poll is for its interval.

        A young checkout a few seconds late outranks an old one a few
        seconds late, yet an old checkout left waiting long enough comes
        first, so nothing starves while the budget is short.
        """

        def rank(checkout: Checkout) -> float:
            if checkout.nudged:
                return float("-inf")
            age = (now - checkout.created_at).total_seconds()
            late = (now - checkout.next_poll_at).total_seconds()
            return -late / max(poll_interval(age, self.schedule), 0.001)

        return rank

    async def poll(self, checkout: Checkout) -> None:
        if self.payments.is_past_grace(checkout, self.clock()):
            await self.payments.record(checkout, _expired("past expires_at and grace"))
            return
        if not self.budget.try_take(urgent=checkout.nudged):
            await self._reschedule(checkout, 1.0)
            return
        outcome = await self.billing.confirm_checkout(
            purpose_of(checkout),
            checkout.session_id,
            expires_at=checkout.expires_at,
        )
        await self._learn(outcome)
        if await self.payments.record(checkout, outcome):
            log.info("checkout %s settled: %s", checkout.session_id, outcome.status)
            return
        await self._reschedule(checkout, self._next_interval(checkout, outcome))

    async def _learn(self, outcome: CheckoutOutcome) -> None:
        self.outcomes[outcome.status] += 1
        self.budget.observe(self.billing.rate_limit)
        if outcome.status == "transient":
            self.outage.failed(self.clock())
            return
        if outcome.status == "rate_limited":
            self.budget.pause(outcome.retry_after or 10.0)
        elif outcome.status == "auth_failed":
            log.error("ModelsLab rejected the token; check MODELSLAB_TOKEN")
            self.budget.pause(60.0)
        if self.outage.recovered():
            log.info("billing answers again; resuming every checkout")
            now = self.clock()
            await self.db.write_async(lambda s: repo.make_checkouts_due(s, now))

    def _next_interval(self, checkout: Checkout, outcome: CheckoutOutcome) -> float:
        age = (self.clock() - checkout.created_at).total_seconds()
        interval = poll_interval(age, self.schedule)
        return max(interval, outcome.retry_after or 0.0)

    async def _reschedule(self, checkout: Checkout, seconds: float) -> None:
        now = self.clock()

        def work(session: Session) -> None:
            row = session.get(Checkout, checkout.id)
            if row is None or row.status != "open":
                return
            row.next_poll_at = now + timedelta(seconds=seconds)
            row.last_polled_at = now
            row.polls += 1
            row.nudged = False
            row.lease_owner = row.lease_until = None
            session.add(row)

        await self.db.write_async(work)

    async def sweep_links(self) -> None:
        """Retry payment links that billing could not create earlier."""
        approved = await self.db.read_async(
            lambda s: repo.requests_in_state(s, State.APPROVED)
        )
        loop = asyncio.get_running_loop()
        for request in approved:
            assert request.id is not None
            if self.link_retry_at.get(request.id, 0.0) > loop.time():
                continue
            if await self.payments.create_link(request.id):
                self.link_failures.pop(request.id, None)
                self.link_retry_at.pop(request.id, None)
                continue
            attempt = self.link_failures[request.id] = (
                self.link_failures.get(request.id, 0) + 1
            )
            delay = min(LINK_SWEEP_SECONDS * 2.0**attempt, MAX_BACKOFF_SECONDS)
            self.link_retry_at[request.id] = loop.time() + delay


def _expired(detail: str) -> CheckoutOutcome:
    return CheckoutOutcome(status="expired", detail=detail)
