"""Neutral messages as Slack Block Kit, and Slack's markup back to plain text.

Text from the engine is plain; it is escaped here exactly once (``&``, ``<``
and ``>``), so a note like ``<!channel>`` shows literally instead of pinging
anyone. Payment links are the one thing written as Slack links, verbatim.
"""

from __future__ import annotations

import re
from typing import Any

from bot.chat import Message

Block = dict[str, Any]

ACTION_PREFIX = "paybot_"
# Slack rejects a section over 3,000 characters and a message over 50 blocks.
SECTION_LIMIT = 2900
FIELDS_PER_SECTION = 10
FIELD_LIMIT = 1900
MAX_BLOCKS = 50

_MENTION = re.compile(r"<([@#])([A-Z0-9]+)(?:\|([^>]*))?>")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def escape(text: str) -> str:
    """Make plain text safe inside Slack mrkdwn: no mentions, no links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(slack_text: str) -> str:
    """What a person typed, from Slack's encoding of it.

    Slack sends ``&``, ``<`` and ``>`` as entities and people and channels
    as ``<@U123|name>`` or ``<#C123|name>``; these become ``@name`` and
    ``#name``. Anything else in angle brackets is kept as typed.
    """

    def readable(match: re.Match[str]) -> str:
        sigil, ident, label = match.groups()
        return f"{sigil}{label or ident}"

    text = _MENTION.sub(readable, slack_text)
    return re.sub(r"&(lt|gt|amp);", lambda m: _ENTITIES[m.group(0)], text)


def mrkdwn(text: str, links: tuple[str, ...] = ()) -> str:
    """Escape ``text``; each of ``links`` in it becomes a clickable link."""
    escaped = escape(text)
    for url in links:
        escaped = escaped.replace(escape(url), f"<{_link_target(url)}>")
    return escaped


def _link_target(url: str) -> str:
    # A real URL never holds these raw; percent-encoding keeps Slack's link
    # syntax intact if one ever does.
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


def fallback_text(message: Message) -> str:
    """The notification text Slack shows where blocks are not rendered."""
    return mrkdwn(message.plain(), message.links)[:SECTION_LIMIT]


def render(message: Message) -> list[Block]:
    """The message as blocks: title, fields, text, then its buttons."""
    blocks: list[Block] = []
    if message.title:
        blocks.append(_section(f"*{escape(message.title)}*"))
    blocks += _field_sections(message.fields)
    blocks += [_section(chunk) for chunk in _chunks(message.text, message.links)]
    blocks = blocks[: MAX_BLOCKS - 1]
    if message.buttons:
        blocks.append(_actions(message))
    return blocks


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field_sections(fields: tuple[tuple[str, str], ...]) -> list[Block]:
    items = [
        {"type": "mrkdwn", "text": f"*{escape(label)}*\n{escape(value)}"[:FIELD_LIMIT]}
        for label, value in fields
    ]
    return [
        {"type": "section", "fields": items[start : start + FIELDS_PER_SECTION]}
        for start in range(0, len(items), FIELDS_PER_SECTION)
    ]


def _chunks(text: str, links: tuple[str, ...]) -> list[str]:
    """Escaped text cut at line ends into pieces one section can hold."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        piece = mrkdwn(line, links)[:SECTION_LIMIT]
        if current and len(current) + 1 + len(piece) > SECTION_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current}\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def _actions(message: Message) -> Block:
    elements = []
    for button in message.buttons:
        element: Block = {
            "type": "button",
            "action_id": ACTION_PREFIX + button.action,
            "text": {"type": "plain_text", "text": button.label[:75]},
            "value": button.value,
        }
        if button.style in ("primary", "danger"):
            element["style"] = button.style
        elements.append(element)
    return {"type": "actions", "elements": elements}
