"""What the wallet looks like right now, for the approvers' card."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bot.billing.client import BillingClient
from bot.errors import BillingError

log = logging.getLogger(__name__)

T = TypeVar("T")

SPEND_WINDOW = timedelta(days=30)
PAGE_SIZE = 100
MAX_PAGES = 10
# A card without the balance beats a request that waits on a slow API.
CONTEXT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class WalletContext:
    """None where billing could not tell in time."""

    balance_cents: int | None
    spent_30d_cents: int | None


async def wallet_context(billing: BillingClient, now: datetime) -> WalletContext:
    balance, spent = await asyncio.gather(
        _in_time(_balance(billing)), _in_time(spent_since(billing, now - SPEND_WINDOW))
    )
    return WalletContext(balance, spent)


async def _balance(billing: BillingClient) -> int:
    return (await billing.wallet_balance()).balance_cents


async def spent_since(billing: BillingClient, since: datetime) -> int:
    """The wallet's debits since ``since``, from its transactions."""
    total = 0
    for page_number in range(MAX_PAGES):
        page = await billing.wallet_transactions(
            type="debit", limit=PAGE_SIZE, offset=page_number * PAGE_SIZE
        )
        total += sum(
            abs(item.amount_cents)
            for item in page.items
            if item.created_at is not None and item.created_at >= since
        )
        if len(page.items) < PAGE_SIZE:
            break
    return total


async def _in_time(call: Awaitable[T]) -> T | None:
    try:
        return await asyncio.wait_for(call, CONTEXT_TIMEOUT_SECONDS)
    except (BillingError, TimeoutError) as exc:
        log.warning("wallet context unavailable: %s", exc)
        return None
