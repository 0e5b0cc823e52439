"""The audit trail read back: one row per request, and the chain check.

An export row joins a request with its votes, its checkout session, the
amount credited and the balance after, so finance can reconcile chat
decisions with the wallet without reading the database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from bot.money import format_usd
from storage import repo
from storage.db import Database
from storage.models import Checkout, PaymentRequest, Vote

COLUMNS = (
    "request_id",
    "created_at",
    "kind",
    "state",
    "platform",
    "chat_id",
    "requester",
    "amount_usd",
    "plan",
    "note",
    "approvals_required",
    "votes",
    "rules",
    "session_id",
    "checkout_status",
    "amount_credited_usd",
    "balance_after_usd",
    "settled_at",
)


def export_rows(db: Database, since: datetime | None = None) -> list[dict[str, str]]:
    """One row per request made since ``since`` (all when None)."""

    def read(session: Session) -> list[dict[str, str]]:
        return [
            _row(
                request,
                repo.votes_for(session, request.id or 0),
                repo.checkout_for_request(session, request.id or 0),
            )
            for request in repo.requests_created_since(session, since)
        ]

    return db.run_read(read)


def _row(
    request: PaymentRequest, votes: Sequence[Vote], checkout: Checkout | None
) -> dict[str, str]:
    paid = checkout is not None and checkout.status == "paid"
    credited = request.amount_cents if paid and request.kind == "topup" else None
    balance = checkout.balance_after_cents if checkout else None
    return {
        "request_id": str(request.id),
        "created_at": request.created_at.isoformat(),
        "kind": request.kind,
        "state": request.state,
        "platform": request.platform,
        "chat_id": request.chat_id,
        "requester": f"{request.requester_name} ({request.requester_id})",
        "amount_usd": _dollars(request.amount_cents),
        "plan": request.plan_name or "",
        "note": request.note,
        "approvals_required": str(request.approvals_required),
        "votes": "; ".join(_vote_text(vote) for vote in votes),
        "rules": request.policy_digest or "",
        "session_id": checkout.session_id if checkout else "",
        "checkout_status": checkout.status if checkout else "",
        "amount_credited_usd": _dollars(credited),
        "balance_after_usd": _dollars(balance),
        "settled_at": (
            checkout.settled_at.isoformat() if checkout and checkout.settled_at else ""
        ),
    }


def _vote_text(vote: Vote) -> str:
    text = f"{vote.voter_name} {vote.decision} {vote.created_at.isoformat()}"
    return text + (f" ({vote.reason})" if vote.reason else "")


def _dollars(cents: int | None) -> str:
    # Plain numbers, so a spreadsheet can add them up.
    return "" if cents is None else format_usd(cents).lstrip("$").replace(",", "")


def to_csv(rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(rows: Sequence[dict[str, str]]) -> str:
    return json.dumps(list(rows), indent=2) + "\n"


def verify(db: Database) -> tuple[bool, str]:
    """Check the hash chain; False with the first broken event when it fails."""

    def check(session: Session) -> tuple[bool, str]:
        broken = repo.audit_break(session)
        if broken is None:
            count = repo.count_audit_events(session)
            return True, f"audit trail intact: {count} events, every hash matches"
        event, how = broken
        what = (
            f"audit event {event.id} ({event.at.isoformat()} {event.actor}: "
            f"{event.action}, request #{event.request_id})"
        )
        if how == "altered":
            return False, f"{what} was altered: its content no longer matches its hash"
        return False, (
            f"{what} does not follow the event stored before it: "
            "an earlier event was removed or rewritten"
        )

    return db.run_read(check)
