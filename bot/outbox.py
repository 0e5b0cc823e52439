"""The outbox worker: delivers queued chat messages, in order, per chat.

A message is marked sent only after the platform took it, so a crash in
between sends it again at most once. Each chat is paced, a platform's
"wait N seconds" pauses only that chat, and a permanent refusal (channel
gone, bot blocked) is recorded instead of retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import timedelta

from sqlmodel import Session

from bot import notify
from bot.chat import ChatAdapter, Destination, Message
from bot.errors import DeliveryError
from storage import repo
from storage.db import Database
from storage.models import OutboxMessage, PaymentRequest, utcnow

log = logging.getLogger(__name__)

# Long enough for one call to finish; a replica that dies holds its claims
# no longer than this.
LEASE = timedelta(seconds=30)
MAX_ATTEMPTS = 8
BATCH = 50
# Kinds that need the request's card to exist on the platform first.
NEEDS_CARD = {"edit", "reply"}


class NotReady(Exception):
    """The card this message refers to has not been posted yet."""


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, ChatAdapter],
        *,
        owner: str,
        pacing: Mapping[str, float] | None = None,
    ) -> None:
        self.db = db
        self.adapters = adapters
        self.owner = owner
        self.lease = LEASE
        self.pacing = dict(pacing or {})
        self.next_send: dict[tuple[str, str], float] = {}
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wakeup.clear()
            await self.deliver_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=0.25)

    async def deliver_due(self) -> int:
        """Deliver every message due now; returns how many were sent."""
        now = utcnow()
        rows = await self.db.write_async(
            lambda s: repo.claim_due_messages(s, now, self.owner, self.lease, BATCH)
        )
        by_chat: dict[tuple[str, str], list[OutboxMessage]] = {}
        for row in rows:
            by_chat.setdefault((row.platform, row.chat_id), []).append(row)
        sent = await asyncio.gather(
            *(self._deliver_chat(chat) for chat in by_chat.values())
        )
        return sum(sent)

    async def _deliver_chat(self, rows: list[OutboxMessage]) -> int:
        """Send one chat's messages in order; stop at the first that must wait.

        A chat that must wait (its pace, or a platform's "retry after") hands
        its messages back instead of sleeping, so other chats go on.
        """
        sent = 0
        for index, row in enumerate(rows):
            wait = self._pace_wait(row)
            delay = wait if wait > 0 else await self._deliver(row)
            if delay is not None:
                await self._release(rows[index:], delay)
                break
            sent += 1
        return sent

    async def _deliver(self, row: OutboxMessage) -> float | None:
        """Send one message; None when done, else seconds until the next try."""
        adapter = self.adapters.get(row.platform)
        if adapter is None:
            await self._finish(row, "failed", error=f"no {row.platform} adapter")
            return None
        self._paced(row)
        try:
            ref = await self._send(adapter, row)
        except NotReady:
            return 1.0
        except DeliveryError as exc:
            return await self._refused(row, exc)
        await self._finish(row, "sent", ref=ref)
        return None

    async def _send(self, adapter: ChatAdapter, row: OutboxMessage) -> str | None:
        message = Message.from_json(row.payload)
        where = Destination(row.platform, row.chat_id, row.thread_ref, row.recipient)
        request = await self._request(row)
        if row.kind in NEEDS_CARD and request is not None:
            if request.card_ref is None:
                return await self._without_card(adapter, row, where, message)
            where = self._in_thread(where, request)
        if row.kind == "card" or row.kind == "reply":
            return await adapter.post(where, message)
        if row.kind == "edit":
            assert request is not None and request.card_ref is not None
            await adapter.edit(where, request.card_ref, message)
            return request.card_ref
        if row.kind == "ephemeral":
            await adapter.ephemeral(where, message)
            return None
        if row.kind == "direct":
            return await adapter.direct(where, message)
        if row.kind == "delete":
            await adapter.delete(where, row.message_ref or "")
            return None
        raise DeliveryError(f"unknown message kind {row.kind}", permanent=True)

    async def _without_card(
        self,
        adapter: ChatAdapter,
        row: OutboxMessage,
        where: Destination,
        message: Message,
    ) -> str | None:
        """Wait for the card; if it can never be posted, reply in the chat."""
        request_id = row.request_id or 0
        if not await self.db.read_async(lambda s: repo.card_failed(s, request_id)):
            raise NotReady
        if row.kind == "edit":
            raise DeliveryError("the card was never posted", permanent=True)
        return await adapter.post(where, message)

    def _in_thread(self, where: Destination, request: PaymentRequest) -> Destination:
        thread = request.thread_ref or request.card_ref
        return Destination(where.platform, where.chat_id, thread, where.recipient)

    async def _request(self, row: OutboxMessage) -> PaymentRequest | None:
        if row.request_id is None:
            return None
        request_id = row.request_id
        return await self.db.read_async(lambda s: repo.get_request(s, request_id))

    def _pace_wait(self, row: OutboxMessage) -> float:
        """Seconds before this chat may be sent to again (0 when it may now)."""
        now = asyncio.get_running_loop().time()
        return max(0.0, self.next_send.get((row.platform, row.chat_id), 0.0) - now)

    def _paced(self, row: OutboxMessage) -> None:
        now = asyncio.get_running_loop().time()
        pace = self.pacing.get(row.platform, 0.0)
        self.next_send[(row.platform, row.chat_id)] = now + pace

    async def _refused(self, row: OutboxMessage, exc: DeliveryError) -> float | None:
        attempts = row.attempts + 1
        log.warning(
            "delivery of message %s (request %s) refused: %s",
            row.id,
            row.request_id,
            exc,
        )
        if exc.permanent or attempts >= MAX_ATTEMPTS:
            await self._finish(row, "failed", error=str(exc))
            adapter = self.adapters[row.platform]
            await self.db.write_async(lambda s: _fall_back(s, adapter, row, str(exc)))
            return None
        row.attempts = attempts
        row.last_error = str(exc)[:300]
        if exc.retry_after is not None:
            return exc.retry_after
        return min(2.0**attempts, 300.0) * random.uniform(0.8, 1.2)

    async def _release(self, rows: list[OutboxMessage], delay: float) -> None:
        """Hand back unsent messages, due again after ``delay`` seconds."""
        due = utcnow() + timedelta(seconds=delay)
        loop = asyncio.get_running_loop()
        self.next_send[(rows[0].platform, rows[0].chat_id)] = loop.time() + delay

        def work(session: Session) -> None:
            for row in rows:
                stored = session.get(OutboxMessage, row.id)
                if stored is None or stored.status != "pending":
                    continue
                stored.attempts = row.attempts
                stored.last_error = row.last_error
                stored.next_attempt_at = max(due, stored.next_attempt_at)
                stored.lease_owner = stored.lease_until = None
                session.add(stored)

        await self.db.write_async(work)

    async def _finish(
        self,
        row: OutboxMessage,
        status: str,
        *,
        ref: str | None = None,
        error: str | None = None,
    ) -> None:
        def work(session: Session) -> None:
            stored = session.get(OutboxMessage, row.id)
            if stored is None:
                return
            stored.status = status
            stored.sent_at = utcnow() if status == "sent" else None
            stored.message_ref = ref or stored.message_ref
            stored.last_error = error[:300] if error else None
            stored.lease_owner = stored.lease_until = None
            session.add(stored)
            if status == "sent" and stored.kind == "card" and stored.request_id:
                _remember_card(session, stored.request_id, ref)

        await self.db.write_async(work)


def _remember_card(session: Session, request_id: int, ref: str | None) -> None:
    request = session.get(PaymentRequest, request_id)
    if request is not None and ref and request.card_ref is None:
        request.card_ref = ref
        session.add(request)


def _fall_back(
    session: Session, adapter: ChatAdapter, row: OutboxMessage, error: str
) -> None:
    """Tell someone when a message about a request can never be delivered.

    A private message that fails (the payer never opened a chat with the bot,
    or blocked it) goes to the request's thread instead; a card or reply the
    chat refuses (the bot is not in the channel) goes privately to the
    requester. Fallbacks carry no request, so they never fall back in turn.
    """
    request = session.get(PaymentRequest, row.request_id) if row.request_id else None
    if request is None or row.kind in ("edit", "ephemeral", "delete"):
        return
    message = Message.from_json(row.payload)
    if row.kind == "direct":
        note = f"(Could not send this privately to {row.recipient}: {error})"
        start = adapter.start_link(f"pay-{request.ref}")
        if start:
            note += f" To get payment links privately, open {start}"
        thread = request.thread_ref or request.card_ref
        where = Destination(request.platform, request.chat_id, thread)
        notify.queue(session, where, "reply", _with_note(message, note))
        return
    note = f"(paybot could not post this in the chat: {error})"
    notify.to_account(session, request.requester_id, _with_note(message, note), None)


def _with_note(message: Message, note: str) -> Message:
    text = f"{message.text}\n{note}" if message.text else note
    return Message(
        text=text, title=message.title, fields=message.fields, links=message.links
    )
