"""The queries the engine runs. Every function takes an open session and
leaves committing to the caller, so one transaction can hold a state
change, its audit event and its outgoing messages together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, func, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from storage.models import (
    AuditEvent,
    Checkout,
    OutboxMessage,
    PaymentRequest,
    ProcessedInbound,
    Vote,
    utcnow,
)

GENESIS_HASH = "0" * 64
# How many due checkouts a claim weighs against each other.
CLAIM_CANDIDATES = 200


def _changed(session: Session, statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE; return how many rows it touched."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def _insert_ignoring_conflict(
    session: Session, table: type[SQLModel], values: dict[str, Any]
) -> bool:
    """INSERT that reports False instead of failing on a unique conflict.

    RETURNING tells whether a row went in: drivers disagree on the row
    count of ``ON CONFLICT DO NOTHING``.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = list(table.__table__.primary_key.columns)  # type: ignore[attr-defined]
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(*key)
    return session.execute(statement).first() is not None


def claim_inbound(session: Session, key: str) -> bool:
    """Record a chat event's dedupe key; False if it was seen before."""
    return _insert_ignoring_conflict(
        session, ProcessedInbound, {"key": key, "at": utcnow()}
    )


def forget_inbound_before(session: Session, cutoff: datetime) -> int:
    statement = delete(ProcessedInbound).where(col(ProcessedInbound.at) < cutoff)
    return _changed(session, statement)


def add_vote(session: Session, vote: Vote) -> bool:
    """Store a vote; False if this person already voted on the request."""
    values = vote.model_dump(exclude={"id"})
    return _insert_ignoring_conflict(session, Vote, values)


def votes_for(session: Session, request_id: int) -> list[Vote]:
    query = select(Vote).where(Vote.request_id == request_id).order_by(col(Vote.id))
    return list(session.exec(query))


def move_request(
    session: Session, request_id: int, sources: Iterable[str], target: str
) -> bool:
    """Conditional state change: only one of several racing callers wins."""
    statement = (
        update(PaymentRequest)
        .where(col(PaymentRequest.id) == request_id)
        .where(col(PaymentRequest.state).in_(list(sources)))
        .values(state=target, updated_at=utcnow())
    )
    return bool(_changed(session, statement))


def get_request(session: Session, request_id: int) -> PaymentRequest | None:
    return session.get(PaymentRequest, request_id)


def get_request_by_ref(session: Session, ref: str) -> PaymentRequest | None:
    query = select(PaymentRequest).where(PaymentRequest.ref == ref)
    return session.exec(query).first()


def open_requests(
    session: Session, states: Iterable[str], platform: str, chat_id: str
) -> list[PaymentRequest]:
    query = (
        select(PaymentRequest)
        .where(col(PaymentRequest.state).in_(list(states)))
        .where(PaymentRequest.platform == platform)
        .where(PaymentRequest.chat_id == chat_id)
        .order_by(col(PaymentRequest.id))
    )
    return list(session.exec(query))


def move_chat(
    session: Session, platform: str, old_chat_id: str, new_chat_id: str
) -> int:
    """Point a chat's requests and unsent messages at its new id.

    For a chat the platform renumbered (a Telegram group upgraded to a
    supergroup); returns how many requests moved.
    """
    moved = _changed(
        session,
        update(PaymentRequest)
        .where(col(PaymentRequest.platform) == platform)
        .where(col(PaymentRequest.chat_id) == old_chat_id)
        .values(chat_id=new_chat_id, updated_at=utcnow()),
    )
    _changed(
        session,
        update(OutboxMessage)
        .where(col(OutboxMessage.platform) == platform)
        .where(col(OutboxMessage.chat_id) == old_chat_id)
        .where(col(OutboxMessage.status) == "pending")
        .values(chat_id=new_chat_id),
    )
    return moved


def requests_in_state(
    session: Session, state: str, limit: int = 100
) -> list[PaymentRequest]:
    query = (
        select(PaymentRequest)
        .where(PaymentRequest.state == state)
        .order_by(col(PaymentRequest.id))
        .limit(limit)
    )
    return list(session.exec(query))


