"""Read the team's rules from a TOML policy file.

Every mistake is reported as ``FILE line N: reason`` (or ``FILE: reason``
when the key is missing), so an operator can fix the file without guessing.
See the README section "Team rules (policy file)" for a complete example.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from bot.errors import ConfigError
from bot.policy import LowBalance, Person, Policy, from_settings
from bot.settings import Settings

PLATFORMS = ("slack", "telegram", "console")
SECTIONS: dict[str, frozenset[str]] = {
    "people": frozenset(),  # any person name
    "approval": frozenset(
        {
            "requesters",
            "approvers",
            "required",
            "self_approval",
            "deny",
            "timeout",
            "remind_every",
        }
    ),
    "limits": frozenset(
        {
            "auto_approve_max",
            "topup_max",
            "daily_budget",
            "monthly_budget",
            "over_budget",
        }
    ),
    "low_balance": frozenset({"below", "topup", "chat", "check_every"}),
}
TOP_LEVEL = frozenset({"payer", *SECTIONS})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_DURATION = re.compile(r"(?:[0-9]+[smhd])+")
_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TOML_POSITION = re.compile(r"\s*\(at line ([0-9]+), column [0-9]+\)")


def load_policy(settings: Settings) -> Policy:
    """The rules in force: the policy file when one is named, else settings."""
    if settings.paybot_policy_file is None:
        return from_settings(settings)
    return read_policy_file(Path(settings.paybot_policy_file))


def read_policy_file(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"PAYBOT_POLICY_FILE: cannot read {path}: {reason}") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Build a Policy from TOML text; ConfigError names the line and reason."""
    try:
        # Decimal keeps 12.50 exact: binary floats have no place near money.
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, source) from None
    try:
        return _Reader(data, text, source).policy()
    except (ArithmeticError, ValueError):  # numbers beyond any sense
        raise ConfigError(
            f"{source}: a number is too large to be a sensible rule"
        ) from None


def _syntax_error(exc: tomllib.TOMLDecodeError, source: str) -> ConfigError:
    message = str(exc)
    position = _TOML_POSITION.search(message)
    reason = _TOML_POSITION.sub("", message).strip()
    if position is None:
        return ConfigError(f"{source}: {reason}")
    return ConfigError(f"{source} line {position[1]}: {reason}")


def line_of(text: str, section: str, key: str | None = None) -> int | None:
    """The line of ``key`` in ``[section]`` (or of the header), if present."""
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header[1]
            if key is None and current == section:
                return number
            continue
        if key is not None and current == section:
            match = re.match(r"""["']?([^"'=\s]+)["']?\s*=""", stripped)
            if match and match[1] == key:
                return number
    return None


