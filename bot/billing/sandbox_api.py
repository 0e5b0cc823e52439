"""The endpoints of the simulated Agent Control Plane, one method each.

Each handler takes an :class:`ApiCall` and returns a :class:`Reply`, or
raises :class:`ApiFailure`; authentication, rate limits, faults and
idempotency are applied around them by :mod:`bot.billing.sandbox`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from bot.billing.sandbox_ledger import (
    DECLINING_METHOD,
    PLANS,
    THREE_D_SECURE_METHOD,
    ApiFailure,
    CheckoutSession,
    Ledger,
    invalid,
    new_card,
    plan_or_fail,
)
from bot.billing.wire import format_datetime, to_dollars

_MAX_AMOUNT: Final = Decimal("10000")
_COUPONS: Final[dict[str, dict[str, Any]]] = {
    "WELCOME10": {"type": "credit", "value": Decimal("10.00")},
    "BONUS20": {"type": "bonus", "percent": 20},
}


@dataclass(frozen=True)
class ApiCall:
    """One authenticated request, already parsed."""

    now: datetime
    base_url: str
    token: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    data: Any
    status: int = 200
    bare: bool = False


class AccountApi:
    """Handlers over one :class:`Ledger`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # Auth

    def login(self, call: ApiCall) -> Reply:
        config = self.ledger.config
        if call.body.get("email") != config.email or call.body.get("password") != (
            config.password
        ):
            raise ApiFailure(
                401, "invalid_credentials", "These credentials do not match."
            )
        return Reply(self._grant(call, "Login successful."))

    def refresh(self, call: ApiCall) -> Reply:
        self.ledger.tokens.discard(call.token)
        return Reply(self._grant(call, "Token refreshed."))

    def logout(self, call: ApiCall) -> Reply:
        self.ledger.tokens.discard(call.token)
        return Reply({"message": "Logged out."})

    def _grant(self, call: ApiCall, message: str) -> dict[str, Any]:
        token = f"sbx_{secrets.token_urlsafe(24)}"
        self.ledger.tokens.add(token)
        config = self.ledger.config
        return {
            "access_token": token,
            "token_type": "Bearer",
            "token_expiry": str(call.body.get("token_expiry") or "1_month"),
            "expires_at": format_datetime(call.now + timedelta(days=30)),
            "message": message,
            "user": {"id": 1, "name": "Demo", "email": config.email, "verified": True},
            "api_key": None,
        }

    # Billing

    def overview(self, call: ApiCall) -> Reply:
        ledger = self.ledger
        active = [s for s in ledger.subscriptions.values() if s["status"] == "active"]
        wallet = ledger.wallet()
        return Reply(
            {
                "wallet_balance": wallet["balance"],
                "currency": "USD",
                "active_subscription": active[0]["plan_name"] if active else None,
                "total_deposits": wallet["total_credited"],
                "total_charges": wallet["amount_used"],
                "payment_methods": len(ledger.payment_methods),
                "subscriptions": list(ledger.subscriptions.values()),
                "invoice_count": len(ledger.invoices),
            }
        )

    def stripe_config(self, call: ApiCall) -> Reply:
        instructions = "Tokenise cards with this key; never send raw card data."
        return Reply(
            {"publishable_key": "pk_test_sandbox", "instructions": instructions},
            bare=True,
        )

    def setup_intent(self, call: ApiCall) -> Reply:
        intent = f"seti_test_{secrets.token_hex(8)}"
        return Reply(
            {
                "setup_intent_id": intent,
                "client_secret": f"{intent}_secret_{secrets.token_hex(6)}",
                "status": "requires_payment_method",
                "instructions": "Confirm with Stripe.js, then add the payment method.",
            }
        )

    def payment_link(self, call: ApiCall) -> Reply:
        purpose = call.body.get("purpose")
        if purpose == "fund":
            cents = _amount(
                call.body.get("amount"), self.ledger.config.minimum_topup_usd
            )
            session = self.ledger.open_session("fund", cents, None, call.now)
        elif purpose == "subscribe":
            plan = plan_or_fail(call.body.get("plan_id"))
            session = self.ledger.open_session(
                "subscribe", plan.price_cents, plan.id, call.now
            )
        else:
            raise invalid("purpose", "The purpose must be fund or subscribe.")
        bare = self.ledger.config.link_body == "bare"
        return Reply(_link(session, call.base_url), status=201, bare=bare)

    def payment_methods(self, call: ApiCall) -> Reply:
        return Reply(list(self.ledger.payment_methods))

    def add_payment_method(self, call: ApiCall) -> Reply:
        method_id = call.body.get("payment_method_id")
        if not isinstance(method_id, str) or not method_id.startswith("pm_"):
            raise invalid(
                "payment_method_id", "Send a Stripe payment method id (pm_...)."
            )
        if any(m["id"] == method_id for m in self.ledger.payment_methods):
            raise ApiFailure(409, "already_attached", "That card is already saved.")
        card = new_card(method_id, call.body.get("make_default", True) is True)
        self.ledger.payment_methods.append(card)
        if card["is_default"]:
            self._make_default(method_id)
        return Reply({"message": "Payment method added.", "payment_method": card}, 201)

    def set_default_method(self, call: ApiCall) -> Reply:
        self._method(call.params["id"])
        self._make_default(call.params["id"])
        return Reply({"message": "Default payment method updated."})

    def delete_method(self, call: ApiCall) -> Reply:
        card = self._method(call.params["id"])
        self.ledger.payment_methods.remove(card)
        return Reply({"message": "Payment method removed."})

    def _method(self, method_id: str) -> dict[str, Any]:
        for card in self.ledger.payment_methods:
            if card["id"] == method_id:
                return card
        raise ApiFailure(404, "not_found", "Payment method not found.")

    def _make_default(self, method_id: str) -> None:
        for card in self.ledger.payment_methods:
            card["is_default"] = card["id"] == method_id

    def billing_info(self, call: ApiCall) -> Reply:
        return Reply(dict(self.ledger.billing_profile))

    def update_billing_info(self, call: ApiCall) -> Reply:
        if call.body.get("tax_id") and not call.body.get("tax_id_type"):
            raise invalid("tax_id_type", "The tax id type is required with a tax id.")
        text_fields = {k: v for k, v in call.body.items() if isinstance(v, str)}
        self.ledger.billing_profile.update(text_fields)
        return Reply(
            {"message": "Billing info updated.", **self.ledger.billing_profile}
        )

    def invoices(self, call: ApiCall) -> Reply:
        return Reply(list(reversed(self.ledger.invoices.values())))

    def invoice(self, call: ApiCall) -> Reply:
        return Reply(self._invoice(call.params["id"]))

    def invoice_pdf(self, call: ApiCall) -> Reply:
        invoice = self._invoice(call.params["id"])
        return Reply({"url": f"{call.base_url}/invoices/{invoice['id']}.pdf"})

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.ledger.invoices.get(invoice_id)
        if invoice is None:
            raise ApiFailure(404, "not_found", "Invoice not found.")
        return invoice

    # Wallet and payments

    def balance(self, call: ApiCall) -> Reply:
        wallet = self.ledger.wallet()
        return Reply({"balance": wallet["balance"], "currency": wallet["currency"]})

    def transactions(self, call: ApiCall) -> Reply:
        kind = call.query.get("type")
        if kind not in (None, "credit", "debit"):
            raise invalid("type", "The type must be credit or debit.")
        limit = _bounded_int(call.query.get("limit"), "limit", 50, 1, 200)
        offset = _bounded_int(call.query.get("offset"), "offset", 0, 0, 10**9)
        return Reply(self.ledger.transaction_page(kind, limit, offset))

    def fund(self, call: ApiCall) -> Reply:
        cents = _amount(call.body.get("amount"), self.ledger.config.minimum_topup_usd)
        method = call.body.get("payment_method_id")
        if method is None:
            session = self.ledger.open_session("fund", cents, None, call.now)
            return Reply(_checkout_fallback(session, call.base_url))
        intent = self._charge(str(method), cents)
        self.ledger.credit(cents, "wallet_funding", "stripe", call.now)
        balance = self.ledger.wallet()["balance"]
        return Reply(
            {
                "message": "Wallet funded.",
                "amount": to_dollars(cents),
                "balance": balance,
                "payment_intent_id": intent,
            }
        )

    def _charge(self, method: str, cents: int) -> str:
        """Charge a saved card; raises the documented 402 or answers 3-D Secure."""
        intent = f"pi_test_{secrets.token_hex(8)}"
        if method == DECLINING_METHOD:
            raise ApiFailure(
                402,
                "payment_declined",
                "Your card was declined.",
                {"decline_code": "generic_decline", "payment_intent_id": intent},
            )
        if method == THREE_D_SECURE_METHOD:
            raise ApiFailure(
                402,
                "payment_declined",
                "This card needs authentication on modelslab.com/pricing.",
                {
                    "decline_code": "authentication_required",
                    "payment_intent_id": intent,
                },
            )
        self.ledger.payments[intent] = {
            "payment_intent_id": intent,
            "status": "succeeded",
            "amount": to_dollars(cents),
            "currency": "usd",
        }
        return intent

    def auto_funding(self, call: ApiCall) -> Reply:
        amount = _amount(
            call.body.get("auto_charge_amount"), Decimal(5), "auto_charge_amount"
        )
        threshold = _amount(
            call.body.get("charge_threshold"), Decimal(1), "charge_threshold"
        )
        self.ledger.auto_funding = {
            "enabled": True,
            "auto_charge_amount": to_dollars(amount),
            "charge_threshold": to_dollars(threshold),
        }
        return Reply({"message": "Auto-funding enabled.", **self.ledger.auto_funding})

    def disable_auto_funding(self, call: ApiCall) -> Reply:
        self.ledger.auto_funding = None
        return Reply({"message": "Auto-funding disabled.", "enabled": False})

    def withdraw(self, call: ApiCall) -> Reply:
        if not self.ledger.config.reseller:
            raise ApiFailure(
                403, "reseller_only", "Withdrawals are for reseller accounts."
            )
        cents = _amount(call.body.get("amount"), Decimal(1))
        self.ledger.debit(cents, "withdrawal", call.now)
        return Reply({"message": "Withdrawal requested.", **self.ledger.wallet()})

    def validate_coupon(self, call: ApiCall) -> Reply:
        code, coupon = self._coupon(
            call.query.get("coupon_code") or call.body.get("coupon_code")
        )
        answer: dict[str, Any] = {
            "valid": True,
            "coupon_code": code,
            "type": coupon["type"],
        }
        if coupon["type"] == "credit":
            answer["credit_amount"] = coupon["value"]
        else:
            answer["bonus_percent"] = coupon["percent"]
        return Reply(answer)

    def redeem_coupon(self, call: ApiCall) -> Reply:
        code, coupon = self._coupon(call.body.get("coupon_code"))
        if coupon["type"] == "credit":
            credit = int(coupon["value"] * 100)
        else:
            credit = self._bonus_purchase(call, coupon["percent"])
        self.ledger.redeemed_coupons.add(code)
        self.ledger.credit(credit, f"coupon_{code.lower()}", "coupon", call.now)
        return Reply(
            {"message": "Coupon redeemed.", "coupon_code": code, **self.ledger.wallet()}
        )

    def _bonus_purchase(self, call: ApiCall, percent: int) -> int:
        method = call.body.get("payment_method_id")
        if not isinstance(method, str):
            raise invalid("payment_method_id", "A bonus coupon needs a payment method.")
        cents = _amount(
            call.body.get("purchase_amount"), Decimal(10), "purchase_amount"
        )
        self._charge(method, cents)
        self.ledger.credit(cents, "wallet_funding", "stripe", call.now)
        return cents * percent // 100

    def _coupon(self, raw: object) -> tuple[str, dict[str, Any]]:
        if not isinstance(raw, str) or not raw.strip():
            raise invalid("coupon_code", "The coupon code is required.")
        code = raw.strip().upper()
        if code not in _COUPONS:
            raise ApiFailure(422, "invalid_coupon", "This coupon code is not valid.")
        if code in self.ledger.redeemed_coupons:
            raise ApiFailure(
                422, "coupon_already_redeemed", "This coupon was already used."
            )
        return code, _COUPONS[code]

    def payment_status(self, call: ApiCall) -> Reply:
        payment = self.ledger.payments.get(call.params["id"])
        if payment is None:
            raise ApiFailure(404, "not_found", "Payment not found.")
        return Reply(payment)

    # Checkout confirmation

    def confirm_fund(self, call: ApiCall) -> Reply:
        return self._confirm(call, "fund")

    def confirm_subscribe(self, call: ApiCall) -> Reply:
        return self._confirm(call, "subscribe")

    def _confirm(self, call: ApiCall, purpose: Literal["fund", "subscribe"]) -> Reply:
        session = self._session(call.body.get("session_id"))
        if session.purpose != purpose:
            raise ApiFailure(
                400,
                "checkout_purpose_mismatch",
                f"This checkout session is not a {purpose} checkout.",
            )
        kind, answer = self.ledger.confirm(session, call.now)
        if kind == "paid":
            return Reply(answer)
        if kind == "declined":
            raise ApiFailure(
                402,
                "payment_declined",
                "Your card was declined.",
                {"decline_code": "card_declined", "session_id": session.id},
            )
        if kind == "unpaid":
            return self._unpaid(session)
        raise _EXPIRED[self.ledger.config.confirm_expired]

    def _unpaid(self, session: CheckoutSession) -> Reply:
        variant = self.ledger.config.confirm_unpaid
        if variant == "200":
            return Reply(
                {"session_id": session.id, "status": "open", "payment_status": "unpaid"}
            )
        if variant == "400":
            raise ApiFailure(
                400, "bad_request", "The checkout session cannot be confirmed."
            )
        raise ApiFailure(
            int(variant),
            "checkout_not_completed",
            "The checkout has not been paid yet.",
        )

    def _session(self, session_id: object) -> CheckoutSession:
        if not isinstance(session_id, str) or not session_id:
            raise invalid("session_id", "The session id field is required.")
        session = self.ledger.sessions.get(session_id)
        if session is None:
            raise ApiFailure(404, "not_found", "No checkout session with that id.")
        return session

    # Subscriptions

    def plans(self, call: ApiCall) -> Reply:
        minimum = self.ledger.config.minimum_topup_usd.quantize(Decimal("0.01"))
        return Reply(
            {
                "subscription_plans": [plan.payload() for plan in PLANS],
                "pay_as_you_go": {
                    "available": True,
                    "description": "Fund the wallet and pay per call.",
                    "minimum_topup_usd": minimum,
                    "currency": "USD",
                    "fund_endpoint": "POST /api/agents/v1/wallet/fund",
                },
                "count": len(PLANS),
            }
        )

    def subscriptions(self, call: ApiCall) -> Reply:
        return Reply(list(self.ledger.subscriptions.values()))

    def create_subscription(self, call: ApiCall) -> Reply:
        plan = plan_or_fail(call.body.get("plan_id"))
        method = call.body.get("payment_method_id")
        if method is None:
            session = self.ledger.open_session(
                "subscribe", plan.price_cents, plan.id, call.now
            )
            return Reply(_checkout_fallback(session, call.base_url))
        self._charge(str(method), plan.price_cents)
        subscription = self.ledger.start_subscription(plan, call.now)
        return Reply(
            {
                "message": "Subscription created.",
                "subscription": subscription,
                "stripe_subscription_id": subscription["stripe_subscription_id"],
                "status": subscription["status"],
            },
            201,
        )

    def subscription_status(self, call: ApiCall) -> Reply:
        return Reply(self.ledger.subscription(call.params["id"]))

    def update_subscription(self, call: ApiCall) -> Reply:
        subscription = self.ledger.subscription(call.params["id"])
        plan = plan_or_fail(call.body.get("new_plan_id"))
        subscription.update(
            plan_id=plan.id, plan_name=plan.name, category=plan.category
        )
        return Reply({"message": "Subscription updated.", "subscription": subscription})

    def pause(self, call: ApiCall) -> Reply:
        return self._transition(call, {"active", "trialing"}, "paused")

    def resume(self, call: ApiCall) -> Reply:
        return self._transition(call, {"paused"}, "active")

    def fix_payment(self, call: ApiCall) -> Reply:
        return self._transition(call, {"past_due", "active", "trialing"}, "active")

    def reset_cycle(self, call: ApiCall) -> Reply:
        subscription = self.ledger.subscription(call.params["id"])
        subscription["current_period_start"] = format_datetime(call.now)
        end = call.now + timedelta(days=30)
        subscription["current_period_end"] = format_datetime(end)
        return Reply({"message": "Billing cycle reset.", "subscription": subscription})

    def _transition(self, call: ApiCall, allowed: set[str], target: str) -> Reply:
        subscription = self.ledger.subscription(call.params["id"])
        if subscription["status"] not in allowed:
            raise ApiFailure(
                422,
                "invalid_state",
                f"A {subscription['status']} subscription cannot do that.",
            )
        subscription["status"] = target
        return Reply(
            {"message": f"Subscription {target}.", "subscription": subscription}
        )

    def charge_amount(self, call: ApiCall) -> Reply:
        cents = _amount(call.body.get("amount"), Decimal(5))
        self.ledger.charge_amount_cents = cents
        return Reply({"message": "Charge amount updated.", "amount": to_dollars(cents)})


