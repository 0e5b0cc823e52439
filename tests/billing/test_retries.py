"""Which calls are retried, how often and after how long."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.billing.client import BillingClient
from bot.errors import (
    BillingAuthError,
    BillingNotFound,
    BillingRateLimited,
    BillingRejected,
    BillingUnavailable,
)
from tests.billing.conftest import SleepRecorder, mock_transport

BASE = "https://billing.test/api/agents/v1"
BALANCE = httpx.Response(200, json={"data": {"balance": 12.5, "currency": "USD"}})
LINK = httpx.Response(
    201,
    json={"session_id": "cs_test_1", "payment_url": "https://pay.test/cs_test_1"},
)


def client_with(
    make_client: Callable[..., BillingClient],
    *answers: httpx.Response | Exception,
    max_attempts: int = 4,
) -> tuple[BillingClient, list[httpx.Request], SleepRecorder]:
    transport, seen = mock_transport(*answers)
    sleep = SleepRecorder()
    client = make_client(
        BASE, transport=transport, sleep=sleep, max_attempts=max_attempts
    )
    return client, seen, sleep


async def test_b34_read_after_503_503_then_200_succeeds_with_backoff(
    make_client: Callable[..., BillingClient],
) -> None:
    unavailable = httpx.Response(503, text="")
    client, seen, sleep = client_with(make_client, unavailable, unavailable, BALANCE)
    balance = await client.wallet_balance()
    assert balance.balance_cents == 1250
    assert len(seen) == 3
    assert len(sleep.waits) == 2 and 0 < sleep.waits[0] < sleep.waits[1]


async def test_b34_confirm_503_503_200_is_transient_twice_then_paid(
    make_client: Callable[..., BillingClient],
) -> None:
    unavailable = httpx.Response(503, text="")
    paid = httpx.Response(200, json={"data": {"balance": 70}})
    client, seen, sleep = client_with(make_client, unavailable, unavailable, paid)
    statuses = [
        (await client.confirm_checkout("fund", "cs_test_1")).status for _ in range(3)
    ]
    assert statuses == ["transient", "transient", "paid"]
    assert len(seen) == 3 and sleep.waits == []


async def test_b34_429_with_retry_after_2_waits_at_least_2_seconds(
    make_client: Callable[..., BillingClient],
) -> None:
    limited = httpx.Response(429, json={}, headers={"Retry-After": "2"})
    client, seen, sleep = client_with(make_client, limited, BALANCE)
    await client.wallet_balance()
    assert len(seen) == 2
    assert sleep.waits[0] >= 2


async def test_b34_429_asking_for_a_long_wait_is_left_to_the_caller(
    make_client: Callable[..., BillingClient],
) -> None:
    limited = httpx.Response(429, json={}, headers={"Retry-After": "120"})
    client, seen, sleep = client_with(make_client, limited, BALANCE)
    with pytest.raises(BillingRateLimited) as caught:
        await client.wallet_balance()
    assert caught.value.retry_after == 120
    assert len(seen) == 1 and sleep.waits == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, BillingNotFound), (400, BillingRejected), (401, BillingAuthError)],
)
async def test_b34_permanent_4xx_is_never_retried(
    make_client: Callable[..., BillingClient], status: int, error: type[Exception]
) -> None:
    client, seen, sleep = client_with(make_client, httpx.Response(status, json={}))
    with pytest.raises(error):
        await client.wallet_balance()
    with pytest.raises(error):
        await client.create_payment_link("fund", idempotency_key="k", amount_cents=2000)
    assert len(seen) == 2 and sleep.waits == []


async def test_b34_attempts_are_bounded(
    make_client: Callable[..., BillingClient],
) -> None:
    client, seen, sleep = client_with(make_client, httpx.Response(503), max_attempts=3)
    with pytest.raises(BillingUnavailable):
        await client.wallet_balance()
    assert len(seen) == 3 and len(sleep.waits) == 2


async def test_b34_post_without_key_is_not_retried(
    make_client: Callable[..., BillingClient],
) -> None:
    client, seen, _ = client_with(make_client, httpx.ReadTimeout("slow"), BALANCE)
    with pytest.raises(BillingUnavailable):
        await client.fund_wallet(2000)
    assert len(seen) == 1
    assert "idempotency-key" not in seen[0].headers


async def test_b20_keyed_post_is_retried_with_the_same_key(
    make_client: Callable[..., BillingClient],
) -> None:
    answers = (httpx.ReadTimeout("slow"), httpx.Response(502), LINK)
    client, seen, _ = client_with(make_client, *answers)
    link = await client.create_payment_link(
        "fund", idempotency_key="req-6", amount_cents=2000
    )
    assert link.session_id == "cs_test_1"
    assert [r.headers["idempotency-key"] for r in seen] == ["req-6"] * 3
    assert len({r.content for r in seen}) == 1


async def test_b20_a_new_request_uses_its_own_key(
    make_client: Callable[..., BillingClient],
) -> None:
    client, seen, _ = client_with(make_client, LINK)
    await client.create_payment_link(
        "fund", idempotency_key="req-6:fund", amount_cents=2000
    )
    await client.create_payment_link(
        "fund", idempotency_key="req-7:fund", amount_cents=2500
    )
    assert [r.headers["idempotency-key"] for r in seen] == ["req-6:fund", "req-7:fund"]
