"""Rows written straight into the database, for tests that skip the chat."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.billing.models import PaymentLink
from storage.models import Checkout, PaymentRequest


def add_topup(
    session: Session, number: int, state: str, amount_cents: int = 2000, **extra: object
) -> PaymentRequest:
    """A top-up request by alice in the console chat, already flushed."""
    request = PaymentRequest(
        ref=f"ref{number}",
        kind="topup",
        state=state,
        platform="console",
        chat_id="team",
        requester_id="console:alice",
        requester_name="alice",
        amount_cents=amount_cents,
        **extra,
    )
    session.add(request)
    session.flush()
    return request


def add_checkout(
    session: Session,
    request: PaymentRequest,
    session_id: str,
    expires_at: datetime,
    payment_url: str = "http://127.0.0.1/checkout",
    **extra: object,
) -> Checkout:
    checkout = Checkout(
        request_id=request.id or 0,
        session_id=session_id,
        purpose="fund",
        payment_url=payment_url,
        expires_at=expires_at,
        **extra,
    )
    session.add(checkout)
    return checkout


def add_link(session: Session, request: PaymentRequest, link: PaymentLink) -> Checkout:
    """The checkout of a payment link the sandbox made."""
    return add_checkout(
        session,
        request,
        link.session_id,
        link.expires_at,
        payment_url=link.payment_url,
    )
