"""The payment request state machine."""

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


# A cancelled request whose link was already out stays watched: if someone
# pays it anyway, the money is credited and reported, so CANCELLED -> PAID.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.AWAITING_APPROVAL: frozenset(
        {State.APPROVED, State.DENIED, State.CANCELLED, State.EXPIRED}
    ),
    State.APPROVED: frozenset({State.LINK_OPEN, State.CANCELLED, State.FAILED}),
    State.LINK_OPEN: frozenset(
        {State.PAID, State.CANCELLED, State.EXPIRED, State.FAILED}
    ),
    State.CANCELLED: frozenset({State.PAID}),
    State.PAID: frozenset(),
    State.DENIED: frozenset(),
    State.EXPIRED: frozenset(),
    State.FAILED: frozenset(),
}

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


def sources_of(target: State) -> frozenset[State]:
    """Every state from which ``target`` may be reached."""
    return frozenset(state for state, nexts in TRANSITIONS.items() if target in nexts)
