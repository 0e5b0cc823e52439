"""US dollar amounts: parsed from chat text, kept as integer cents, shown as $.

Typed amounts are exact: more than two decimals is a mistake to report, not
something to round. Computed amounts (a split, a fee) are rounded half up by
``to_cents``. Money never passes through ``float``.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, localcontext

from bot.errors import InvalidInput

# Long enough for any sane amount with a currency marker and spaces; anything
# longer is refused before it reaches Decimal.
MAX_AMOUNT_LENGTH = 32

_EXAMPLE = "like 50 or 12.50"
_USD_MARKER = r"(?:\$|usd|us\$|dollars?)"
_PREFIXED = re.compile(rf"{_USD_MARKER}\s*(?P<number>.*)")
_SUFFIXED = re.compile(rf"(?P<number>.*?)\s*{_USD_MARKER}")
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?|\.[0-9]{1,2}")
_TOO_PRECISE = re.compile(r"[0-9]*\.[0-9]{3,}")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{1,2}")
_GROUPED = re.compile(r"[0-9][,_' ][0-9]")
_EXPONENT = re.compile(r"[0-9.]+e[+-]?[0-9]+")
_NOT_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity)")
_CURRENCY_CODE = re.compile(r"[a-z]{3}\s*[0-9.]+|[0-9.]+\s*[a-z]{3}")


def parse_amount(text: str) -> int:
    """Turn a typed US dollar amount into cents, or raise ``InvalidInput``.

    Accepts ``50``, ``50.5``, ``$50``, ``50 usd``, ``USD 50`` and the like.
    The result is positive; the allowed range is checked by ``check_range``.
    """
    cleaned = text.strip().lower()
    if not cleaned:
        raise InvalidInput(f"Give an amount in US dollars, {_EXAMPLE}.")
    if len(cleaned) > MAX_AMOUNT_LENGTH:
        raise InvalidInput(f"That amount is too long. Give one {_EXAMPLE}.")

    number = _strip_usd_marker(cleaned)
    _reject_malformed(number)

    cents = to_cents(Decimal(number))
    if cents == 0:
        raise InvalidInput(f"The amount must be more than zero, {_EXAMPLE}.")
    return cents


def check_range(cents: int, *, minimum_cents: int, maximum_cents: int) -> None:
    """Raise ``InvalidInput`` naming the limit when a top-up is out of range."""
    if cents < minimum_cents:
        smallest = format_usd(minimum_cents)
        raise InvalidInput(
            f"The smallest top-up is {smallest}. Ask for {smallest} or more."
        )
    if cents > maximum_cents:
        largest = format_usd(maximum_cents)
        raise InvalidInput(
            f"The largest top-up is {largest}. Ask for {largest} or less."
        )


def format_usd(cents: int) -> str:
    """Show cents as dollars with a thousands separator: ``$1,234.50``."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def to_cents(value: Decimal) -> int:
    """Round a dollar amount to whole cents, halves away from zero."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    # Enough precision that neither the shift nor the rounding loses digits.
    with localcontext() as context:
        context.prec = max(context.prec, value.adjusted() + 4)
        return int(value.scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_decimal(cents: int) -> Decimal:
    """Exact dollars with two places: 7840 becomes ``Decimal("78.40")``."""
    return Decimal(cents).scaleb(-2)


def _strip_usd_marker(text: str) -> str:
    for pattern in (_PREFIXED, _SUFFIXED):
        match = pattern.fullmatch(text)
        if match:
            text = match["number"].strip()
    return text


def _reject_malformed(number: str) -> None:
    if _PLAIN.fullmatch(number):
        return
    raise InvalidInput(_malformed_reason(number))


def _malformed_reason(number: str) -> str:
    if not number:
        return f"Give an amount in US dollars, {_EXAMPLE}."
    if number.startswith("-"):
        return f"The amount must be positive, {_EXAMPLE}."
    if _NOT_FINITE.fullmatch(number):
        return f"That is not an amount. Give one in US dollars, {_EXAMPLE}."
    if number.startswith("+"):
        return f"Write the amount without a sign, {_EXAMPLE}."
    if _has_currency(number):
        return "Amounts are in US dollars, like 50 or $12.50."
    if _DECIMAL_COMMA.fullmatch(number):
        return "Use a dot before the cents, like 10.50."
    if _GROUPED.search(number):
        return "Write the amount without thousands separators, like 1000."
    if _EXPONENT.fullmatch(number):
        return "Write the amount in plain digits, like 1000 rather than 1e3."
    if _TOO_PRECISE.fullmatch(number):
        return "Amounts have at most two decimals, like 10.50."
    return f"That is not an amount. Give one in US dollars, {_EXAMPLE}."


def _has_currency(number: str) -> bool:
    if any(unicodedata.category(char) == "Sc" for char in number):
        return True
    return _CURRENCY_CODE.fullmatch(number) is not None
