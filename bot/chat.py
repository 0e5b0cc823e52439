"""The neutral language between chat adapters and the engine.

An adapter turns a platform event into an ``Inbound`` and turns a neutral
``Message`` into a platform call. Every string here is plain text: adapters
escape and format it for their platform, so user text is escaped exactly
once, at the edge.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Inbound:
    """One thing a person did in chat: a command line or a button press."""

    platform: str
    chat_id: str
    user_id: str
    user_name: str
    dedupe_key: str
    text: str = ""
    action: str | None = None  # button action word, e.g. "approve"
    action_value: str | None = None  # the opaque request reference
    thread_ref: str | None = None  # the thread the event happened in
    message_ref: str | None = None  # the event's own message

    @property
    def account(self) -> str:
        """The person as ``platform:user_id``, as approvers are configured."""
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class Button:
    action: str  # "approve", "deny", "paid", "cancel", "retry"
    label: str
    value: str  # an opaque reference resolved from storage
    style: str = ""  # "primary", "danger" or ""


@dataclass(frozen=True)
class Message:
    """A neutral chat message: an optional title, text, fields and buttons."""

    text: str = ""
    title: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    links: tuple[str, ...] = field(default=())  # URLs to show verbatim

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Message:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            text=data.get("text", ""),
            title=data.get("title", ""),
            fields=tuple((str(k), str(v)) for k, v in data.get("fields", ())),
            buttons=tuple(Button(**button) for button in data.get("buttons", ())),
            links=tuple(data.get("links", ())),
        )

    def plain(self) -> str:
        """The whole message as plain lines, for logs and the console."""
        lines = [self.title] if self.title else []
        lines += [f"{label}: {value}" for label, value in self.fields]
        if self.text:
            lines.append(self.text)
        return "\n".join(lines)


@dataclass(frozen=True)
class Destination:
    """Where a message goes: a chat, optionally a thread, or one person."""

    platform: str
    chat_id: str
    thread_ref: str | None = None
    recipient: str | None = None  # user id, for ephemeral or direct messages


class ChatAdapter(Protocol):
    """What the outbox worker needs from a platform.

    Each method raises ``DeliveryError`` when the platform refuses; its
    ``retry_after`` and ``permanent`` tell the worker what to do next.
    """

    platform: str

    async def post(self, where: Destination, message: Message) -> str:
        """Post in the chat (in the thread if given); return the message ref."""

    async def edit(
        self, where: Destination, message_ref: str, message: Message
    ) -> None:
        """Replace the text and buttons of a message the bot posted."""

    async def ephemeral(self, where: Destination, message: Message) -> None:
        """Show a message to ``where.recipient`` alone, in the chat."""

    async def direct(self, where: Destination, message: Message) -> str:
        """Send a private message to ``where.recipient``."""

    async def delete(self, where: Destination, message_ref: str) -> None:
        """Delete a person's message, where the platform lets the bot."""

    def start_link(self, payload: str) -> str | None:
        """A link that opens a private chat with the bot and sends ``payload``.

        None where the platform has no such thing.
        """