def _amount(value: object, minimum: Decimal, name: str = "amount") -> int:
    """Dollars from JSON as cents, refusing what Stripe would refuse."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise invalid(name, f"The {name} field is required and must be a number.")
    try:
        dollars = Decimal(str(value))
    except InvalidOperation:
        raise invalid(name, f"The {name} must be a number.") from None
    if not dollars.is_finite() or dollars != dollars.quantize(Decimal("0.01")):
        raise invalid(name, f"The {name} may have at most two decimal places.")
    if dollars < minimum:
        raise invalid(name, f"The {name} must be at least {minimum}.")
    if dollars > _MAX_AMOUNT:
        raise invalid(name, f"The {name} may not be greater than {_MAX_AMOUNT}.")
    return int(dollars * 100)


def _bounded_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid(name, f"The {name} must be an integer from {low} to {high}.")
    return int(raw)


def _link(session: CheckoutSession, base_url: str) -> dict[str, Any]:
    link: dict[str, Any] = {
        "payment_url": f"{base_url}/checkout/{session.id}",
        "session_id": session.id,
        "purpose": session.purpose,
        "amount": to_dollars(session.amount_cents),
        "expires_at": format_datetime(session.expires_at),
        "instructions": (
            "Send the payment_url to the person who pays. After paying they see "
            "the session_id; confirm it with the matching confirm-checkout endpoint."
        ),
    }
    if session.plan_id is not None:
        link["plan_id"] = session.plan_id
    return link


def _checkout_fallback(session: CheckoutSession, base_url: str) -> dict[str, Any]:
    return {
        "message": "Complete the payment in the browser.",
        "checkout_url": f"{base_url}/checkout/{session.id}",
        "session_id": session.id,
        "expires_at": format_datetime(session.expires_at),
    }


_EXPIRED: Final[dict[str, ApiFailure]] = {
    "410": ApiFailure(410, "checkout_expired", "The checkout session has expired."),
    "422": invalid("session_id", "The checkout session has expired."),
    "400": ApiFailure(400, "bad_request", "The checkout session cannot be confirmed."),
}