class _Reader:
    """Checks the parsed file key by key, failing with the key's line."""

    def __init__(self, data: dict[str, Any], text: str, source: str) -> None:
        self.data = data
        self.text = text
        self.source = source

    def fail(self, section: str, key: str | None, reason: str) -> NoReturn:
        line = line_of(self.text, section, key)
        if line is None and key is not None:
            line = line_of(self.text, section)
        name = ".".join(part for part in (section, key) if part)
        where = f"{self.source} line {line}" if line else self.source
        raise ConfigError(f"{where}: {name}: {reason}")

    def policy(self) -> Policy:
        self._no_unknown_keys()
        people = self._people()
        approval = self._table("approval")
        limits = self._table("limits")
        approvers = self._person_list("approval", "approvers", people, required=True)
        required = self._int("approval", "required", default=1)
        if approvers is not None and required > len(approvers):
            self.fail("approval", "required", f"{required} exceeds the approvers")
        over = self._choice("limits", "over_budget", ("refuse", "extra_approval"))
        if over == "extra_approval" and approvers and required + 1 > len(approvers):
            self.fail(
                "limits", "over_budget", "an extra approval needs one more approver"
            )
        return Policy(
            people=people,
            approvers=approvers or (),
            requesters=self._requesters(people),
            approvals_required=required,
            allow_self_approval=self._bool(approval, "approval", "self_approval"),
            deny_ends_request=self._choice("approval", "deny", ("ends", "counts"))
            == "ends",
            auto_approve_max_cents=self._cents(limits, "auto_approve_max") or 0,
            topup_max_cents=self._cents(limits, "topup_max") or 100_000,
            daily_budget_cents=self._cents(limits, "daily_budget"),
            monthly_budget_cents=self._cents(limits, "monthly_budget"),
            over_budget="extra_approval" if over == "extra_approval" else "refuse",
            approval_timeout=self._duration("approval", "timeout"),
            remind_every=self._duration("approval", "remind_every"),
            payer=self._payer(people),
            low_balance=self._low_balance(),
            source=self.source,
        )

    # -- structure ------------------------------------------------------------

    def _no_unknown_keys(self) -> None:
        for key, value in self.data.items():
            if key not in TOP_LEVEL:
                self.fail(
                    "", key, f"unknown setting; expected one of {_list(TOP_LEVEL)}"
                )
            if key in SECTIONS and not isinstance(value, dict):
                self.fail("", key, f"must be a table: write [{key}]")
        for section, allowed in SECTIONS.items():
            for key in self._table(section):
                if allowed and key not in allowed:
                    self.fail(section, key, f"unknown key; expected {_list(allowed)}")

    def _table(self, section: str) -> dict[str, Any]:
        table = self.data.get(section, {})
        return table if isinstance(table, dict) else {}

    # -- people ---------------------------------------------------------------

    def _people(self) -> tuple[Person, ...]:
        people: list[Person] = []
        owners: dict[str, str] = {}
        for name, value in self._table("people").items():
            if not _NAME.fullmatch(name):
                self.fail("people", name, "a name is letters, digits, _ . or -")
            accounts = [value] if isinstance(value, str) else value
            if not isinstance(accounts, list) or not accounts:
                self.fail("people", name, 'list the accounts, like ["slack:U123"]')
            for account in accounts:
                self._account("people", name, account)
                if account in owners:
                    self.fail(
                        "people", name, f"{account} also belongs to {owners[account]}"
                    )
                owners[account] = name
            people.append(Person(name, tuple(accounts)))
        return tuple(people)

    def _account(self, section: str, key: str, account: object) -> str:
        platform, _, user = str(account).partition(":")
        if not isinstance(account, str) or platform not in PLATFORMS or not user:
            self.fail(
                section,
                key,
                f"{account!r} is not an account like slack:U123 or telegram:42",
            )
        return account

    def _person(
        self, section: str, key: str, entry: object, people: tuple[Person, ...]
    ) -> str:
        """A person name from [people], or an account that is its own person."""
        if not isinstance(entry, str):
            self.fail(section, key, f"{entry!r} is not a person name or an account")
        if ":" in entry:
            account = self._account(section, key, entry)
            return next((p.name for p in people if account in p.accounts), account)
        if entry not in {person.name for person in people}:
            self.fail(section, key, f"{entry!r} is not listed under [people]")
        return entry

    def _person_list(
        self, section: str, key: str, people: tuple[Person, ...], *, required: bool
    ) -> tuple[str, ...] | None:
        value = self._table(section).get(key)
        if value is None:
            if required:
                self.fail(section, key, "missing; list who approves")
            return None
        if not isinstance(value, list) or (required and not value):
            self.fail(section, key, 'must be a list of people, like ["bob", "carol"]')
        keys = [self._person(section, key, entry, people) for entry in value]
        return tuple(dict.fromkeys(keys))

    def _requesters(self, people: tuple[Person, ...]) -> tuple[str, ...] | None:
        if self._table("approval").get("requesters") == "anyone":
            return None
        return self._person_list("approval", "requesters", people, required=False)

    def _payer(self, people: tuple[Person, ...]) -> str | None:
        entry = self.data.get("payer")
        if entry is None:
            return None
        key = self._person("", "payer", entry, people)
        person = next((p for p in people if p.name == key), None)
        return person.accounts[0] if person else key

    # -- values ---------------------------------------------------------------

    def _int(self, section: str, key: str, *, default: int) -> int:
        value = self._table(section).get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= 50
        ):
            self.fail(section, key, "must be a whole number from 1 to 50")
        return value

    def _bool(self, table: dict[str, Any], section: str, key: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.fail(section, key, "must be true or false")
        return value

    def _choice(self, section: str, key: str, choices: tuple[str, ...]) -> str:
        value = self._table(section).get(key, choices[0])
        if value not in choices:
            self.fail(section, key, f"must be one of {', '.join(map(repr, choices))}")
        return str(value)

    def _cents(
        self, table: dict[str, Any], key: str, section: str = "limits"
    ) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            self.fail(section, key, "must be a dollar amount, like 250 or 12.50")
        try:
            amount = Decimal(str(value).strip().removeprefix("$"))
        except ArithmeticError:
            self.fail(section, key, f"{value!r} is not a dollar amount, like 12.50")
        if (
            not amount.is_finite()
            or amount < 0
            or amount != amount.quantize(Decimal("0.01"))
        ):
            self.fail(section, key, "must be zero or more, with at most two decimals")
        if key in ("topup_max", "topup") and amount == 0:
            self.fail(section, key, "must be more than zero")
        return int(amount * 100)

    def _duration(self, section: str, key: str) -> timedelta | None:
        value = self._table(section).get(key)
        if value is None:
            return None
        text = str(value).replace(" ", "").lower()
        if not isinstance(value, str) or not _DURATION.fullmatch(text):
            self.fail(section, key, 'must be a duration like "30m", "4h" or "2d"')
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(text))
        if seconds <= 0:
            self.fail(section, key, "must be longer than zero")
        return timedelta(seconds=seconds)

    def _low_balance(self) -> LowBalance | None:
        table = self._table("low_balance")
        if not table:
            return None
        below = self._cents(table, "below", "low_balance")
        topup = self._cents(table, "topup", "low_balance")
        chat = table.get("chat")
        if below is None or topup is None or chat is None:
            missing = next(
                k for k in ("below", "topup", "chat") if table.get(k) is None
            )
            self.fail(
                "low_balance", missing, "missing; below, topup and chat go together"
            )
        platform, _, chat_id = str(chat).partition(":")
        if platform not in PLATFORMS or not chat_id:
            self.fail(
                "low_balance", "chat", "must be a chat like slack:C123 or telegram:-100"
            )
        every = self._duration("low_balance", "check_every") or timedelta(minutes=15)
        return LowBalance(below, topup, str(chat), every)


def _list(names: frozenset[str]) -> str:
    return ", ".join(sorted(names))
