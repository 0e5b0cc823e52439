"""Typed results of the billing API.

Money is integer cents and times are aware UTC datetimes. Each ``parse_*``
function takes the payload (the body with any ``data`` envelope removed)
and tolerates the shapes the API is known to use; a payload missing what
the caller cannot do without raises :class:`~bot.billing.wire.BodyError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.billing.secret import Secret
from bot.billing.wire import BodyError, parse_datetime, to_cents

Purpose = Literal["fund", "subscribe"]
CheckoutStatus = Literal[
    "paid",
    "pending",
    "expired",
    "unknown_session",
    "declined",
    "auth_failed",
    "rate_limited",
    "transient",
]

DEFAULT_LINK_LIFETIME = timedelta(hours=24)
DEFAULT_MINIMUM_TOPUP_CENTS = 1000


@dataclass(frozen=True)
class PaymentLink:
    session_id: str
    payment_url: str
    purpose: str
    amount_cents: int | None
    plan_id: int | None
    expires_at: datetime
    replayed: bool


@dataclass(frozen=True)
class Plan:
    id: int
    name: str
    price_cents: int
    period: str
    category: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class PlanCatalog:
    plans: tuple[Plan, ...]
    minimum_topup_cents: int

    def by_id(self, plan_id: int) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)


@dataclass(frozen=True)
class Balance:
    balance_cents: int
    currency: str


@dataclass(frozen=True)
class Transaction:
    id: str
    type: str
    amount_cents: int
    status: str
    source: str
    usecase: str
    created_at: datetime | None


@dataclass(frozen=True)
class TransactionPage:
    items: tuple[Transaction, ...]
    total: int
    balance_cents: int | None


@dataclass(frozen=True)
class Subscription:
    id: int
    plan_id: int | None
    plan_name: str
    status: str
    category: str
    current_period_end: datetime | None


@dataclass(frozen=True)
class CheckoutOutcome:
    """What one confirm-checkout call found out.

    ``declined`` is not final: the payer may try another card on the same
    link. ``transient`` and ``rate_limited`` say nothing about the payment.
    """

    status: CheckoutStatus
    detail: str
    balance_cents: int | None = None
    amount_cents: int | None = None
    subscription_status: str | None = None
    plan_id: int | None = None
    plan_name: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class RateLimitState:
    """The latest rate-limit headers; ``reset_at`` is unix seconds."""

    remaining: int | None
    reset_at: float | None
    observed_at: float
    limit: int | None = None  # X-RateLimit-Limit: calls allowed per window


@dataclass(frozen=True)
class PaymentStatus:
    payment_intent_id: str
    status: str
    amount_cents: int | None
    currency: str


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool


@dataclass(frozen=True)
class Invoice:
    id: str
    amount_cents: int | None
    status: str
    created_at: datetime | None


@dataclass(frozen=True)
class TokenGrant:
    access_token: Secret
    token_type: str
    expires_at: datetime | None


@dataclass(frozen=True)
class ApiPayload:
    """The payload of an endpoint whose success body is not documented."""

    data: dict[str, Any]
    replayed: bool


def parse_payment_link(payload: Any, *, replayed: bool, now: datetime) -> PaymentLink:
    data = _require_mapping(payload)
    session_id, payment_url = (
        _str(data.get("session_id")),
        _str(data.get("payment_url")),
    )
    if not session_id or not payment_url:
        raise BodyError("incomplete")
    # The API chooses the lifetime; Stripe's default is a day.
    expires_at = parse_datetime(data.get("expires_at")) or now + DEFAULT_LINK_LIFETIME
    return PaymentLink(
        session_id=session_id,
        payment_url=payment_url,
        purpose=_str(data.get("purpose")),
        amount_cents=to_cents(data.get("amount")),
        plan_id=_int(data.get("plan_id")),
        expires_at=expires_at,
        replayed=replayed,
    )


def parse_plan_catalog(payload: Any) -> PlanCatalog:
    pay_as_you_go: Mapping[str, Any] = {}
    if isinstance(payload, list):
        raw_plans = payload
    else:
        data = _require_mapping(payload)
        raw_plans = _list(data.get("subscription_plans") or data.get("plans"))
        pay_as_you_go = _mapping(data.get("pay_as_you_go"))
    plans = tuple(plan for raw in raw_plans if (plan := _parse_plan(raw)) is not None)
    minimum = to_cents(pay_as_you_go.get("minimum_topup_usd"))
    return PlanCatalog(
        plans=plans, minimum_topup_cents=minimum or DEFAULT_MINIMUM_TOPUP_CENTS
    )


def _parse_plan(raw: Any) -> Plan | None:
    data = _mapping(raw)
    plan_id, price = _int(data.get("id")), to_cents(data.get("price"))
    if plan_id is None or price is None:
        return None
    return Plan(
        id=plan_id,
        name=_str(data.get("name")) or f"Plan {plan_id}",
        price_cents=price,
        period=_str(data.get("period") or data.get("interval")),
        category=_str(data.get("category")),
        features=tuple(str(feature) for feature in _list(data.get("features"))),
    )


def parse_balance(payload: Any) -> Balance:
    data = _require_mapping(payload)
    wallet = _mapping(data.get("wallet")) or data
    cents = to_cents(wallet.get("balance"))
    if cents is None:
        raise BodyError("incomplete")
    return Balance(balance_cents=cents, currency=_str(wallet.get("currency")) or "USD")


def parse_transaction_page(payload: Any) -> TransactionPage:
    data = (
        {"items": payload} if isinstance(payload, list) else _require_mapping(payload)
    )
    items = tuple(
        item for raw in _list(data.get("items")) if (item := _parse_transaction(raw))
    )
    total = _int(data.get("total"))
    wallet = _mapping(data.get("wallet"))
    return TransactionPage(
        items=items,
        total=len(items) if total is None else total,
        balance_cents=to_cents(wallet.get("balance")),
    )


def _parse_transaction(raw: Any) -> Transaction | None:
    data = _mapping(raw)
    amount = to_cents(data.get("amount"))
    if amount is None or data.get("id") is None:
        return None
    return Transaction(
        id=str(data["id"]),
        type=_str(data.get("type")),
        amount_cents=amount,
        status=_str(data.get("status")),
        source=_str(data.get("source")),
        usecase=_str(data.get("usecase") or data.get("description")),
        created_at=parse_datetime(data.get("created_at")),
    )


def parse_subscriptions(payload: Any) -> list[Subscription]:
    if isinstance(payload, dict):
        payload = payload.get("subscriptions") or payload.get("items") or []
    return [
        sub for raw in _list(payload) if (sub := parse_subscription(raw)) is not None
    ]


def parse_subscription(raw: Any) -> Subscription | None:
    data = _mapping(raw)
    subscription_id = _int(data.get("id"))
    if subscription_id is None:
        return None
    plan = _mapping(data.get("plan"))
    return Subscription(
        id=subscription_id,
        plan_id=_int(data.get("plan_id") or plan.get("id")),
        plan_name=_str(data.get("plan_name") or plan.get("name")),
        status=_str(data.get("status")),
        category=_str(data.get("category") or data.get("feature")),
        current_period_end=parse_datetime(
            data.get("current_period_end") or data.get("next_billing_date")
        ),
    )


def parse_payment_status(payload: Any) -> PaymentStatus:
    data = _require_mapping(payload)
    return PaymentStatus(
        payment_intent_id=_str(data.get("payment_intent_id")),
        status=_str(data.get("status")),
        amount_cents=to_cents(data.get("amount")),
        currency=_str(data.get("currency")).upper() or "USD",
    )


def parse_payment_methods(payload: Any) -> list[PaymentMethod]:
    if isinstance(payload, dict):
        payload = payload.get("payment_methods") or payload.get("items") or []
    methods = []
    for raw in _list(payload):
        data = _mapping(raw)
        if not _str(data.get("id")):
            continue
        methods.append(
            PaymentMethod(
                id=_str(data.get("id")),
                brand=_str(data.get("brand")),
                last4=_str(data.get("last4")),
                exp_month=_int(data.get("exp_month")),
                exp_year=_int(data.get("exp_year")),
                is_default=data.get("is_default") is True,
            )
        )
    return methods


def parse_invoices(payload: Any) -> list[Invoice]:
    if isinstance(payload, dict):
        payload = payload.get("invoices") or payload.get("items") or []
    return [
        Invoice(
            id=str(data["id"]),
            amount_cents=to_cents(data.get("amount")),
            status=_str(data.get("status")),
            created_at=parse_datetime(data.get("created_at")),
        )
        for data in map(_mapping, _list(payload))
        if data.get("id") is not None
    ]


def parse_token_grant(payload: Any) -> TokenGrant:
    data = _require_mapping(payload)
    token = _str(data.get("access_token"))
    if not token:
        raise BodyError("incomplete")
    return TokenGrant(
        access_token=Secret(token),
        token_type=_str(data.get("token_type")) or "Bearer",
        expires_at=parse_datetime(data.get("expires_at")),
    )


def parse_api_payload(payload: Any, *, replayed: bool) -> ApiPayload:
    if isinstance(payload, dict):
        return ApiPayload(data=dict(payload), replayed=replayed)
    return ApiPayload(data={"items": payload}, replayed=replayed)


def _require_mapping(payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise BodyError("incomplete")
    return payload


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
