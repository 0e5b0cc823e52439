"""A string that must never be shown: tokens and passwords."""

from __future__ import annotations

from typing import Final

_MASK: Final = "***"


class Secret:
    """Holds a secret value; ``repr`` and ``str`` show only a mask.

    Call :meth:`reveal` at the one place the value is really needed, such
    as building the ``Authorization`` header.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """Return ``text`` with every occurrence of the secret masked."""
        if not self._value:
            return text
        return text.replace(self._value, _MASK)

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