def requests_in_any_state(session: Session) -> list[PaymentRequest]:
    return list(session.exec(select(PaymentRequest).order_by(col(PaymentRequest.id))))


def count_requests_by_state(session: Session) -> dict[str, int]:
    query = select(PaymentRequest.state, func.count()).group_by(PaymentRequest.state)
    return {state: int(count) for state, count in session.exec(query)}


def checkout_for_request(session: Session, request_id: int) -> Checkout | None:
    query = (
        select(Checkout)
        .where(Checkout.request_id == request_id)
        .order_by(col(Checkout.id).desc())
    )
    return session.exec(query).first()


def checkout_by_session(session: Session, session_id: str) -> Checkout | None:
    return session.exec(
        select(Checkout).where(Checkout.session_id == session_id)
    ).first()


def settle_checkout(
    session: Session,
    checkout_id: int,
    status: str,
    now: datetime | None = None,
    **values: Any,
) -> bool:
    """Close an open checkout once; False if another caller already did."""
    statement = (
        update(Checkout)
        .where(col(Checkout.id) == checkout_id)
        .where(col(Checkout.status) == "open")
        .values(status=status, settled_at=now or utcnow(), lease_owner=None, **values)
    )
    return bool(_changed(session, statement))


def claim_due_checkouts(
    session: Session,
    now: datetime,
    owner: str,
    lease: timedelta,
    limit: int,
    rank: Callable[[Checkout], float] | None = None,
) -> list[Checkout]:
    """Lease up to ``limit`` open checkouts due for a poll.

    The most overdue candidates are read, ``rank`` (lowest first) picks among
    them, and only the picked ones are leased. On PostgreSQL the candidates
    are locked with SKIP LOCKED, so replicas never claim the same checkout;
    the lease keeps it theirs until it runs out.
    """
    query = (
        select(Checkout)
        .where(Checkout.status == "open")
        .where(col(Checkout.next_poll_at) <= now)
        .where(
            or_(col(Checkout.lease_until).is_(None), col(Checkout.lease_until) < now)
        )
        .order_by(col(Checkout.nudged).desc(), col(Checkout.next_poll_at))
        .limit(max(limit, CLAIM_CANDIDATES if rank else limit))
        .with_for_update(skip_locked=True)
    )
    candidates = list(session.exec(query))
    if rank is not None:
        candidates.sort(key=rank)
    checkouts = candidates[:limit]
    for checkout in checkouts:
        checkout.lease_owner = owner
        checkout.lease_until = now + lease
        session.add(checkout)
    return checkouts


def nudge_checkout(session: Session, checkout_id: int | None) -> None:
    """Put a checkout at the front of the watcher's queue."""
    statement = update(Checkout).where(col(Checkout.id) == checkout_id)
    session.execute(statement.values(nudged=True))


def mark_polled(session: Session, checkout_id: int, now: datetime) -> None:
    statement = update(Checkout).where(col(Checkout.id) == checkout_id)
    session.execute(statement.values(last_polled_at=now))


def make_checkouts_due(session: Session, now: datetime) -> int:
    """Every open checkout due now: polling resumes after an outage."""
    statement = (
        update(Checkout)
        .where(col(Checkout.status) == "open")
        .where(col(Checkout.next_poll_at) > now)
        .values(next_poll_at=now)
    )
    return _changed(session, statement)


def earliest_poll(session: Session) -> datetime | None:
    """When the next open checkout falls due."""
    query = select(func.min(Checkout.next_poll_at)).where(Checkout.status == "open")
    return session.exec(query).one()


def count_open_checkouts(session: Session) -> int:
    query = select(func.count()).select_from(Checkout).where(Checkout.status == "open")
    return int(session.exec(query).one())


def queue_message(session: Session, message: OutboxMessage) -> None:
    session.add(message)


