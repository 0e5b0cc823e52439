"""Commands quoted in messages, written the way each platform types them.

Messages quote a command in backticks, like ```paid 12```. Telegram needs the
slash (in groups the bot only sees commands), Slack has four slash commands
of its own and ``/paybot`` for the rest, the console takes the bare words.
"""

from __future__ import annotations

import re

WORDS = (
    "topup|fund|subscribe|plans|balance|requests|status|approve|deny|cancel"
    "|paid|help|policy|start"
)
_QUOTED = re.compile(rf"`((?:{WORDS})\b[^`\n]*)`")
SLACK_SLASH_COMMANDS = frozenset({"topup", "subscribe", "plans", "balance"})


def command_for(platform: str, words: str) -> str:
    """``paid 12`` as a person on ``platform`` would type it."""
    if platform == "telegram":
        return "/" + words
    if platform == "slack":
        first = words.split(" ", 1)[0]
        return ("/" if first in SLACK_SLASH_COMMANDS else "/paybot ") + words
    return words


def for_platform(platform: str, text: str) -> str:
    """Rewrite every quoted command in ``text`` for ``platform``."""
    return _QUOTED.sub(lambda match: command_for(platform, match[1]), text)
