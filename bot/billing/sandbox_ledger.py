"""The simulated ModelsLab account: wallet, checkouts, plans, subscriptions.

Plain synchronous state for one event loop. Methods return payload dicts
with ``Decimal`` dollars, or raise :class:`ApiFailure` for a 4xx answer.
Codes that ModelsLab does not document (``checkout_not_completed`` and
friends) are the simulator's own inventions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, Final, Literal

from bot.billing.sandbox_config import SandboxConfig
from bot.billing.wire import format_datetime, to_dollars

ConfirmKind = Literal["paid", "unpaid", "declined", "expired"]


class ApiFailure(Exception):
    """A refusal the simulator answers with the documented error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def invalid(field_name: str, message: str) -> ApiFailure:
    """A 422 validation error with a Laravel-style bag."""
    return ApiFailure(422, "validation_error", message, {field_name: [message]})


@dataclass(frozen=True)
class PlanSpec:
    id: int
    name: str
    category: str
    period: str
    tier: str
    price_cents: int
    features: tuple[str, ...]
    trial_days: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "period": self.period,
            "type": self.tier,
            "price": to_dollars(self.price_cents),
            "api_call_limit": 0,
            "rate_limit": 0,
            "trial_days": self.trial_days,
            "features": list(self.features),
        }


PLANS: Final = (
    PlanSpec(1, "Basic", "normal", "monthly", "basic", 2700, ("5,000 API calls",)),
    PlanSpec(
        2, "Standard", "normal", "monthly", "standard", 4700, ("Unlimited images",)
    ),
    PlanSpec(5, "Imagen Starter", "imagen", "monthly", "basic", 900, ("Image API",), 7),
    PlanSpec(
        10,
        "Basic Enterprise",
        "enterprise",
        "monthly",
        "basic",
        24900,
        ("Unlimited Images", "No Rate Limiter", "Dedicated GPU"),
    ),
    PlanSpec(
        11,
        "Premium Enterprise",
        "enterprise",
        "yearly",
        "premium",
        249000,
        ("Everything in Basic Enterprise", "Priority support"),
    ),
)
PLANS_BY_ID: Final = {plan.id: plan for plan in PLANS}

# Test payment methods, named after Stripe's.
DECLINING_METHOD: Final = "pm_card_chargeDeclined"
THREE_D_SECURE_METHOD: Final = "pm_card_threeDSecure2Required"


@dataclass
class CheckoutSession:
    id: str
    purpose: Literal["fund", "subscribe"]
    amount_cents: int
    plan_id: int | None
    created_at: datetime
    expires_at: datetime
    paid: bool = False
    declined: bool = False
    card_last4: str = ""
    payment_intent_id: str = ""
    confirmation: dict[str, Any] | None = None

    def is_expired(self, now: datetime) -> bool:
        return not self.paid and now >= self.expires_at

    def describe(self) -> str:
        if self.purpose == "fund":
            return "ModelsLab wallet top-up"
        plan = PLANS_BY_ID[self.plan_id or 0]
        return f"{plan.name} subscription ({plan.period})"


