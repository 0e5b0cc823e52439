"""Watch the wallet balance and ask for a top-up when it runs low.

The request it posts is an ordinary one, made by "paybot" in the chat the
rules name, so the same approvals, limits and budgets apply. While one is
open, no second one is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.billing.client import BillingClient
from bot.engine import LOW_BALANCE_REQUESTER, Engine
from bot.errors import BillingError
from bot.policy import Policy
from bot.states import OPEN_STATES
from storage import repo
from storage.db import Database

log = logging.getLogger(__name__)


class BalanceWatch:
    def __init__(
        self, db: Database, billing: BillingClient, engine: Engine, policy: Policy
    ) -> None:
        self.db = db
        self.billing = billing
        self.engine = engine
        self.policy = policy

    async def run(self, stop: asyncio.Event) -> None:
        low = self.policy.low_balance
        if low is None:
            return
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), low.check_every.total_seconds())

    async def check(self) -> int | None:
        """Ask for a top-up if the balance is low; returns the request id."""
        low = self.policy.low_balance
        if low is None:
            return None
        try:
            balance = (await self.billing.wallet_balance()).balance_cents
        except BillingError as exc:
            log.warning("balance check failed: %s", exc)
            return None
        if balance >= low.below_cents:
            return None
        already = await self.db.read_async(
            lambda s: repo.requests_by(s, LOW_BALANCE_REQUESTER, OPEN_STATES)
        )
        if already:
            return None
        log.info("wallet balance %d cents is low; asking for a top-up", balance)
        return await self.engine.ask_for_topup(low.chat, low.topup_cents, balance)
