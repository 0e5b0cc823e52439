"""A recording chat adapter and a way to speak through the engine as people."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from bot.chat import Destination, Inbound, Message
from bot.errors import DeliveryError


@dataclass
class Sent:
    kind: str
    where: Destination
    message: Message
    ref: str | None = None

    @property
    def text(self) -> str:
        return self.message.plain()


@dataclass
class RecordingAdapter:
    """Remembers every call; can be told to refuse the next few."""

    platform: str = "console"
    sent: list[Sent] = field(default_factory=list)
    refusals: list[DeliveryError] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _record(self, kind: str, where: Destination, message: Message) -> str:
        if self.refusals:
            raise self.refusals.pop(0)
        ref = f"m{next(self.counter)}"
        self.sent.append(Sent(kind, where, message, ref))
        return ref

    async def post(self, where: Destination, message: Message) -> str:
        return self._record("post", where, message)

    async def edit(
        self, where: Destination, message_ref: str, message: Message
    ) -> None:
        self._record("edit", where, message)
        self.sent[-1].ref = message_ref

    async def ephemeral(self, where: Destination, message: Message) -> None:
        self._record("ephemeral", where, message)

    async def direct(self, where: Destination, message: Message) -> str:
        return self._record("direct", where, message)

    async def delete(self, where: Destination, message_ref: str) -> None:
        self._record("delete", where, Message(text=message_ref))

    def start_link(self, payload: str) -> str | None:
        return None

    def texts(self, kind: str | None = None) -> list[str]:
        return [s.text for s in self.sent if kind is None or s.kind == kind]

    def find(self, needle: str) -> list[Sent]:
        return [s for s in self.sent if needle in s.text]

    def last_card(self) -> Message:
        cards = [s for s in self.sent if s.kind == "edit" or s.message.buttons]
        return cards[-1].message


def said(
    person: str,
    text: str,
    *,
    key: str | None = None,
    platform: str = "console",
    chat: str = "team",
) -> Inbound:
    return Inbound(
        platform=platform,
        chat_id=chat,
        user_id=person,
        user_name=person,
        dedupe_key=key or uuid.uuid4().hex,
        text=text,
    )


def pressed(person: str, action: str, ref: str, *, key: str | None = None) -> Inbound:
    return Inbound(
        platform="console",
        chat_id="team",
        user_id=person,
        user_name=person,
        dedupe_key=key or uuid.uuid4().hex,
        action=action,
        action_value=ref,
    )
