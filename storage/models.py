"""The tables: payment requests, votes, checkouts, audit events, the outbox
of chat messages and the processed inbound keys.

Money is integer cents. Every datetime is UTC-aware in Python and stored as
naive UTC, so SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC; hands back aware UTC; refuses naive input."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class PaymentRequest(SQLModel, table=True):
    """A top-up or subscription someone asked for, and where it stands."""

    __tablename__ = "payment_request"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=16)
    kind: str = Field(max_length=16)  # "topup" or "subscription"
    state: str = Field(index=True, max_length=24)
    platform: str = Field(max_length=16)
    chat_id: str = Field(index=True, max_length=64)
    thread_ref: str | None = Field(default=None, max_length=64)
    card_ref: str | None = Field(default=None, max_length=64)
    requester_id: str = Field(max_length=96)
    requester_name: str = Field(max_length=128)
    amount_cents: int | None = None
    plan_id: int | None = None
    plan_name: str | None = Field(default=None, max_length=128)
    note: str = Field(default="", max_length=400)
    approvals_required: int = 1
    # The rules the request is decided under, frozen when it is made so a
    # later change of the policy does not rewrite its history.
    deny_ends: bool = True
    approval_expires_at: datetime | None = _when(default=None)
    reminded_at: datetime | None = _when(default=None)
    policy_digest: str | None = Field(default=None, max_length=16)
    policy_rules: str | None = Field(default=None, sa_type=Text)
    # What the approvers saw on the card: the wallet when it was asked for.
    balance_cents: int | None = None
    spent_30d_cents: int | None = None
    budget_left_cents: int | None = None
    link_key: str | None = Field(default=None, max_length=80)
    billing_notice_sent: bool = False
    created_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)


class Vote(SQLModel, table=True):
    """One person's approval or denial; a person votes once per request."""

    __table_args__ = (UniqueConstraint("request_id", "voter_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="payment_request.id", index=True)
    voter_id: str = Field(max_length=96)
    voter_name: str = Field(max_length=128)
    decision: str = Field(max_length=8)  # "approve" or "deny"
    reason: str = Field(default="", max_length=400)
    created_at: datetime = _when(default_factory=utcnow)


class Checkout(SQLModel, table=True):
    """A hosted checkout session and the watcher's schedule for it."""

    __table_args__ = (Index("ix_checkout_due", "status", "next_poll_at"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="payment_request.id", index=True)
    session_id: str = Field(unique=True, max_length=255)
    purpose: str = Field(max_length=16)  # "fund" or "subscribe"
    payment_url: str = Field(max_length=2048)
    status: str = Field(default="open", max_length=16)
    expires_at: datetime = _when()
    created_at: datetime = _when(default_factory=utcnow)
    next_poll_at: datetime = _when(default_factory=utcnow)
    last_polled_at: datetime | None = _when(default=None)
    nudged: bool = False
    polls: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _when(default=None)
    settled_at: datetime | None = _when(default=None)
    balance_after_cents: int | None = None
    subscription_status: str | None = Field(default=None, max_length=32)


class AuditEvent(SQLModel, table=True):
    """Who did what, when and why; each event hashes the one before it."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int | None = Field(default=None, index=True)
    at: datetime = _when(default_factory=utcnow)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    detail: str = Field(default="", max_length=1000)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class OutboxMessage(SQLModel, table=True):
    """A chat message waiting to be sent, or a record that it was."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int | None = Field(default=None, index=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    thread_ref: str | None = Field(default=None, max_length=64)
    # "card" posts a request card, "edit" edits it, "reply" posts in the
    # thread, "ephemeral" shows to one person, "direct" is a private message.
    kind: str = Field(max_length=16)
    recipient: str | None = Field(default=None, max_length=96)
    payload: str = Field(sa_type=Text)  # the neutral message as JSON
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _when(default_factory=utcnow)
    created_at: datetime = _when(default_factory=utcnow)
    sent_at: datetime | None = _when(default=None)
    message_ref: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=300)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _when(default=None)


class ProcessedInbound(SQLModel, table=True):
    """Dedupe keys of chat events already handled."""

    __tablename__ = "processed_inbound"

    key: str = Field(primary_key=True, max_length=200)
    at: datetime = _when(default_factory=utcnow)
