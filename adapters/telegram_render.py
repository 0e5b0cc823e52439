"""Neutral messages as Telegram HTML, and the message refs paybot stores.

User text is escaped here and nowhere else, so it reaches the chat exactly
as typed. A message ref names a message and the forum topic it lives in,
so a reply to it lands in the same topic.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat import Button, Message

# Telegram counts the limit on the text as shown, after entities are parsed.
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
ELLIPSIS = "…"


@dataclass(frozen=True)
class MessageRef:
    """A message id and, inside a forum, its topic (None for General)."""

    message_id: int
    topic: int | None = None

    def encode(self) -> str:
        if self.topic is None:
            return str(self.message_id)
        return f"{self.message_id}/{self.topic}"

    @classmethod
    def decode(cls, ref: str) -> MessageRef:
        message_id, _, topic = ref.partition("/")
        return cls(int(message_id), int(topic) if topic else None)


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def fit(message: Message, limit: int = MAX_TEXT) -> Message:
    """Shorten the text so the whole message stays within ``limit`` characters.

    Links cut off by the shortening are added back at the end, so a payment
    link is never lost to a long note.
    """
    excess = len(message.plain()) - limit
    if excess <= 0:
        return message
    cut = max(0, len(message.text) - excess - len(ELLIPSIS))
    kept = message.text[:cut]
    tail = "".join(f"\n{link}" for link in message.links if link not in kept)
    kept = kept[: max(0, cut - len(tail))] + ELLIPSIS + tail
    return replace(message, text=kept)


def to_html(message: Message) -> str:
    """The message in Telegram's HTML parse mode, with every value escaped."""
    lines = [f"<b>{escape(message.title)}</b>"] if message.title else []
    lines += [
        f"<b>{escape(label)}:</b> {escape(value)}" for label, value in message.fields
    ]
    if message.text:
        lines.append(escape(message.text))
    return "\n".join(lines)


def mention(user_id: str, name: str) -> str:
    return f'<a href="tg://user?id={escape(user_id)}">{escape(name)}</a>'


def callback_data(button: Button) -> str:
    data = f"{button.action}:{button.value}"
    if len(data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"callback data for {button.action} is over 64 bytes")
    return data


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One row of inline buttons; None removes the keyboard on an edit."""
    if not buttons:
        return None
    row = [
        InlineKeyboardButton(button.label, callback_data=callback_data(button))
        for button in buttons
    ]
    return InlineKeyboardMarkup([row])
