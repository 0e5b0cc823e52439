"""Wiring: one database, one billing client, the engine and its workers."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from bot.balance_watch import BalanceWatch
from bot.billing.client import BillingClient
from bot.budget import CallBudget
from bot.chat import ChatAdapter, Inbound
from bot.database import open_database
from bot.deadlines import Deadlines
from bot.engine import Engine
from bot.outbox import OutboxWorker
from bot.payments import Payments
from bot.policy_file import load_policy
from bot.settings import Settings
from bot.watcher import DEFAULT_SCHEDULE, CheckoutWatcher
from storage import repo

log = logging.getLogger(__name__)

# Seconds between two messages in one chat: about one a second on Slack and
# Telegram keeps clear of their per-chat limits.
PACING = {"slack": 1.0, "telegram": 1.0, "console": 0.0}


def replica_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Paybot:
    """Everything but the chat platforms; adapters register themselves."""

    def __init__(
        self,
        settings: Settings,
        *,
        schedule: tuple[tuple[float, float], ...] = DEFAULT_SCHEDULE,
        billing: BillingClient | None = None,
    ) -> None:
        # A bad policy file stops start-up before anything else happens.
        self.policy = load_policy(settings)
        # Payments sends links to the payer of the settings; the rules name it.
        settings = settings.model_copy(update={"paybot_payer": self.policy.payer})
        self.settings = settings
        self.db = open_database(settings.database_url)
        token = (
            settings.modelslab_token.get_secret_value()
            if settings.modelslab_token
            else ""
        )
        self.billing = billing or BillingClient(settings.modelslab_api_url, token)
        self.budget = CallBudget(settings.paybot_billing_calls_per_minute)
        self.payments = Payments(self.db, self.billing, settings, self.budget)
        self.adapters: dict[str, ChatAdapter] = {}
        owner = replica_name()
        self.outbox = OutboxWorker(self.db, self.adapters, owner=owner, pacing=PACING)
        self.engine = Engine(
            self.db,
            self.billing,
            self.payments,
            settings,
            policy=self.policy,
            on_queued=self.outbox.wake,
        )
        self.deadlines = Deadlines(self.db, self.policy, on_queued=self.outbox.wake)
        self.balance_watch = BalanceWatch(
            self.db, self.billing, self.engine, self.policy
        )
        self.watcher = CheckoutWatcher(
            self.db,
            self.billing,
            self.payments,
            self.budget,
            owner=owner,
            schedule=schedule,
        )

    def add_adapter(self, adapter: ChatAdapter) -> Callable[[Inbound], Awaitable[None]]:
        """Register a platform; returns the function it feeds inbound events to."""
        self.adapters[adapter.platform] = adapter
        return self.engine.handle

    async def run_workers(self, stop: asyncio.Event) -> None:
        await asyncio.gather(
            self.watcher.run(stop),
            self.outbox.run(stop),
            self.deadlines.run(stop),
            self.balance_watch.run(stop),
        )

    async def settle(self, patience: float = 5.0) -> None:
        """Finish the work already started: links being made, queued messages.

        Messages the background worker is sending right now count as queued,
        so this waits (up to ``patience`` seconds) until the outbox is empty.
        """
        await self.engine.drain()
        deadline = asyncio.get_running_loop().time() + patience
        while await self.outbox.deliver_due() or await self._backlog():
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.01)

    async def _backlog(self) -> int:
        return await self.db.read_async(repo.count_pending_messages)

    async def aclose(self) -> None:
        await self.engine.drain()
        await self.billing.aclose()
        self.db.dispose()
