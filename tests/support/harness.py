"""A paybot wired to the sandbox and a recording chat, driven step by step."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.app import Paybot
from bot.billing.client import BillingClient
from bot.chat import Inbound
from bot.settings import Settings, load_settings
from storage import repo
from storage.models import Checkout, PaymentRequest, utcnow
from tests.support.chat import RecordingAdapter, pressed, said
from tests.support.sandbox import RunningSandbox

# Every open checkout is due on every tick, so a test decides when polls happen.
EVERY_TICK = ((float("inf"), 0.0),)


def make_settings(
    sandbox: RunningSandbox, database_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "modelslab_api_url": sandbox.api_url,
        "modelslab_token": "sandbox-token",
        "database_url": database_url,
        "paybot_approvers": "console:bob,console:carol",
        "paybot_billing_calls_per_minute": 1000,
        "paybot_allowed_chats": "",
        "paybot_payer": None,
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class ShiftedClock:
    """The real time plus an offset a test can move forward."""

    offset: timedelta = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


async def no_wait(_seconds: float) -> None:
    """Retry back-off without the waiting, so fault tests run fast."""
    await asyncio.sleep(0)


@dataclass
class Harness:
    paybot: Paybot
    chat: RecordingAdapter
    sandbox: RunningSandbox
    clock: ShiftedClock

    @classmethod
    def start(
        cls,
        settings: Settings,
        sandbox: RunningSandbox,
        billing: BillingClient | None = None,
    ) -> Harness:
        billing = billing or BillingClient(
            settings.modelslab_api_url, "sandbox-token", sleep=no_wait
        )
        paybot = Paybot(settings, schedule=EVERY_TICK, billing=billing)
        chat = RecordingAdapter()
        paybot.add_adapter(chat)
        # Tests poll in tight loops; the call budget's rate is tested alone.
        paybot.budget.capacity = paybot.budget.tokens = 1000.0
        clock = ShiftedClock()
        paybot.watcher.clock = paybot.payments.clock = clock
        return cls(paybot, chat, sandbox, clock)

    async def send(self, inbound: Inbound) -> None:
        await self.paybot.engine.handle(inbound)
        await self.paybot.settle()

    async def say(self, person: str, text: str, **kwargs: Any) -> None:
        await self.send(said(person, text, **kwargs))

    async def press(
        self, person: str, action: str, request_id: int, **kwargs: Any
    ) -> None:
        ref = self.request(request_id).ref
        await self.send(pressed(person, action, ref, **kwargs))

    async def poll(self) -> int:
        """One watcher pass over every open checkout, then deliver."""
        polled = await self.paybot.watcher.tick()
        await self.paybot.settle()
        return polled

    def request(self, request_id: int) -> PaymentRequest:
        request = self.paybot.db.run_read(lambda s: repo.get_request(s, request_id))
        assert request is not None, f"no request #{request_id}"
        return request

    def checkout(self, request_id: int) -> Checkout:
        checkout = self.paybot.db.run_read(
            lambda s: repo.checkout_for_request(s, request_id)
        )
        assert checkout is not None, f"no checkout for #{request_id}"
        return checkout

    async def approved_link(self, text: str = "topup 50 GPU batch") -> Checkout:
        """alice asks, bob approves; returns the open checkout."""
        await self.say("alice", text)
        request_id = max(self.request_ids())
        await self.say("bob", f"approve {request_id}")
        return self.checkout(request_id)

    def request_ids(self) -> list[int]:
        return self.paybot.db.run_read(
            lambda s: [r.id for r in repo.requests_in_any_state(s) if r.id is not None]
        )

    async def aclose(self) -> None:
        await self.paybot.aclose()
