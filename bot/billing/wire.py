"""JSON, money and time on the wire, shared by the client and the sandbox.

Money never passes through ``float``: JSON numbers are read as ``Decimal``
and written back digit for digit, and amounts inside paybot are integer
cents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_CENT = Decimal("0.01")
_EPOCH_FLOOR = 1_000_000_000


class BodyError(ValueError):
    """A response body that is not the JSON the API promises."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} body")
        self.kind = kind


def loads(text: str) -> Any:
    """Parse JSON with every fractional number as a ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    """Serialise to JSON, writing ``Decimal`` values exactly as they are."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("money must be finite")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not allowed on the wire; use Decimal")
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(key))}: {dumps(item)}" for key, item in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


def decode_body(text: str, content_type: str) -> Any:
    """Parse a response body, refusing empty, HTML and malformed ones."""
    stripped = text.strip()
    if not stripped:
        raise BodyError("empty")
    if "html" in content_type.lower() or stripped.startswith("<"):
        raise BodyError("html")
    try:
        return loads(stripped)
    except ValueError as exc:
        raise BodyError("malformed") from exc


def to_cents(value: object) -> int | None:
    """Dollars (number or numeric string) to integer cents, half up."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_dollars(cents: int) -> Decimal:
    """Integer cents to a two-place ``Decimal``: 7840 -> Decimal('78.40')."""
    return (Decimal(cents) / 100).quantize(_CENT)


def parse_datetime(value: object) -> datetime | None:
    """An ISO-8601 string or unix seconds as an aware UTC datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        # Unix seconds; small numbers are durations or junk, not dates.
        if value < _EPOCH_FLOOR:
            return None
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, ValueError, OSError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """UTC, second precision, with a ``Z``: ``2026-02-20T12:30:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unwrap(body: Any) -> Any:
    """The payload of a body, whether or not it sits in a ``data`` envelope."""
    if isinstance(body, dict) and "data" in body and body["data"] is not None:
        return body["data"]
    return body


def is_replay(body: Any) -> bool:
    """True when ``idempotency_replay`` is set at the top, in data or in meta."""
    if not isinstance(body, dict):
        return False
    places = (body, body.get("data"), body.get("meta"))
    return any(
        isinstance(p, dict) and p.get("idempotency_replay") is True for p in places
    )


@dataclass(frozen=True)
class ErrorInfo:
    """What an error body says, whatever its shape."""

    code: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


def error_info(body: Any) -> ErrorInfo:
    """Read the documented envelope, Laravel bodies and bare messages."""
    if not isinstance(body, dict):
        return ErrorInfo()
    error = body.get("error")
    if isinstance(error, dict):
        return ErrorInfo(
            code=_text(error.get("code")),
            message=_text(error.get("message")),
            details=_mapping(error.get("details")),
            retry_after=_seconds(error.get("retry_after", body.get("retry_after"))),
        )
    errors = _mapping(body.get("errors"))
    return ErrorInfo(
        code="validation_error" if errors else "",
        message=_text(body.get("message") or error),
        details=errors,
        retry_after=_seconds(body.get("retry_after")),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> dict[str, Any]:
    # Laravel serialises an empty bag as [] rather than {}.
    return dict(value) if isinstance(value, dict) else {}


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
