"""The async client for the ModelsLab Agent Control Plane billing API.

Every method returns a typed result or raises a :class:`bot.errors.BillingError`;
no ``httpx`` or JSON exception escapes. :meth:`BillingClient.confirm_checkout`
is the exception: it reports every outcome as a :class:`CheckoutOutcome`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx

from bot.billing import models
from bot.billing.models import (
    ApiPayload,
    Balance,
    CheckoutOutcome,
    Invoice,
    PaymentLink,
    PaymentMethod,
    PaymentStatus,
    PlanCatalog,
    Purpose,
    RateLimitState,
    Subscription,
    TokenGrant,
    TransactionPage,
)
from bot.billing.outcomes import Exchange, classify_checkout
from bot.billing.secret import Secret
from bot.billing.transport import ApiTransport, Call, Timeouts, is_dropped
from bot.billing.wire import BodyError, is_replay, to_dollars, unwrap
from bot.errors import BillingUnavailable, InvalidInput

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CONFIRM_PATHS: Final[dict[Purpose, str]] = {
    "fund": "/wallet/confirm-checkout",
    "subscribe": "/subscriptions/confirm-checkout",
}
BILLING_INFO_FIELDS: Final = frozenset(
    {
        "name",
        "email",
        "tax_id",
        "tax_id_type",
        "address_line1",
        "address_line2",
        "address_city",
        "address_state",
        "address_postal_code",
        "address_country",
    }
)


class BillingClient:
    """One ModelsLab account, reached through one bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str | Secret,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        timeouts: Timeouts | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._timeouts = timeouts or Timeouts()
        http = httpx.AsyncClient(base_url=self._base_url + "/", transport=transport)
        secret = token if isinstance(token, Secret) else Secret(token)
        self._api = ApiTransport(
            http, secret, max_attempts=max_attempts, sleep=sleep, clock=clock
        )
        self._http = http

    def __repr__(self) -> str:
        return f"BillingClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> BillingClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def call_outcomes(self) -> Mapping[str, int]:
        """How many calls ended how: "ok", "429", "4xx", "5xx", "network"."""
        return self._api.outcomes

    @property
    def rate_limit(self) -> RateLimitState:
        """The rate-limit headers of the latest response."""
        return self._api.rate_limit

    # The payment flow

    async def create_payment_link(
        self,
        purpose: Purpose,
        *,
        idempotency_key: str,
        amount_cents: int | None = None,
        plan_id: int | None = None,
    ) -> PaymentLink:
        """Create a hosted checkout; a retry with the same key returns it again."""
        body = _payment_link_body(purpose, amount_cents, plan_id)
        exchange = await self._mutate(
            "POST", "/billing/payment-link", body, idempotency_key=idempotency_key
        )
        now = datetime.fromtimestamp(self._clock(), UTC)
        return _parse(
            models.parse_payment_link,
            unwrap(exchange.body),
            replayed=is_replay(exchange.body),
            now=now,
        )

    async def confirm_checkout(
        self,
        purpose: Purpose,
        session_id: str,
        *,
        expires_at: datetime | None = None,
    ) -> CheckoutOutcome:
        """Ask once whether a checkout was paid; never raises for API outcomes."""
        call = Call(
            "POST",
            _CONFIRM_PATHS[purpose],
            self._timeouts.for_read(),
            body={"session_id": session_id},
            # Polled often; the outcome line below is the one worth reading.
            log_level=logging.DEBUG,
        )
        exchange = await self._api.exchange(call)
        if is_dropped(exchange):
            # A pooled connection the server had closed; nothing was processed.
            exchange = await self._api.exchange(call)
        now = datetime.fromtimestamp(self._clock(), UTC)
        outcome = classify_checkout(exchange, purpose, expires_at=expires_at, now=now)
        # Unpaid answers come every few seconds per checkout: detail, not news.
        level = logging.DEBUG if outcome.status == "pending" else logging.INFO
        logger.log(
            level, "checkout %s: %s (%s)", session_id, outcome.status, outcome.detail
        )
        return outcome

    # Subscriptions

    async def list_plans(self) -> PlanCatalog:
        exchange = await self._get("/subscriptions/plans")
        return _parse(models.parse_plan_catalog, unwrap(exchange.body))

    async def subscriptions(self) -> list[Subscription]:
        exchange = await self._get("/subscriptions")
        return _parse(models.parse_subscriptions, unwrap(exchange.body))

    async def create_subscription(
        self,
        plan_id: int,
        *,
        idempotency_key: str | None = None,
        payment_method_id: str | None = None,
    ) -> ApiPayload:
        body: dict[str, Any] = {"plan_id": plan_id}
        if payment_method_id is not None:
            body["payment_method_id"] = payment_method_id
        return await self._payload_of(
            "POST", "/subscriptions", body, idempotency_key=idempotency_key
        )

    async def subscription_status(self, subscription_id: int) -> Subscription:
        exchange = await self._get(f"/subscriptions/{_segment(subscription_id)}/status")
        subscription = models.parse_subscription(unwrap(exchange.body))
        if subscription is None:
            raise BillingUnavailable(_UNREADABLE)
        return subscription

    async def update_subscription(
        self,
        subscription_id: int,
        new_plan_id: int,
        *,
        idempotency_key: str | None = None,
    ) -> ApiPayload:
        path = f"/subscriptions/{_segment(subscription_id)}"
        body = {"new_plan_id": new_plan_id}
        return await self._payload_of(
            "PUT", path, body, idempotency_key=idempotency_key
        )

    async def pause_subscription(
        self, subscription_id: int, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        return await self._subscription_action(
            subscription_id, "pause", idempotency_key
        )

    async def resume_subscription(
        self, subscription_id: int, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        return await self._subscription_action(
            subscription_id, "resume", idempotency_key
        )

    async def reset_subscription_cycle(
        self, subscription_id: int, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        return await self._subscription_action(
            subscription_id, "reset-cycle", idempotency_key
        )

    async def fix_subscription_payment(
        self,
        subscription_id: int,
        *,
        plan_category: str | None = None,
        stripe_subscription_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> ApiPayload:
        body = _without_none(
            plan_category=plan_category, stripe_subscription_id=stripe_subscription_id
        )
        path = f"/subscriptions/{_segment(subscription_id)}/fix-payment"
        return await self._payload_of(
            "POST", path, body, idempotency_key=idempotency_key
        )

    async def set_charge_amount(
        self, amount_cents: int, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        body = {"amount": _dollars(amount_cents)}
        return await self._payload_of(
            "POST",
            "/subscriptions/charge-amount",
            body,
            idempotency_key=idempotency_key,
        )

    async def _subscription_action(
        self, subscription_id: int, action: str, idempotency_key: str | None
    ) -> ApiPayload:
        path = f"/subscriptions/{_segment(subscription_id)}/{action}"
        return await self._payload_of(
            "POST", path, None, idempotency_key=idempotency_key
        )

    # Wallet and payments

    async def wallet_balance(self) -> Balance:
        exchange = await self._get("/wallet/balance")
        return _parse(models.parse_balance, unwrap(exchange.body))

    async def wallet_transactions(
        self, *, type: str | None = None, limit: int = 50, offset: int = 0
    ) -> TransactionPage:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if type is not None:
            params["type"] = type
        exchange = await self._get("/wallet/transactions", params)
        return _parse(models.parse_transaction_page, unwrap(exchange.body))

    async def fund_wallet(
        self,
        amount_cents: int,
        *,
        idempotency_key: str | None = None,
        payment_method_id: str | None = None,
    ) -> ApiPayload:
        body: dict[str, Any] = {"amount": _dollars(amount_cents)}
        if payment_method_id is not None:
            body["payment_method_id"] = payment_method_id
        return await self._payload_of(
            "POST", "/wallet/fund", body, idempotency_key=idempotency_key
        )

    async def set_auto_funding(
        self,
        *,
        auto_charge_amount_cents: int,
        charge_threshold_cents: int,
        idempotency_key: str | None = None,
    ) -> ApiPayload:
        body = {
            "auto_charge_amount": _dollars(auto_charge_amount_cents),
            "charge_threshold": _dollars(charge_threshold_cents),
        }
        return await self._payload_of(
            "PUT", "/wallet/auto-funding", body, idempotency_key=idempotency_key
        )

    async def disable_auto_funding(
        self, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        return await self._payload_of(
            "DELETE", "/wallet/auto-funding", None, idempotency_key=idempotency_key
        )

    async def withdraw(
        self, amount_cents: int, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        body = {"amount": _dollars(amount_cents)}
        return await self._payload_of(
            "POST", "/wallet/withdraw", body, idempotency_key=idempotency_key
        )

    async def validate_coupon(
        self, coupon_code: str, *, purchase_amount_cents: int | None = None
    ) -> ApiPayload:
        params: dict[str, str | int] = {"coupon_code": coupon_code}
        if purchase_amount_cents is not None:
            params["purchase_amount"] = str(to_dollars(purchase_amount_cents))
        exchange = await self._get("/wallet/coupons/validate", params)
        return models.parse_api_payload(unwrap(exchange.body), replayed=False)

    async def redeem_coupon(
        self,
        coupon_code: str,
        *,
        idempotency_key: str | None = None,
        payment_method_id: str | None = None,
        purchase_amount_cents: int | None = None,
    ) -> ApiPayload:
        body = _without_none(
            coupon_code=coupon_code, payment_method_id=payment_method_id
        )
        if purchase_amount_cents is not None:
            body["purchase_amount"] = _dollars(purchase_amount_cents)
        return await self._payload_of(
            "POST", "/wallet/coupons/redeem", body, idempotency_key=idempotency_key
        )

    async def payment_status(self, payment_intent_id: str) -> PaymentStatus:
        exchange = await self._get(f"/payments/{_segment(payment_intent_id)}/status")
        return _parse(models.parse_payment_status, unwrap(exchange.body))

    # Billing profile, cards and invoices

    async def billing_overview(self) -> ApiPayload:
        return await self._read_payload("/billing/overview")

    async def stripe_config(self) -> ApiPayload:
        return await self._read_payload("/billing/stripe-config")

    async def create_setup_intent(
        self, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        return await self._payload_of(
            "POST", "/billing/setup-intent", None, idempotency_key=idempotency_key
        )

    async def payment_methods(self) -> list[PaymentMethod]:
        exchange = await self._get("/billing/payment-methods")
        return models.parse_payment_methods(unwrap(exchange.body))

    async def add_payment_method(
        self,
        payment_method_id: str,
        *,
        make_default: bool = True,
        idempotency_key: str | None = None,
    ) -> ApiPayload:
        body = {"payment_method_id": payment_method_id, "make_default": make_default}
        return await self._payload_of(
            "POST", "/billing/payment-methods", body, idempotency_key=idempotency_key
        )

    async def set_default_payment_method(
        self, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        path = f"/billing/payment-methods/{_segment(payment_method_id)}/default"
        return await self._payload_of(
            "PUT", path, None, idempotency_key=idempotency_key
        )

    async def delete_payment_method(
        self, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> ApiPayload:
        path = f"/billing/payment-methods/{_segment(payment_method_id)}"
        return await self._payload_of(
            "DELETE", path, None, idempotency_key=idempotency_key
        )

    async def billing_info(self) -> ApiPayload:
        return await self._read_payload("/billing/info")

    async def update_billing_info(
        self, fields: Mapping[str, str], *, idempotency_key: str | None = None
    ) -> ApiPayload:
        unknown = sorted(set(fields) - BILLING_INFO_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown billing info field: {', '.join(unknown)}.")
        return await self._payload_of(
            "PUT", "/billing/info", dict(fields), idempotency_key=idempotency_key
        )

    async def invoices(self) -> list[Invoice]:
        exchange = await self._get("/billing/invoices")
        return models.parse_invoices(unwrap(exchange.body))

    async def invoice(self, invoice_id: str) -> ApiPayload:
        return await self._read_payload(f"/billing/invoices/{_segment(invoice_id)}")

    async def invoice_pdf_url(self, invoice_id: str) -> str:
        exchange = await self._get(f"/billing/invoices/{_segment(invoice_id)}/pdf")
        for place in (exchange.body, unwrap(exchange.body)):
            if isinstance(place, dict):
                url = place.get("url") or place.get("pdf_url")
                if isinstance(url, str) and url:
                    return url
        raise BillingUnavailable(_UNREADABLE)

    # Tokens

    async def login(
        self,
        email: str,
        password: str | Secret,
        *,
        device_name: str | None = None,
        token_expiry: str | None = None,
    ) -> TokenGrant:
        """Exchange credentials for a token; the client keeps its own token."""
        secret = password if isinstance(password, Secret) else Secret(password)
        body = _without_none(
            email=email,
            password=secret.reveal(),
            device_name=device_name,
            token_expiry=token_expiry,
        )
        call = Call(
            "POST",
            "/auth/login",
            self._timeouts.for_mutation(),
            body,
            authenticated=False,
        )
        exchange = await self._api.call(call)
        return _parse(models.parse_token_grant, unwrap(exchange.body))

    async def refresh_token(
        self, *, token_expiry: str | None = None, device_name: str | None = None
    ) -> TokenGrant:
        """Rotate the token; the API revokes the old one, so the client switches."""
        body = _without_none(token_expiry=token_expiry, device_name=device_name)
        exchange = await self._mutate("POST", "/auth/refresh", body)
        grant = _parse(models.parse_token_grant, unwrap(exchange.body))
        self._api.token = grant.access_token
        return grant

    async def logout(self) -> ApiPayload:
        return await self._payload_of("POST", "/auth/logout", None)

    # Plumbing

    async def _get(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> Exchange:
        timeout = self._timeouts.for_read()
        return await self._api.call(
            Call("GET", path, timeout, params=params, log_level=logging.DEBUG)
        )

    async def _mutate(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        idempotency_key: str | None = None,
    ) -> Exchange:
        timeout = self._timeouts.for_mutation()
        return await self._api.call(
            Call(method, path, timeout, body, idempotency_key=idempotency_key)
        )

    async def _payload_of(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        idempotency_key: str | None = None,
    ) -> ApiPayload:
        exchange = await self._mutate(
            method, path, body, idempotency_key=idempotency_key
        )
        return models.parse_api_payload(
            unwrap(exchange.body), replayed=is_replay(exchange.body)
        )

    async def _read_payload(self, path: str) -> ApiPayload:
        exchange = await self._get(path)
        return models.parse_api_payload(unwrap(exchange.body), replayed=False)


_UNREADABLE: Final = "ModelsLab sent an answer paybot cannot read."


def _parse(parser: Callable[..., T], payload: Any, **kwargs: Any) -> T:
    try:
        return parser(payload, **kwargs)
    except BodyError as exc:
        raise BillingUnavailable(_UNREADABLE) from exc


def _payment_link_body(
    purpose: Purpose, amount_cents: int | None, plan_id: int | None
) -> dict[str, Any]:
    if purpose == "fund":
        if amount_cents is None or plan_id is not None:
            raise InvalidInput("A top-up link needs an amount and no plan, e.g. 50.")
        return {"purpose": "fund", "amount": _dollars(amount_cents)}
    if plan_id is None or amount_cents is not None:
        raise InvalidInput(
            "A subscription link needs a plan id and no amount, e.g. 10."
        )
    return {"purpose": "subscribe", "plan_id": plan_id}


def _dollars(amount_cents: int) -> Decimal:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise InvalidInput("Amounts are whole cents, for example 5000 for $50.00.")
    if amount_cents <= 0:
        raise InvalidInput("The amount must be more than zero, for example $50.00.")
    return to_dollars(amount_cents)


def _without_none(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _segment(value: str | int) -> str:
    # Ids come from people and APIs; never let one change the path.
    return quote(str(value), safe="")
