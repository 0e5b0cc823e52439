"""Queue chat messages in the outbox, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session

from bot.cards import request_card
from bot.chat import Destination, Inbound, Message
from bot.phrasing import for_platform
from storage import repo
from storage.models import OutboxMessage, PaymentRequest


def queue(
    session: Session,
    where: Destination,
    kind: str,
    message: Message,
    request_id: int | None = None,
) -> None:
    repo.queue_message(
        session,
        OutboxMessage(
            request_id=request_id,
            platform=where.platform,
            chat_id=where.chat_id,
            thread_ref=where.thread_ref,
            kind=kind,
            recipient=where.recipient,
            payload=_phrased(where.platform, message).to_json(),
        ),
    )


def _phrased(platform: str, message: Message) -> Message:
    return replace(message, text=for_platform(platform, message.text))


def post_card(session: Session, request: PaymentRequest) -> None:
    where = Destination(request.platform, request.chat_id, request.thread_ref)
    queue(session, where, "card", request_card(request, []), request.id)


def edit_card(session: Session, request: PaymentRequest) -> None:
    """Queue the card as it stands now; it is edited in place."""
    assert request.id is not None
    card = request_card(
        request,
        repo.votes_for(session, request.id),
        repo.checkout_for_request(session, request.id),
    )
    where = Destination(request.platform, request.chat_id)
    queue(session, where, "edit", card, request.id)


def to_thread(session: Session, request: PaymentRequest, message: Message) -> None:
    """A reply in the request's thread (resolved at delivery if still unknown)."""
    where = Destination(request.platform, request.chat_id, request.thread_ref)
    queue(session, where, "reply", message, request.id)


def to_person(session: Session, inbound: Inbound, message: Message) -> None:
    """A message only the person behind ``inbound`` sees."""
    where = Destination(
        inbound.platform, inbound.chat_id, inbound.thread_ref, recipient=inbound.user_id
    )
    queue(session, where, "ephemeral", message)


def to_chat(session: Session, inbound: Inbound, message: Message) -> None:
    """A reply everyone in the chat sees, in the thread the inbound came from."""
    where = Destination(inbound.platform, inbound.chat_id, inbound.thread_ref)
    queue(session, where, "reply", message)


def to_account(
    session: Session, account: str, message: Message, request_id: int | None
) -> None:
    """A private message to ``platform:user_id``."""
    platform, _, user_id = account.partition(":")
    where = Destination(platform, user_id, recipient=user_id)
    queue(session, where, "direct", message, request_id)


def queue_delete(session: Session, inbound: Inbound) -> None:
    """Ask the platform to delete the person's message, where it allows."""
    repo.queue_message(
        session,
        OutboxMessage(
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            thread_ref=inbound.thread_ref,
            kind="delete",
            payload=Message().to_json(),
            message_ref=inbound.message_ref,
        ),
    )