def claim_due_messages(
    session: Session, now: datetime, owner: str, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .where(col(OutboxMessage.next_attempt_at) <= now)
        .where(
            or_(
                col(OutboxMessage.lease_until).is_(None),
                col(OutboxMessage.lease_until) < now,
            )
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    messages = list(session.exec(query))
    for message in messages:
        message.lease_owner = owner
        message.lease_until = now + lease
        session.add(message)
    return messages


def count_pending_messages(session: Session) -> int:
    query = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == "pending")
    )
    return int(session.exec(query).one())


def card_failed(session: Session, request_id: int) -> bool:
    """True when the platform refused the request's card for good."""
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.request_id == request_id)
        .where(OutboxMessage.kind == "card")
        .where(OutboxMessage.status == "failed")
    )
    return session.exec(query).first() is not None


def _event_hash(prev_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        [
            prev_hash,
            event.request_id,
            event.at.isoformat(),
            event.actor,
            event.action,
            event.detail,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def add_audit(
    session: Session, request_id: int | None, actor: str, action: str, detail: str = ""
) -> AuditEvent:
    """Append an audit event chained to the previous one by its hash."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two replicas never chain onto the same event.
        session.execute(text("SELECT pg_advisory_xact_lock(7301)"))
    last = session.exec(
        select(AuditEvent.hash).order_by(col(AuditEvent.id).desc())
    ).first()
    event = AuditEvent(
        request_id=request_id,
        actor=actor,
        action=action,
        detail=detail[:1000],
        prev_hash=last or GENESIS_HASH,
        hash="",
    )
    event.hash = _event_hash(event.prev_hash, event)
    session.add(event)
    return event


def audit_trail(session: Session, request_id: int) -> Sequence[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.request_id == request_id)
        .order_by(col(AuditEvent.id))
    )
    return list(session.exec(query))


def lock_budget(session: Session) -> None:
    """Serialise budget checks, so two requests never share the last dollars.

    SQLite writers are already serialised by BEGIN IMMEDIATE.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7302)"))


def committed_cents_since(
    session: Session, since: datetime, states: Iterable[str]
) -> int:
    """Money in requests made since ``since`` that are in one of ``states``."""
    query = (
        select(func.sum(PaymentRequest.amount_cents))
        .where(col(PaymentRequest.created_at) >= since)
        .where(col(PaymentRequest.state).in_(list(states)))
    )
    return int(session.exec(query).one() or 0)


def requests_by(
    session: Session, requester_id: str, states: Iterable[str]
) -> list[PaymentRequest]:
    query = (
        select(PaymentRequest)
        .where(PaymentRequest.requester_id == requester_id)
        .where(col(PaymentRequest.state).in_(list(states)))
    )
    return list(session.exec(query))


def mark_reminded(
    session: Session, request_id: int, previous: datetime | None, now: datetime
) -> bool:
    """Record a reminder once; False if another worker just sent it."""
    last = col(PaymentRequest.reminded_at)
    statement = (
        update(PaymentRequest)
        .where(col(PaymentRequest.id) == request_id)
        .where(last.is_(None) if previous is None else last == previous)
        .values(reminded_at=now)
    )
    return bool(_changed(session, statement))


def requests_created_since(
    session: Session, since: datetime | None
) -> list[PaymentRequest]:
    query = select(PaymentRequest).order_by(col(PaymentRequest.id))
    if since is not None:
        query = query.where(col(PaymentRequest.created_at) >= since)
    return list(session.exec(query))


def audit_break(session: Session) -> tuple[AuditEvent, str] | None:
    """The first event that breaks the hash chain, and how it breaks it.

    "altered": the event's own content no longer matches its hash.
    "unchained": it does not follow the event stored before it, because that
    one was removed or rewritten together with its hash.
    """
    prev_hash = GENESIS_HASH
    for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.id))):
        if event.prev_hash != prev_hash:
            return event, "unchained"
        if _event_hash(prev_hash, event) != event.hash:
            return event, "altered"
        prev_hash = event.hash
    return None


def count_audit_events(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(AuditEvent)).one())
