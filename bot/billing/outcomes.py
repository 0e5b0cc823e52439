"""Every outcome of an API call, decided in one place.

:func:`error_for` maps an exchange to the exception a caller can act on;
:func:`classify_checkout` maps a confirm-checkout exchange to a
:class:`CheckoutOutcome`. Nothing else in the client inspects statuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from bot.billing.models import CheckoutOutcome, CheckoutStatus, Purpose
from bot.billing.secret import Secret
from bot.billing.wire import ErrorInfo, error_info, to_cents, unwrap
from bot.errors import (
    BillingAuthError,
    BillingError,
    BillingNotFound,
    BillingRateLimited,
    BillingRejected,
    BillingUnavailable,
    PaymentDeclined,
)

# Used when a 429 names no wait at all: a quarter of the documented minute.
DEFAULT_RETRY_AFTER: Final = 15.0

_REJECTIONS: Final[dict[int, type[BillingRejected]]] = {
    401: BillingAuthError,
    403: BillingAuthError,
    402: PaymentDeclined,
    404: BillingNotFound,
}

_PROBLEM_TEXT: Final = {
    "timeout": "ModelsLab did not answer in time",
    "dropped": "the connection to ModelsLab dropped",
    "network": "ModelsLab could not be reached",
    "empty": "ModelsLab sent an empty answer",
    "html": "ModelsLab sent a web page instead of data",
    "malformed": "ModelsLab sent an unreadable answer",
}


@dataclass(frozen=True)
class Exchange:
    """One HTTP attempt: a status and body, or the problem that prevented one.

    ``problem`` names what went wrong below HTTP (``timeout``, ``dropped``,
    ``network``) or with a 2xx body (``empty``, ``html``, ``malformed``).
    """

    status: int | None
    body: Any = None
    problem: str = ""
    retry_after: float | None = None
    cause: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.problem


def error_for(exchange: Exchange, token: Secret) -> BillingError | None:
    """The exception for a failed exchange, or ``None`` when it succeeded."""
    if exchange.ok:
        return None
    status = exchange.status
    if status is None or exchange.problem:
        return BillingUnavailable(_PROBLEM_TEXT.get(exchange.problem, "no answer"))
    info = error_info(exchange.body)
    if status == 429:
        wait = _retry_wait(exchange, info)
        return BillingRateLimited(
            f"ModelsLab asked us to slow down; retry in {wait:.0f} s.", wait
        )
    if status >= 500 or status < 400:
        return BillingUnavailable(f"ModelsLab is unavailable (HTTP {status}).")
    rejection = _REJECTIONS.get(status, BillingRejected)
    return rejection(
        _rejection_text(status, info, token),
        status=status,
        code=info.code,
        details=info.details,
    )


def _retry_wait(exchange: Exchange, info: ErrorInfo) -> float:
    return exchange.retry_after or info.retry_after or DEFAULT_RETRY_AFTER


def _rejection_text(status: int, info: ErrorInfo, token: Secret) -> str:
    label = f"HTTP {status} {info.code}".strip()
    reason = safe_text(info.message, token)
    return (
        f"ModelsLab refused the request ({label}): {reason}"
        if reason
        else (f"ModelsLab refused the request ({label}).")
    )


def safe_text(message: str, token: Secret, limit: int = 160) -> str:
    """An API message fit for chat: one line, short, no JSON, no token."""
    text = " ".join(token.scrub(message).split())
    if text.startswith(("{", "[", "<")):
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CODE_OUTCOMES: Final[dict[str, CheckoutStatus]] = {
    "payment_declined": "declined",
    "card_declined": "declined",
    "checkout_expired": "expired",
    "session_expired": "expired",
    "checkout_not_completed": "pending",
    "checkout_incomplete": "pending",
    "checkout_open": "pending",
    "payment_pending": "pending",
}

_STATUS_OUTCOMES: Final[dict[int, CheckoutStatus]] = {
    401: "auth_failed",
    403: "auth_failed",
    404: "unknown_session",
    410: "expired",
    429: "rate_limited",
}

# Words a 2xx answer may use for a session that is not (or no longer) payable.
_STATE_WORDS: Final[dict[str, CheckoutStatus]] = {
    "open": "pending",
    "pending": "pending",
    "unpaid": "pending",
    "processing": "pending",
    "incomplete": "pending",
    "requires_action": "pending",
    "requires_payment_method": "pending",
    "expired": "expired",
}


def classify_checkout(
    exchange: Exchange,
    purpose: Purpose,
    *,
    expires_at: datetime | None,
    now: datetime,
) -> CheckoutOutcome:
    """Decide what a confirm-checkout answer means for the payment."""
    status = exchange.status
    if status is None or exchange.problem or status // 100 not in (2, 4):
        return CheckoutOutcome("transient", exchange.problem or f"HTTP {status}")
    if 200 <= status < 300:
        return _classify_success(exchange, purpose)

    info = error_info(exchange.body)
    detail = f"HTTP {status} {info.code}".strip()
    if status in (401, 403, 429):
        wait = exchange.retry_after or info.retry_after or DEFAULT_RETRY_AFTER
        retry_after = wait if status == 429 else None
        return CheckoutOutcome(
            _STATUS_OUTCOMES[status], detail, retry_after=retry_after
        )
    verdict = _CODE_OUTCOMES.get(info.code) or _STATUS_OUTCOMES.get(status)
    if verdict is None:
        # An answer we do not know means "not paid yet" while the link lives.
        payable = expires_at is None or now < expires_at
        verdict = "pending" if payable else "expired"
    return CheckoutOutcome(verdict, detail)


def _classify_success(exchange: Exchange, purpose: Purpose) -> CheckoutOutcome:
    data = unwrap(exchange.body)
    if not isinstance(data, dict):
        return CheckoutOutcome("transient", f"HTTP {exchange.status} malformed")
    word = _status_word(data)
    detail = f"HTTP {exchange.status} {word}".strip()
    if exchange.status == 202:
        return CheckoutOutcome("pending", detail)
    verdict = _STATE_WORDS.get(word)
    if verdict is not None:
        return CheckoutOutcome(verdict, detail)
    return _paid(data, purpose, detail)


def _paid(data: dict[str, Any], purpose: Purpose, detail: str) -> CheckoutOutcome:
    subscription = _mapping(data.get("subscription"))
    plan = _mapping(data.get("plan"))
    wallet = _mapping(data.get("wallet"))
    sub_status = subscription.get("status") or (
        data.get("status") if purpose == "subscribe" else None
    )
    plan_id = subscription.get("plan_id") or data.get("plan_id") or plan.get("id")
    plan_name = (
        data.get("plan_name") or plan.get("name") or subscription.get("plan_name")
    )
    return CheckoutOutcome(
        "paid",
        detail,
        balance_cents=to_cents(data.get("balance", wallet.get("balance"))),
        amount_cents=to_cents(data.get("amount")),
        subscription_status=sub_status if isinstance(sub_status, str) else None,
        plan_id=plan_id
        if isinstance(plan_id, int) and not isinstance(plan_id, bool)
        else None,
        plan_name=plan_name if isinstance(plan_name, str) else None,
    )


def _status_word(data: dict[str, Any]) -> str:
    for key in ("checkout_status", "payment_status", "status"):
        value = data.get(key)
        if isinstance(value, str) and re.fullmatch(r"[a-z_]{1,40}", value.lower()):
            return value.lower()
    return ""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