@dataclass
class Ledger:
    """All account state; ``now`` is passed in so tests control time."""

    config: SandboxConfig
    balance_cents: int = 0
    transactions: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, CheckoutSession] = field(default_factory=dict)
    subscriptions: dict[int, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: list[dict[str, Any]] = field(default_factory=list)
    billing_profile: dict[str, Any] = field(default_factory=dict)
    auto_funding: dict[str, Any] | None = None
    charge_amount_cents: int | None = None
    redeemed_coupons: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    _ids: count[int] = field(default_factory=lambda: count(100))

    @classmethod
    def opened(cls, config: SandboxConfig, now: datetime) -> Ledger:
        ledger = cls(config=config, tokens={config.token})
        ledger.payment_methods.append(_card("pm_test_visa", "visa", "4242", True))
        ledger.billing_profile = {"name": "Demo Team", "email": config.email}
        if config.opening_balance_cents > 0:
            ledger.credit(
                config.opening_balance_cents, "opening_balance", "manual", now
            )
        return ledger

    def next_id(self) -> int:
        return next(self._ids)

    # Wallet

    def credit(
        self, cents: int, usecase: str, source: str, now: datetime
    ) -> dict[str, Any]:
        self.balance_cents += cents
        return self._record("credit", cents, usecase, source, now)

    def debit(self, cents: int, usecase: str, now: datetime) -> dict[str, Any]:
        if cents > self.balance_cents:
            raise ApiFailure(
                422, "insufficient_balance", "The wallet balance is too low."
            )
        self.balance_cents -= cents
        return self._record("debit", cents, usecase, "wallet", now)

    def _record(
        self, kind: str, cents: int, usecase: str, source: str, now: datetime
    ) -> dict[str, Any]:
        row = {
            "id": self.next_id(),
            "source": source,
            "transaction_id": f"pi_test_{secrets.token_hex(8)}",
            "type": kind,
            "amount_cents": cents,
            "status": "success",
            "usecase": usecase,
            "created_at": format_datetime(now),
        }
        self.transactions.append(row)
        return row

    def wallet(self) -> dict[str, Any]:
        credited = sum(
            t["amount_cents"] for t in self.transactions if t["type"] == "credit"
        )
        used = sum(t["amount_cents"] for t in self.transactions if t["type"] == "debit")
        return {
            "balance": to_dollars(self.balance_cents),
            "currency": "USD",
            "total_credited": to_dollars(credited),
            "amount_used": to_dollars(used),
        }

    def transaction_page(
        self, kind: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        rows = [t for t in reversed(self.transactions) if kind in (None, t["type"])]
        page = rows[offset : offset + limit]
        items = [_public_transaction(row) for row in page]
        return {
            "items": items,
            "count": len(items),
            "total": len(rows),
            "wallet": self.wallet(),
        }

    # Checkout sessions

    def open_session(
        self,
        purpose: Literal["fund", "subscribe"],
        cents: int,
        plan_id: int | None,
        now: datetime,
    ) -> CheckoutSession:
        session = CheckoutSession(
            id=f"cs_test_{secrets.token_urlsafe(18)}",
            purpose=purpose,
            amount_cents=cents,
            plan_id=plan_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.config.checkout_ttl_seconds),
        )
        self.sessions[session.id] = session
        return session

    def pay(self, session: CheckoutSession, card_last4: str, now: datetime) -> None:
        """Take the payment on the hosted page; the account changes on confirm."""
        if session.paid:
            return
        session.paid, session.declined, session.card_last4 = True, False, card_last4
        session.payment_intent_id = f"pi_test_{secrets.token_hex(8)}"
        self.payments[session.payment_intent_id] = {
            "payment_intent_id": session.payment_intent_id,
            "status": "succeeded",
            "amount": to_dollars(session.amount_cents),
            "currency": "usd",
        }
        self._invoice(session.amount_cents, session.describe(), now)

    def confirm(
        self, session: CheckoutSession, now: datetime
    ) -> tuple[ConfirmKind, dict[str, Any]]:
        """Apply a paid session once; later calls get the same answer."""
        if session.confirmation is not None:
            return "paid", session.confirmation
        if session.is_expired(now):
            return "expired", {}
        if not session.paid:
            return ("declined" if session.declined else "unpaid"), {}
        if session.purpose == "fund":
            self.credit(session.amount_cents, "wallet_funding", "stripe", now)
            answer = {
                "session_id": session.id,
                "status": "paid",
                "amount": to_dollars(session.amount_cents),
                **self.wallet(),
            }
        else:
            answer = self._subscribe_confirmed(session, now)
        session.confirmation = answer
        return "paid", answer

    def _subscribe_confirmed(
        self, session: CheckoutSession, now: datetime
    ) -> dict[str, Any]:
        plan = PLANS_BY_ID[session.plan_id or 0]
        subscription = self.start_subscription(plan, now)
        return {
            "session_id": session.id,
            "message": "Subscription activated.",
            "status": subscription["status"],
            "subscription": subscription,
            "plan": {
                "id": plan.id,
                "name": plan.name,
                "price": to_dollars(plan.price_cents),
            },
        }

    # Subscriptions

    def start_subscription(self, plan: PlanSpec, now: datetime) -> dict[str, Any]:
        trial = timedelta(days=plan.trial_days)
        subscription_id = self.next_id()
        subscription = {
            "id": subscription_id,
            "plan_id": plan.id,
            "plan_name": plan.name,
            "feature": plan.category,
            "category": plan.category,
            "status": "trialing" if plan.trial_days else "active",
            "stripe_subscription_id": f"sub_test_{secrets.token_hex(8)}",
            "current_period_start": format_datetime(now),
            "current_period_end": format_datetime(now + (trial or _period(plan))),
        }
        self.subscriptions[subscription_id] = subscription
        return subscription

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        found = (
            self.subscriptions.get(int(subscription_id))
            if subscription_id.isdigit()
            else None
        )
        if found is None:
            raise ApiFailure(404, "not_found", "Subscription not found.")
        return found

    # Invoices

    def _invoice(self, cents: int, description: str, now: datetime) -> None:
        invoice_id = f"in_test_{secrets.token_hex(6)}"
        self.invoices[invoice_id] = {
            "id": invoice_id,
            "amount": to_dollars(cents),
            "currency": "usd",
            "status": "paid",
            "description": description,
            "created_at": format_datetime(now),
        }


def plan_or_fail(plan_id: object) -> PlanSpec:
    if isinstance(plan_id, bool) or not isinstance(plan_id, int):
        raise invalid("plan_id", "The plan id must be an integer.")
    plan = PLANS_BY_ID.get(int(plan_id))
    if plan is None:
        raise invalid("plan_id", "The selected plan id is invalid.")
    return plan


def _period(plan: PlanSpec) -> timedelta:
    return timedelta(days=365 if plan.period == "yearly" else 30)


def _card(method_id: str, brand: str, last4: str, is_default: bool) -> dict[str, Any]:
    return {
        "id": method_id,
        "brand": brand,
        "last4": last4,
        "exp_month": 12,
        "exp_year": datetime.now(UTC).year + 4,
        "is_default": is_default,
    }


def new_card(method_id: str, is_default: bool) -> dict[str, Any]:
    # Stripe tokenised the card; the simulator never saw its number.
    return _card(method_id, "visa", "4242", is_default)


def _public_transaction(row: dict[str, Any]) -> dict[str, Any]:
    public = {key: value for key, value in row.items() if key != "amount_cents"}
    public["amount"] = to_dollars(row["amount_cents"])
    return public
