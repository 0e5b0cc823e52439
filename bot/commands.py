"""The command grammar shared by every chat platform.

``parse_command`` turns what a person typed into one of the small command
types below, or raises ``InvalidInput`` with a reason that shows the usage
and an example. The leading ``/`` is optional, a ``@BotName`` suffix on the
command word is ignored, command words are case-insensitive, and request ids
are written ``12`` or ``#12``. Top-up amounts are parsed here; the allowed
range depends on settings and the plans, so the caller checks it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import InvalidInput
from bot.money import parse_amount

MAX_NOTE_LENGTH = 300
MAX_PLAN_LENGTH = 100


@dataclass(frozen=True)
class Topup:
    amount_cents: int
    note: str = ""


@dataclass(frozen=True)
class Subscribe:
    """``plan`` is a plan id (digits only) or a plan name, as typed."""

    plan: str
    note: str = ""


@dataclass(frozen=True)
class Plans:
    """List the plans and the smallest top-up."""


@dataclass(frozen=True)
class Balance:
    """Show the wallet balance and the open requests."""


@dataclass(frozen=True)
class Requests:
    """List the open requests of this chat."""


@dataclass(frozen=True)
class Status:
    request_id: int


@dataclass(frozen=True)
class Approve:
    request_id: int


@dataclass(frozen=True)
class Deny:
    request_id: int
    reason: str = ""


@dataclass(frozen=True)
class Cancel:
    request_id: int


@dataclass(frozen=True)
class Paid:
    """Exactly one of ``request_id`` and ``session_id`` is set."""

    request_id: int | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class ShowPolicy:
    """The word ``policy``: show the team's rules in force."""


@dataclass(frozen=True)
class Help:
    """``topic`` is a command name, or empty for the whole list."""

    topic: str = ""


@dataclass(frozen=True)
class SendLink:
    """A payer asks for a request's payment link in private (a deep link)."""

    ref: str


Command = (
    Topup
    | Subscribe
    | Plans
    | Balance
    | Requests
    | Status
    | Approve
    | Deny
    | Cancel
    | Paid
    | ShowPolicy
    | Help
    | SendLink
)


@dataclass(frozen=True)
class _Usage:
    usage: str
    summary: str
    example: str
    details: tuple[str, ...] = ()


_USAGES: dict[str, _Usage] = {
    "topup": _Usage(
        "topup AMOUNT [note]",
        "request a wallet top-up in US dollars (alias: fund)",
        "topup 50 GPU batch for Q3",
        (
            "AMOUNT is US dollars with at most two decimals: 50, 12.50, $50 "
            "or 50 usd. No thousands separators, no other currencies.",
            "Everything after the amount is the note.",
        ),
    ),
    "subscribe": _Usage(
        "subscribe PLAN [note]",
        "request a subscription; PLAN is a plan id or a plan name",
        "subscribe 10 for the video team",
        (
            "After a plan id (a number from plans), the rest is the note: "
            "subscribe 10 for the video team",
            "After a plan name, the note starts at the word for, or after "
            "--: subscribe Pro for the video team, subscribe Pro -- Q3",
            "Put a name that contains those words in quotes: "
            'subscribe "Pro for Teams" -- Q3',
        ),
    ),
    "plans": _Usage("plans", "list plans with prices and the smallest top-up", "plans"),
    "balance": _Usage("balance", "wallet balance and the open requests", "balance"),
    "requests": _Usage("requests", "open requests in this chat", "requests"),
    "status": _Usage("status ID", "one request, with its history", "status 12"),
    "approve": _Usage("approve ID", "approve a request", "approve 12"),
    "deny": _Usage("deny ID [reason]", "deny a request", "deny 12 over budget"),
    "cancel": _Usage("cancel ID", "withdraw an open request", "cancel 12"),
    "paid": _Usage(
        "paid ID or paid SESSION_ID",
        "tell the bot you have paid, so it checks the checkout now",
        "paid 12",
        ("SESSION_ID is the cs_... id shown on the page after paying.",),
    ),
    "policy": _Usage("policy", "the team's approval rules in force", "policy"),
    "help": _Usage(
        "help [command]",
        "this list, or more about one command (alias: start)",
        "help topup",
    ),
}

_ALIASES = {"fund": "topup", "start": "help"}

