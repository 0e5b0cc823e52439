"""The payment request state machine.

    awaiting_approval -> approved | denied | cancelled | expired
    approved          -> link_open | cancelled | failed
    link_open         -> paid | cancelled | expired | failed
    cancelled         -> paid

A cancelled request whose link was already out stays watched: if someone
pays it anyway, the money is credited and reported. Every move is a
conditional update naming the states it may leave, so of two racing
callers only one wins.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # approved; the payment link is being created
    LINK_OPEN = "link_open"
    PAID = "paid"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"


OPEN_STATES = frozenset({State.AWAITING_APPROVAL, State.APPROVED, State.LINK_OPEN})

DESCRIPTIONS: dict[State, str] = {
    State.AWAITING_APPROVAL: "Waiting for approval",
    State.APPROVED: "Approved, creating the payment link",
    State.LINK_OPEN: "Payment link sent, waiting for payment",
    State.PAID: "Paid",
    State.DENIED: "Denied",
    State.CANCELLED: "Cancelled",
    State.EXPIRED: "Expired",
    State.FAILED: "Failed",
}
