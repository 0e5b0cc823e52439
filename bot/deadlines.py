"""Approval deadlines: reminders to the approvers, then expiry.

A request nobody decides is reminded in its thread at the interval the rules
set, and ends as "expired" (never "denied") once its approval deadline has
passed. Both are conditional updates, so replicas running this side by side
remind and expire each request once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot import cards, notify
from bot import policy as rules
from bot.policy import Policy
from bot.states import State
from storage import repo
from storage.db import Database
from storage.models import PaymentRequest, utcnow

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
BATCH = 500

Step = Callable[[Session, PaymentRequest, datetime], int]


class Deadlines:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self.on_queued = on_queued

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHECK_SECONDS)

    async def tick(self) -> tuple[int, int]:
        """Expire and remind what is due now; returns (expired, reminded)."""
        now = self.clock()
        waiting = await self.db.read_async(
            lambda s: repo.requests_in_state(s, State.AWAITING_APPROVAL, BATCH)
        )
        expired = reminded = 0
        for request in waiting:
            if _overdue(request, now):
                expired += await self._apply(self._expire, request, now)
            elif self._reminder_due(request, now):
                reminded += await self._apply(self._remind, request, now)
        if expired or reminded:
            self.on_queued()
        return expired, reminded

    async def _apply(self, step: Step, request: PaymentRequest, now: datetime) -> int:
        return await self.db.write_async(lambda session: step(session, request, now))

    def _reminder_due(self, request: PaymentRequest, now: datetime) -> bool:
        every = self.policy.remind_every
        last = request.reminded_at or request.created_at
        return every is not None and now - last >= every

    def _expire(self, session: Session, request: PaymentRequest, now: datetime) -> int:
        assert request.id is not None
        if not repo.move_request(
            session, request.id, [State.AWAITING_APPROVAL], State.EXPIRED
        ):
            return 0
        request = repo.get_request(session, request.id) or request
        session.refresh(request)
        deadline = cards.when(request.approval_expires_at or now)
        repo.add_audit(
            session, request.id, "paybot", "expired", f"not decided by {deadline}"
        )
        notify.edit_card(session, request)
        notify.to_thread(session, request, cards.approval_expired(request))
        log.info("request #%s expired waiting for approval", request.id)
        return 1

    def _remind(self, session: Session, request: PaymentRequest, now: datetime) -> int:
        assert request.id is not None
        if not repo.mark_reminded(session, request.id, request.reminded_at, now):
            return 0
        waiting_for = self._undecided(session, request)
        repo.add_audit(
            session, request.id, "paybot", "reminded", ", ".join(waiting_for)
        )
        notify.to_thread(
            session, request, cards.approval_reminder(request, waiting_for)
        )
        return 1

    def _undecided(self, session: Session, request: PaymentRequest) -> list[str]:
        """The approvers who have not voted and may vote on this request."""
        voted = {vote.voter_id for vote in repo.votes_for(session, request.id or 0)}
        requester = rules.person_of(self.policy, request.requester_id)
        return [
            person
            for person in self.policy.approvers
            if person not in voted
            and (person != requester or self.policy.allow_self_approval)
        ]


def _overdue(request: PaymentRequest, now: datetime) -> bool:
    return (
        request.approval_expires_at is not None and now >= request.approval_expires_at
    )