_ID = re.compile(r"#?([0-9]{1,9})")
_LINK_PAYLOAD = re.compile(r"pay-[A-Za-z0-9_-]{4,16}")
_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_-]{4,250}")
_QUOTED_PLAN = re.compile(r"[\"“”](?P<plan>[^\"“”]*)[\"“”](?P<note>.*)", re.DOTALL)
_PLAN_NOTE_START = re.compile(
    r"(?:^|\s+)(?:(?:--|—)(?=\s|$)|(?=for(?:\s|$)))", re.IGNORECASE
)
_NOTE_DASHES = re.compile(r"^(?:--|—)")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Two words that only make sense together as an amount: a currency marker
# before or after the number, or a number split by a thousands separator.
_AMOUNT_PREFIXES = frozenset({"$", "usd", "us$"})
_AMOUNT_SUFFIXES = frozenset({"$", "usd", "us$", "dollar", "dollars"})
_OTHER_CURRENCIES = frozenset(
    {"eur", "euro", "euros", "gbp", "jpy", "cad", "aud", "inr", "chf", "cny"}
)
_THOUSANDS_GROUP = re.compile(r"[0-9]{3}(?:\.[0-9]*)?")


def parse_command(text: str) -> Command:
    word, rest = _split_word(text)
    name = _command_name(word)
    if name == "paybot":
        word, rest = _split_word(rest)
        if not word:
            return Help()
        name = _command_name(word)

    parse = _PARSERS.get(name)
    if parse is None:
        raise _unknown(name)
    return parse(rest)


def help_text(topic: str = "") -> str:
    """The whole list, or usage, example and details for one command."""
    if not topic:
        return HELP_TEXT
    usage = _USAGES.get(_topic(topic))
    if usage is None:
        raise _unknown(topic)
    lines = [f"`{usage.usage}`: {usage.summary}", *usage.details]
    return "\n".join([*lines, f"Example: `{usage.example}`"])


def _build_help_text() -> str:
    lines = ["Commands (write request ids as 12 or #12):"]
    for usage in _USAGES.values():
        lines.append(f"`{usage.usage}`: {usage.summary}. Example: `{usage.example}`")
    lines.append("For more about one command: `help subscribe`")
    return "\n".join(lines)


HELP_TEXT = _build_help_text()


def _split_word(text: str) -> tuple[str, str]:
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _command_name(word: str) -> str:
    return word.removeprefix("/").partition("@")[0].lower()


def _topic(word: str) -> str:
    name = _command_name(word)
    return _ALIASES.get(name, name)


def _unknown(word: str) -> InvalidInput:
    if not word:
        return InvalidInput("Type a command, like `topup 50`. Try `help` for the list.")
    return InvalidInput(f"Unknown command `{_shown(word)}`. Try `help` for the list.")


def _shown(word: str) -> str:
    """A typed word made safe to quote back in a reply."""
    return _clean_text(word).replace("`", "")[:32]


def _usage_error(name: str, problem: str) -> InvalidInput:
    usage = _USAGES[name]
    return InvalidInput(f"{problem} Usage: {usage.usage}, like `{usage.example}`.")


def _parse_topup(rest: str) -> Command:
    if not rest:
        raise _usage_error("topup", "Say how much to top up.")
    amount, note = _split_amount(rest)
    try:
        cents = parse_amount(amount)
    except InvalidInput as error:
        raise _usage_error("topup", error.reason) from error
    return Topup(cents, _clean_note(note, "note"))


def _split_amount(text: str) -> tuple[str, str]:
    words = text.split(None, 2)
    if len(words) >= 2 and _is_one_amount(words[0], words[1]):
        return f"{words[0]} {words[1]}", words[2] if len(words) > 2 else ""
    return _split_word(text)


def _is_one_amount(first: str, second: str) -> bool:
    first, second = first.lower(), second.lower()
    if first in _AMOUNT_PREFIXES or _is_currency_symbol(first):
        return True
    if second in _AMOUNT_SUFFIXES or second in _OTHER_CURRENCIES:
        return True
    # "1 000" must be refused, not read as $1 with the note "000".
    return (
        first.isdecimal()
        and len(first) <= 3
        and bool(_THOUSANDS_GROUP.fullmatch(second))
    )


def _is_currency_symbol(word: str) -> bool:
    return all(unicodedata.category(char) == "Sc" for char in word)


