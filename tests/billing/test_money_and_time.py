"""Amounts leave as exact decimals; link expiry falls back to a day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from bot.billing.client import BillingClient
from bot.billing.wire import dumps, loads, parse_datetime, to_cents, to_dollars
from tests.billing.conftest import mock_transport
from tests.support.sandbox import RunningSandbox

BASE = "https://billing.test/api/agents/v1"
NOW = 1_800_000_000.0
AMOUNTS = [(435, "4.35"), (7840, "78.40"), (1250, "12.50"), (1999, "19.99")]


@pytest.mark.parametrize(("cents", "text"), AMOUNTS)
async def test_b21_amounts_go_out_exactly(
    make_client: Callable[..., BillingClient], cents: int, text: str
) -> None:
    link = {"session_id": "cs_test_1", "payment_url": "https://pay.test/1"}
    transport, seen = mock_transport(httpx.Response(201, json=link))
    client = make_client(BASE, transport=transport)

    await client.create_payment_link("fund", idempotency_key="k", amount_cents=cents)
    await client.fund_wallet(cents)
    await client.set_charge_amount(cents)

    for request in seen:
        assert f'"amount": {text}'.encode() in request.content
        assert request.headers["content-type"] == "application/json"
        assert loads(request.content.decode())["amount"] == Decimal(text)


@pytest.mark.parametrize(("cents", "text"), AMOUNTS)
async def test_b21_simulator_receives_and_echoes_exact_amounts(
    start_sandbox: Callable[..., RunningSandbox],
    make_client: Callable[..., BillingClient],
    cents: int,
    text: str,
) -> None:
    sandbox = start_sandbox(minimum_topup_usd="1")
    client = make_client(sandbox.api_url)
    link = await client.create_payment_link(
        "fund", idempotency_key="k", amount_cents=cents
    )
    [call] = sandbox.calls("/billing/payment-link")
    assert call["body"] == f'{{"purpose": "fund", "amount": {text}}}'
    assert link.amount_cents == cents


async def test_b21_more_than_two_decimals_is_refused_by_the_simulator(
    sandbox: RunningSandbox,
) -> None:
    body = '{"purpose": "fund", "amount": 78.400000000001}'
    answer = httpx.post(
        sandbox.api_url + "/billing/payment-link",
        content=body,
        headers={"Authorization": "Bearer sandbox-token"},
        timeout=5,
    )
    assert answer.status_code == 422


def test_b21_cents_conversion_never_uses_float() -> None:
    assert [to_cents(v) for v in ("4.35", Decimal("78.40"), 12.5, "19.99")] == [
        435,
        7840,
        1250,
        1999,
    ]
    assert to_cents(Decimal("0.20") + Decimal("0.10")) == 30
    assert to_cents(loads("4.345")) == 435
    assert [to_cents(v) for v in (None, True, "abc", "NaN")] == [None] * 4
    assert str(to_dollars(7840)) == "78.40"
    with pytest.raises(TypeError):
        dumps({"amount": 4.35})


@pytest.mark.parametrize("expires_at", [None, "", "soon", "2026-13-45T99:00:00Z", 12.5])
async def test_b25_missing_or_unparseable_expiry_means_24_hours(
    make_client: Callable[..., BillingClient], expires_at: object
) -> None:
    link = {"session_id": "cs_test_1", "payment_url": "https://pay.test/1"}
    if expires_at is not None:
        link["expires_at"] = expires_at  # type: ignore[assignment]
    transport, _ = mock_transport(httpx.Response(201, json={"data": link}))
    client = make_client(BASE, transport=transport, clock=lambda: NOW)
    created = await client.create_payment_link(
        "fund", idempotency_key="k", amount_cents=2000
    )
    assert created.expires_at == datetime.fromtimestamp(NOW, UTC) + timedelta(hours=24)


def test_expiry_is_read_as_utc() -> None:
    assert parse_datetime("2026-02-20T12:30:00Z") == datetime(
        2026, 2, 20, 12, 30, tzinfo=UTC
    )
    assert parse_datetime("2026-02-20T13:30:00+01:00") == datetime(
        2026, 2, 20, 12, 30, tzinfo=UTC
    )
    assert parse_datetime("2026-02-20T12:30:00") == datetime(
        2026, 2, 20, 12, 30, tzinfo=UTC
    )
