"""The status-to-exception table and the confirm-checkout classification."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.billing.client import BillingClient
from bot.errors import (
    BillingAuthError,
    BillingError,
    BillingNotFound,
    BillingRateLimited,
    BillingRejected,
    BillingUnavailable,
    PaymentDeclined,
)
from tests.billing.conftest import SleepRecorder, mock_transport

NOW = 1_800_000_000.0
BASE = "https://billing.test/api/agents/v1"


def envelope_error(code: str, message: str = "", details: Any = None) -> dict[str, Any]:
    return {
        "data": None,
        "error": {"code": code, "message": message, "details": details or {}},
        "meta": {"request_id": "req_1"},
    }


def html(status: int) -> httpx.Response:
    return httpx.Response(status, text="<html><title>Bad</title></html>")


def make_mock_client(
    make_client: Callable[..., BillingClient], *answers: httpx.Response | Exception
) -> tuple[BillingClient, list[httpx.Request]]:
    transport, seen = mock_transport(*answers)
    client = make_client(BASE, transport=transport, clock=lambda: NOW)
    return client, seen


ERROR_ROWS = [
    (httpx.Response(500, json=envelope_error("server_error")), BillingUnavailable, ""),
    (httpx.Response(503, text=""), BillingUnavailable, ""),
    (html(502), BillingUnavailable, ""),
    (httpx.Response(200, text=""), BillingUnavailable, ""),
    (httpx.Response(200, text="{not json"), BillingUnavailable, ""),
    (html(200), BillingUnavailable, ""),
    (httpx.Response(302, headers={"location": "/login"}), BillingUnavailable, ""),
    (httpx.Response(429, json=envelope_error("rate_limited")), BillingRateLimited, ""),
    (httpx.Response(401, json={"message": "Unauthenticated."}), BillingAuthError, ""),
    (
        httpx.Response(403, json=envelope_error("email_not_verified")),
        BillingAuthError,
        "email_not_verified",
    ),
    (
        httpx.Response(402, json=envelope_error("payment_declined")),
        PaymentDeclined,
        "payment_declined",
    ),
    (
        httpx.Response(404, json=envelope_error("not_found")),
        BillingNotFound,
        "not_found",
    ),
    (html(404), BillingNotFound, ""),
    (
        httpx.Response(
            422, json={"message": "Invalid.", "errors": {"amount": ["Bad"]}}
        ),
        BillingRejected,
        "validation_error",
    ),
    (httpx.Response(409, json=envelope_error("conflict")), BillingRejected, "conflict"),
    (httpx.ConnectError("refused"), BillingUnavailable, ""),
    (httpx.ReadTimeout("slow"), BillingUnavailable, ""),
    (httpx.RemoteProtocolError("dropped"), BillingUnavailable, ""),
]


@pytest.mark.parametrize(("answer", "error", "code"), ERROR_ROWS)
async def test_every_outcome_maps_to_one_error(
    make_client: Callable[..., BillingClient],
    answer: httpx.Response | Exception,
    error: type[BillingError],
    code: str,
) -> None:
    client, _ = make_mock_client(make_client, answer)
    with pytest.raises(error) as caught:
        await client.wallet_balance()
    assert type(caught.value) is error
    if isinstance(caught.value, BillingRejected):
        assert caught.value.code == code
    if isinstance(answer, Exception):
        assert caught.value.__cause__ is answer
    assert "{" not in str(caught.value) and "<" not in str(caught.value)


async def test_rejection_carries_status_code_and_details(
    make_client: Callable[..., BillingClient],
) -> None:
    body = envelope_error("payment_declined", "Card declined.", {"decline_code": "x"})
    client, _ = make_mock_client(make_client, httpx.Response(402, json=body))
    with pytest.raises(PaymentDeclined) as caught:
        await client.fund_wallet(2000, payment_method_id="pm_1")
    assert caught.value.status == 402
    assert caught.value.details == {"decline_code": "x"}
    assert "Card declined." in str(caught.value)


async def test_empty_laravel_bag_becomes_empty_details(
    make_client: Callable[..., BillingClient],
) -> None:
    body = {"data": None, "error": {"code": "validation_error", "details": []}}
    client, _ = make_mock_client(make_client, httpx.Response(422, json=body))
    with pytest.raises(BillingRejected) as caught:
        await client.wallet_balance()
    assert caught.value.details == {}


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "3"}, {}, 3.0),
        ({"Retry-After": "Thu, 15 Jan 2027 08:00:09 GMT"}, {}, None),
        ({"X-RateLimit-Reset": str(int(NOW) + 40)}, {}, 40.0),
        ({"X-RateLimit-Reset": "25"}, {}, 25.0),
        ({}, {"status": "error", "retry_after": 30}, 30.0),
        ({}, {}, 15.0),
    ],
)
async def test_rate_limit_wait_comes_from_header_reset_body_or_default(
    make_client: Callable[..., BillingClient],
    headers: dict[str, str],
    body: dict[str, Any],
    expected: float | None,
) -> None:
    answer = httpx.Response(429, json=body, headers=headers)
    transport, _ = mock_transport(answer)
    client = make_client(BASE, transport=transport, clock=lambda: NOW, max_attempts=1)
    with pytest.raises(BillingRateLimited) as caught:
        await client.wallet_balance()
    if expected is None:
        http_date = datetime(2027, 1, 15, 8, 0, 9, tzinfo=UTC).timestamp()
        expected = http_date - NOW
    assert caught.value.retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "remaining", "reset_at"),
    [
        (
            {"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "1800000060"},
            7,
            NOW + 60,
        ),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"}, 0, NOW + 42),
        ({"X-RateLimit-Remaining": "3"}, 3, None),
    ],
)
async def test_rate_limit_state_follows_headers(
    make_client: Callable[..., BillingClient],
    headers: dict[str, str],
    remaining: int,
    reset_at: float | None,
) -> None:
    body = {"data": {"balance": 1, "currency": "USD"}}
    client, _ = make_mock_client(
        make_client, httpx.Response(200, json=body, headers=headers)
    )
    await client.wallet_balance()
    assert client.rate_limit.remaining == remaining
    assert client.rate_limit.reset_at == reset_at
    assert client.rate_limit.observed_at == NOW


async def test_rate_limit_state_survives_a_response_without_headers(
    make_client: Callable[..., BillingClient],
) -> None:
    body = {"data": {"balance": 1, "currency": "USD"}}
    first = httpx.Response(200, json=body, headers={"X-RateLimit-Remaining": "9"})
    client, _ = make_mock_client(make_client, first, httpx.Response(200, json=body))
    await client.wallet_balance()
    await client.wallet_balance()
    assert client.rate_limit.remaining == 9


FUTURE = datetime.fromtimestamp(NOW, UTC) + timedelta(hours=1)
PAST = datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=1)

CHECKOUT_ROWS = [
    (httpx.Response(200, json={"data": {"balance": 95.0}}), FUTURE, "paid"),
    (httpx.Response(200, json={"balance": "95.00", "status": "paid"}), PAST, "paid"),
    (httpx.Response(200, json={"data": {"status": "open"}}), FUTURE, "pending"),
    (httpx.Response(200, json={"data": {"status": "expired"}}), FUTURE, "expired"),
    (httpx.Response(202, json={"data": {"payment": {}}}), FUTURE, "pending"),
    (
        httpx.Response(409, json=envelope_error("checkout_not_completed")),
        PAST,
        "pending",
    ),
    (
        httpx.Response(402, json=envelope_error("checkout_not_completed")),
        FUTURE,
        "pending",
    ),
    (httpx.Response(402, json=envelope_error("payment_declined")), FUTURE, "declined"),
    (httpx.Response(410, json=envelope_error("gone")), FUTURE, "expired"),
    (httpx.Response(422, json=envelope_error("checkout_expired")), FUTURE, "expired"),
    (httpx.Response(422, json=envelope_error("validation_error")), FUTURE, "pending"),
    (httpx.Response(422, json=envelope_error("validation_error")), PAST, "expired"),
    (httpx.Response(400, text=""), FUTURE, "pending"),
    (httpx.Response(400, text=""), PAST, "expired"),
    (httpx.Response(400, text=""), None, "pending"),
    (httpx.Response(404, json=envelope_error("not_found")), FUTURE, "unknown_session"),
    (httpx.Response(401, json={"message": "Unauthenticated."}), FUTURE, "auth_failed"),
    (httpx.Response(403, json=envelope_error("forbidden")), PAST, "auth_failed"),
    (httpx.Response(500, json=envelope_error("server_error")), PAST, "transient"),
    (httpx.Response(503, text="down"), PAST, "transient"),
    (html(502), PAST, "transient"),
    (httpx.Response(302, headers={"location": "/login"}), FUTURE, "transient"),
    (httpx.Response(200, text=""), PAST, "transient"),
    (httpx.Response(200, text="[1, 2]"), PAST, "transient"),
    (html(200), PAST, "transient"),
    (httpx.ConnectError("refused"), PAST, "transient"),
    (httpx.ReadTimeout("slow"), PAST, "transient"),
]


@pytest.mark.parametrize(("answer", "expires_at", "status"), CHECKOUT_ROWS)
async def test_confirm_checkout_classifies_every_answer(
    make_client: Callable[..., BillingClient],
    answer: httpx.Response | Exception,
    expires_at: datetime | None,
    status: str,
) -> None:
    client, seen = make_mock_client(make_client, answer)
    outcome = await client.confirm_checkout("fund", "cs_test_1", expires_at=expires_at)
    assert outcome.status == status
    assert len(seen) == 1
    assert "{" not in outcome.detail and "<" not in outcome.detail


async def test_paid_fund_reports_balance_and_amount(
    make_client: Callable[..., BillingClient],
) -> None:
    body = {"data": {"status": "paid", "balance": 70.0, "amount": 20.0}}
    client, seen = make_mock_client(make_client, httpx.Response(200, json=body))
    outcome = await client.confirm_checkout("fund", "cs_test_1")
    assert (outcome.balance_cents, outcome.amount_cents) == (7000, 2000)
    assert seen[0].url.path.endswith("/wallet/confirm-checkout")
    assert seen[0].content == b'{"session_id": "cs_test_1"}'


async def test_paid_subscription_reports_plan_and_status(
    make_client: Callable[..., BillingClient],
) -> None:
    body = {
        "status": "trialing",
        "subscription": {"id": 4, "plan_id": 10, "status": "trialing"},
        "plan": {"id": 10, "name": "Basic Enterprise"},
    }
    client, seen = make_mock_client(make_client, httpx.Response(200, json=body))
    outcome = await client.confirm_checkout("subscribe", "cs_test_2")
    assert outcome.status == "paid"
    assert outcome.subscription_status == "trialing"
    assert (outcome.plan_id, outcome.plan_name) == (10, "Basic Enterprise")
    assert seen[0].url.path.endswith("/subscriptions/confirm-checkout")


async def test_rate_limited_confirm_says_how_long_to_wait(
    make_client: Callable[..., BillingClient],
) -> None:
    answer = httpx.Response(429, json={}, headers={"Retry-After": "7"})
    client, _ = make_mock_client(make_client, answer)
    outcome = await client.confirm_checkout("fund", "cs_test_1", expires_at=PAST)
    assert (outcome.status, outcome.retry_after) == ("rate_limited", 7.0)


async def test_confirm_retries_once_at_once_after_a_dropped_connection(
    make_client: Callable[..., BillingClient],
) -> None:
    paid = httpx.Response(200, json={"data": {"balance": 1}})
    transport, seen = mock_transport(httpx.RemoteProtocolError("gone"), paid)
    sleep = SleepRecorder()
    client = make_client(BASE, transport=transport, sleep=sleep)
    outcome = await client.confirm_checkout("fund", "cs_test_1")
    assert outcome.status == "paid" and len(seen) == 2
    assert sleep.waits == []


async def test_confirm_gives_up_after_a_second_dropped_connection(
    make_client: Callable[..., BillingClient],
) -> None:
    client, seen = make_mock_client(make_client, httpx.ReadError("gone"))
    outcome = await client.confirm_checkout("fund", "cs_test_1")
    assert outcome.status == "transient" and len(seen) == 2
