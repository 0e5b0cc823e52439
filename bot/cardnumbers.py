"""Spotting payment card numbers in chat text, so they are refused and masked.

A card number is 13 to 19 digits that passes the Luhn check, typed together
or in groups of four or more (the last may have three) split by whitespace
of any kind (spaces, tabs, line breaks, no-break spaces) or single dashes;
groups of exactly four may also be split by dots or slashes. Digits glued
to letters or underscores belong to an identifier (a checkout session id, a
file name) and are not cards; a comma ends a group, and a dot or slash ends
one unless both sides have four digits, so amounts, dates and Slack
timestamps like 1700000000.000100 are never joined into one.
"""

from __future__ import annotations

import re

MIN_DIGITS = 13
MAX_DIGITS = 19
KEPT_FIRST = 6
KEPT_LAST = 4
MIN_GROUP = 4

_RUN = re.compile(r"(?<![0-9A-Za-z_])[0-9]+(?:(?:\s+|[-./])[0-9]+)*")
_FOUR_ONLY = frozenset("./")
_WORD_CHAR = re.compile(r"[A-Za-z_]")
_GROUP = re.compile(r"[0-9]+")
_NOT_DIGIT = re.compile(r"[^0-9]")


def find_card_numbers(text: str) -> list[str]:
    """The digits (separators removed) of every card number in ``text``."""
    return [_digits(text[start:end]) for start, end in _card_spans(text)]


def contains_card_number(text: str) -> bool:
    return bool(_card_spans(text))


def mask_card_numbers(text: str) -> str:
    """Hide all but the first 6 and last 4 digits of each card number.

    Separators stay where they were: ``4242 4242 4242 4242`` becomes
    ``4242 42** **** 4242`` and ``4242424242424242`` becomes
    ``424242******4242``.
    """
    pieces: list[str] = []
    done = 0
    for start, end in _card_spans(text):
        pieces.append(text[done:start])
        pieces.append(_mask(text[start:end]))
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        groups = [
            (run.start() + group.start(), run.start() + group.end())
            for group in _GROUP.finditer(run[0])
        ]
        if _WORD_CHAR.match(text, run.end()):
            groups.pop()
        spans.extend(_cards_in_run(text, groups))
    return spans


def _cards_in_run(text: str, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Take whole groups, left to right, preferring the longest card."""
    found: list[tuple[int, int]] = []
    first = 0
    while first < len(groups):
        last = _longest_card_from(text, groups, first)
        if last is None:
            first += 1
            continue
        found.append((groups[first][0], groups[last][1]))
        first = last + 1
    return found


def _longest_card_from(
    text: str, groups: list[tuple[int, int]], first: int
) -> int | None:
    # Cards are typed in groups of four or more (the last may have three);
    # dates, phone numbers and lists of small amounts are not.
    longest: int | None = None
    digits = ""
    for last in range(first, len(groups)):
        start, end = groups[last]
        if last > first and not _joins(text, groups[last - 1], groups[last]):
            break
        digits += text[start:end]
        if len(digits) > MAX_DIGITS:
            break
        if len(digits) >= MIN_DIGITS and end - start >= MIN_GROUP - 1:
            longest = last if luhn_valid(digits) else longest
    return longest


def _length(group: tuple[int, int]) -> int:
    return group[1] - group[0]


def _joins(text: str, before: tuple[int, int], after: tuple[int, int]) -> bool:
    """Whether two digit groups can be parts of one card number."""
    if _length(before) < MIN_GROUP:
        return False
    separator = text[before[1] : after[0]]
    if separator in _FOUR_ONLY:
        return _length(before) == MIN_GROUP and _length(after) == MIN_GROUP
    return True


def _digits(text: str) -> str:
    return _NOT_DIGIT.sub("", text)


def _mask(card: str) -> str:
    total = len(_digits(card))
    masked: list[str] = []
    seen = 0
    for char in card:
        if char.isdigit():
            seen += 1
        hidden = char.isdigit() and KEPT_FIRST < seen <= total - KEPT_LAST
        masked.append("*" if hidden else char)
    return "".join(masked)
