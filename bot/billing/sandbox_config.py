"""Settings of the ModelsLab simulator: which undocumented variant it plays.

The API leaves several answers undocumented; each field below picks one
plausible answer so the client can be tested against all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args

from bot.errors import ConfigError

LinkBody = Literal["wrapped", "bare"]
UnauthorizedBody = Literal["laravel", "envelope"]
ConfirmUnpaid = Literal["409", "402", "400", "200"]
ConfirmExpired = Literal["410", "422", "400"]
ReplayFlag = Literal["top", "data", "meta"]
ResetFormat = Literal["epoch", "delta"]
# Which limiter confirm-checkout counts against is not documented.
ConfirmBucket = Literal["billing", "general"]
FaultKind = Literal["500", "503", "429", "slow", "html502", "empty", "drop"]

FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the simulator can vary; build it from plain values."""

    token: str = "sandbox-token"  # noqa: S105 - the simulator's well-known token
    email: str = "demo@example.com"
    password: str = "sandbox-password"  # noqa: S105 - the simulator's demo login
    checkout_ttl_seconds: int = 86400
    minimum_topup_usd: Decimal = Decimal("10")
    opening_balance_cents: int = 7500
    link_body: LinkBody = "wrapped"
    unauthorized_body: UnauthorizedBody = "laravel"
    confirm_unpaid: ConfirmUnpaid = "409"
    confirm_expired: ConfirmExpired = "410"
    replay_flag: ReplayFlag = "meta"
    rate_limits: bool = True
    rate_limit_reset: ResetFormat = "epoch"
    confirm_bucket: ConfirmBucket = "billing"
    fault_rate: float = 0.0
    fault_kinds: tuple[FaultKind, ...] = FAULT_KINDS
    slow_seconds: float = 7.0
    fault_seed: int | None = None
    reseller: bool = False
    control_routes: bool = True

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"sandbox {name} must be one of {', '.join(allowed)}")
        if not set(self.fault_kinds) <= set(FAULT_KINDS):
            raise ConfigError(
                f"sandbox fault_kinds must be among {', '.join(FAULT_KINDS)}"
            )
        if not 0 <= self.fault_rate <= 1:
            raise ConfigError("sandbox fault_rate must be between 0 and 1")
        if self.checkout_ttl_seconds <= 0 or self.minimum_topup_usd <= 0:
            raise ConfigError(
                "sandbox checkout_ttl_seconds and minimum must be positive"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> SandboxConfig:
        """Build from strings, numbers and lists, as read from env or JSON."""
        return cls().with_changes(values)

    def with_changes(self, values: Mapping[str, object]) -> SandboxConfig:
        unknown = sorted(set(values) - set(_CONVERTERS))
        if unknown:
            raise ConfigError(f"unknown sandbox setting: {', '.join(unknown)}")
        try:
            changes: dict[str, Any] = {
                name: _CONVERTERS[name](value) for name, value in values.items()
            }
        except (ValueError, TypeError, InvalidOperation) as exc:
            raise ConfigError(f"bad sandbox setting: {exc}") from exc
        return dataclasses.replace(self, **changes)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
        raise ValueError(f"not a yes/no value: {value!r}")
    return text in {"1", "true", "yes", "on"}


def _kinds(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TypeError("fault_kinds must be a list or a comma-separated string")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _optional_int(value: object) -> int | None:
    return None if value is None or value == "" else int(str(value))


def _decimal(value: object) -> Decimal:
    if isinstance(value, float):
        raise TypeError("give the minimum as a string or integer, not a float")
    return Decimal(str(value))


_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "link_body": get_args(LinkBody),
    "unauthorized_body": get_args(UnauthorizedBody),
    "confirm_unpaid": get_args(ConfirmUnpaid),
    "confirm_expired": get_args(ConfirmExpired),
    "replay_flag": get_args(ReplayFlag),
    "rate_limit_reset": get_args(ResetFormat),
    "confirm_bucket": get_args(ConfirmBucket),
}

_CONVERTERS: Final[dict[str, Callable[[Any], object]]] = {
    "token": str,
    "email": str,
    "confirm_bucket": str,
    "password": str,
    "checkout_ttl_seconds": lambda value: int(str(value)),
    "minimum_topup_usd": _decimal,
    "opening_balance_cents": lambda value: int(str(value)),
    "link_body": str,
    "unauthorized_body": str,
    "confirm_unpaid": str,
    "confirm_expired": str,
    "replay_flag": str,
    "rate_limits": _flag,
    "rate_limit_reset": str,
    "fault_rate": lambda value: float(str(value)),
    "fault_kinds": _kinds,
    "slow_seconds": lambda value: float(str(value)),
    "fault_seed": _optional_int,
    "reseller": _flag,
    "control_routes": _flag,
}
