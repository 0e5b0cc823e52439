"""Neutral messages: the request card, the payment link, reports and notices.

Everything returned here is plain text in a ``Message``; adapters format it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.chat import Button, Message
from bot.money import format_usd
from bot.states import DESCRIPTIONS, State
from storage.models import AuditEvent, Checkout, PaymentRequest, Vote


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def subject(request: PaymentRequest) -> str:
    """What is being paid for: ``Top-up $50.00`` or a plan and its price."""
    price = format_usd(request.amount_cents or 0)
    if request.kind == "topup":
        return f"Top-up {price}"
    return f"Subscription {request.plan_name} ({price})"


def _votes_line(request: PaymentRequest, votes: Sequence[Vote]) -> str:
    approvals = [vote.voter_name for vote in votes if vote.decision == "approve"]
    denials = [vote.voter_name for vote in votes if vote.decision == "deny"]
    line = f"{len(approvals)} of {request.approvals_required}"
    if approvals:
        line += " (" + ", ".join(approvals) + ")"
    if denials:
        line += "; denied by " + ", ".join(denials)
    return line


def _buttons(request: PaymentRequest) -> tuple[Button, ...]:
    ref = request.ref
    if request.state == State.AWAITING_APPROVAL:
        return (
            Button("approve", "Approve", ref, "primary"),
            Button("deny", "Deny", ref, "danger"),
        )
    if request.state == State.LINK_OPEN:
        return (
            Button("paid", "I've paid", ref, "primary"),
            Button("cancel", "Cancel", ref),
        )
    if request.state == State.EXPIRED:
        return (Button("retry", "Ask again", ref),)
    return ()


def request_card(
    request: PaymentRequest, votes: Sequence[Vote], checkout: Checkout | None = None
) -> Message:
    """The card for a request, with the buttons its state allows."""
    fields = [("Requested by", request.requester_name)]
    if request.note:
        fields.append(("Note", request.note))
    fields += _wallet_fields(request)
    fields.append(("Approvals", _votes_line(request, votes)))
    deadline = request.approval_expires_at
    if deadline and request.state == State.AWAITING_APPROVAL:
        fields.append(("Decide by", when(deadline)))
    fields.append(("State", DESCRIPTIONS[State(request.state)]))
    if checkout and checkout.status == "open" and request.state == State.LINK_OPEN:
        fields.append(("Link expires", when(checkout.expires_at)))
    return Message(
        title=f"#{request.id} {subject(request)}",
        fields=tuple(fields),
        buttons=_buttons(request),
    )


def _usd_or_unknown(cents: int | None) -> str:
    return "unknown" if cents is None else format_usd(cents)


def _wallet_fields(request: PaymentRequest) -> list[tuple[str, str]]:
    """What the wallet and the budget looked like when the request was made."""
    if request.policy_digest is None:
        return []  # made before paybot recorded these
    fields = [
        ("Wallet balance", _usd_or_unknown(request.balance_cents)),
        ("Spent in the last 30 days", _usd_or_unknown(request.spent_30d_cents)),
    ]
    left = request.budget_left_cents
    if left is not None:
        over = left < (request.amount_cents or 0)
        note = " (over budget: one extra approval needed)" if over else ""
        fields.append(("Budget left", format_usd(max(left, 0)) + note))
    return fields


def payment_link(request: PaymentRequest, checkout: Checkout) -> Message:
    text = (
        f"Payment link for #{request.id} ({subject(request)}):\n"
        f"{checkout.payment_url}\n"
        f"It expires at {when(checkout.expires_at)}. After paying, press "
        f"I've paid or type `paid {request.id}`"
    )
    return Message(text=text, links=(checkout.payment_url,))


def link_sent_privately(request: PaymentRequest, payer_name: str) -> Message:
    return Message(
        text=f"Sending the payment link for #{request.id} privately to {payer_name}."
    )


def topup_paid(request: PaymentRequest, balance_cents: int | None) -> Message:
    text = f"Wallet funded: {format_usd(request.amount_cents or 0)}."
    if balance_cents is not None:
        text += f" New balance: {format_usd(balance_cents)}"
    text += f" (request #{request.id})"
    return Message(text=_after_cancel(request) + text)


def subscription_paid(request: PaymentRequest, status: str) -> Message:
    text = f"Subscription to {request.plan_name}: {status} (request #{request.id})"
    return Message(text=_after_cancel(request) + text)


def _after_cancel(request: PaymentRequest) -> str:
    if request.state == State.CANCELLED:
        return f"Request #{request.id} was cancelled, but its link was paid. "
    return ""


def link_expired(request: PaymentRequest) -> Message:
    return Message(
        text=(
            f"The payment link for #{request.id} expired unpaid. "
            "Press Ask again on the card, or make a new request."
        )
    )


def billing_delayed(request: PaymentRequest) -> Message:
    return Message(
        text=(
            f"Billing is unavailable right now; paybot will keep retrying the "
            f"payment link for #{request.id}. Nothing is lost."
        )
    )


def approval_reminder(request: PaymentRequest, waiting_for: Sequence[str]) -> Message:
    names = ", ".join(waiting_for) or "the approvers"
    text = f"Reminder: #{request.id} ({subject(request)}) still waits for approval"
    if request.approval_expires_at:
        text += f" until {when(request.approval_expires_at)}"
    return Message(text=f"{text}. Waiting for: {names}.")


def approval_expired(request: PaymentRequest) -> Message:
    return Message(
        text=(
            f"#{request.id} expired: nobody decided it in time. It was not "
            "denied; press Ask again on the card, or make a new request."
        )
    )


def history(request: PaymentRequest, events: Sequence[AuditEvent]) -> Message:
    lines = [f"{when(event.at)}  {event.actor}: {event.action}" for event in events]
    lines = [
        line + (f" ({event.detail})" if event.detail else "")
        for line, event in zip(lines, events, strict=True)
    ]
    return Message(text="History:\n" + "\n".join(lines))