def _parse_subscribe(rest: str) -> Command:
    if not rest:
        raise _usage_error("subscribe", "Say which plan, by id or name.")
    plan, note = _split_plan(rest)
    plan = " ".join(_clean_text(plan).split())
    if not plan:
        raise _usage_error("subscribe", "Say which plan, by id or name.")
    if len(plan) > MAX_PLAN_LENGTH:
        raise _usage_error("subscribe", "That plan name is too long.")
    return Subscribe(plan, _clean_note(note, "note"))


def _split_plan(text: str) -> tuple[str, str]:
    first, after_first = _split_word(text)
    plan_id = _ID.fullmatch(first)
    if plan_id:
        return plan_id[1], after_first

    quoted = _QUOTED_PLAN.match(text)
    if quoted:
        return quoted["plan"], _NOTE_DASHES.sub("", quoted["note"].strip())
    if text[0] in '"“”':
        raise _usage_error("subscribe", "Close the quotes around the plan name.")

    start = _PLAN_NOTE_START.search(text)
    if start is None:
        return text, ""
    return text[: start.start()], text[start.end() :]


def _parse_request_id(name: str, word: str) -> int:
    match = _ID.fullmatch(word)
    if match is None or int(match[1]) == 0:
        raise _usage_error(name, f"`{_shown(word)}` is not a request id.")
    return int(match[1])


def _only_request_id(name: str, rest: str) -> int:
    words = rest.split()
    if not words:
        raise _usage_error(name, "Say which request, by its id.")
    if len(words) > 1:
        raise _usage_error(name, f"`{name}` takes only a request id.")
    return _parse_request_id(name, words[0])


def _parse_status(rest: str) -> Command:
    return Status(_only_request_id("status", rest))


def _parse_approve(rest: str) -> Command:
    return Approve(_only_request_id("approve", rest))


def _parse_cancel(rest: str) -> Command:
    return Cancel(_only_request_id("cancel", rest))


def _parse_deny(rest: str) -> Command:
    word, reason = _split_word(rest)
    if not word:
        raise _usage_error("deny", "Say which request, by its id.")
    return Deny(_parse_request_id("deny", word), _clean_note(reason, "reason"))


def _parse_paid(rest: str) -> Command:
    words = rest.split()
    if len(words) != 1:
        raise _usage_error("paid", "Give the request id or the checkout session id.")
    if _SESSION_ID.fullmatch(words[0]):
        return Paid(session_id=words[0])
    if _ID.fullmatch(words[0]) is None:
        shown = _shown(words[0])
        raise _usage_error("paid", f"`{shown}` is not a request or session id.")
    return Paid(request_id=_parse_request_id("paid", words[0]))


def _parse_help(rest: str) -> Command:
    topic, _ = _split_word(rest)
    if not topic:
        return Help()
    name = _topic(topic)
    if name not in _USAGES:
        raise _unknown(topic)
    return Help(name)


def _parse_start(rest: str) -> Command:
    # Telegram deep links send "/start PAYLOAD": "pay-REF" asks for a link.
    payload = rest.strip()
    if _LINK_PAYLOAD.fullmatch(payload):
        return SendLink(payload.removeprefix("pay-"))
    return Help()


def _without_arguments(name: str, command: Command) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        if rest:
            raise InvalidInput(f"`{name}` takes nothing after it; type just `{name}`.")
        return command

    return parse


_PARSERS: dict[str, Callable[[str], Command]] = {
    "topup": _parse_topup,
    "fund": _parse_topup,
    "subscribe": _parse_subscribe,
    "plans": _without_arguments("plans", Plans()),
    "balance": _without_arguments("balance", Balance()),
    "requests": _without_arguments("requests", Requests()),
    "status": _parse_status,
    "approve": _parse_approve,
    "deny": _parse_deny,
    "cancel": _parse_cancel,
    "paid": _parse_paid,
    "policy": _without_arguments("policy", ShowPolicy()),
    "help": _parse_help,
    "start": _parse_start,
}


def _clean_note(text: str, label: str) -> str:
    note = _clean_text(text)
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(
            f"The {label} is {len(note)} characters long; "
            f"keep it to {MAX_NOTE_LENGTH} or fewer."
        )
    return note


def _clean_text(text: str) -> str:
    """Line breaks and tabs become spaces; other control characters go."""
    kept = (" " if char.isspace() else char for char in text if _is_kept(char))
    return "".join(kept).strip()


def _is_kept(char: str) -> bool:
    if char.isspace():
        return True
    return unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS
