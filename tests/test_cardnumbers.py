from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cardnumbers import (
    contains_card_number,
    find_card_numbers,
    luhn_valid,
    mask_card_numbers,
)

CARDS = [
    # text, digits found, masked text
    ("4242424242424242", "4242424242424242", "424242******4242"),
    ("4242 4242 4242 4242", "4242424242424242", "4242 42** **** 4242"),
    ("4242-4242-4242-4242", "4242424242424242", "4242-42**-****-4242"),
    ("4242 4242-4242 4242", "4242424242424242", "4242 42**-**** 4242"),
    ("4000 0000 0000 0002", "4000000000000002", "4000 00** **** 0002"),
    ("5555555555554444", "5555555555554444", "555555******4444"),
    ("3782 822463 10005", "378282246310005", "3782 82**** *0005"),
    ("378282246310005", "378282246310005", "378282*****0005"),
    ("3056 930902 5904", "30569309025904", "3056 93**** 5904"),
    ("4222222222222", "4222222222222", "422222***2222"),
    ("6011 0009 9013 9424", "6011000990139424", "6011 00** **** 9424"),
    ("6200 0000 0000 0000 000", "6200000000000000000", "6200 00** **** ***0 000"),
]


@pytest.mark.parametrize(("text", "digits", "masked"), CARDS)
def test_card_numbers_are_found_and_masked(text: str, digits: str, masked: str) -> None:
    sentence = f"my card is {text}, thanks"

    assert find_card_numbers(sentence) == [digits]
    assert contains_card_number(sentence)
    assert mask_card_numbers(sentence) == f"my card is {masked}, thanks"


def test_every_card_in_a_message_is_masked() -> None:
    text = "4111111111111111 or 5555 5555 5555 4444?"

    assert find_card_numbers(text) == ["4111111111111111", "5555555555554444"]
    assert mask_card_numbers(text) == "411111******1111 or 5555 55** **** 4444?"


def test_a_card_after_an_amount_is_still_found() -> None:
    text = "topup 50 4242 4242 4242 4242"

    assert find_card_numbers(text) == ["4242424242424242"]
    assert mask_card_numbers(text) == "topup 50 4242 42** **** 4242"


def test_cards_typed_back_to_back_are_both_found() -> None:
    text = "4242 4242 4242 4242 4242 4242 4242 4242"

    assert find_card_numbers(text) == ["4242424242424242"] * 2


NOT_CARDS = [
    "topup 50",
    "topup 1000000 for the year",
    "$1,000.50",
    "approve #12",
    "status 12 13 14 15 16 17 18",
    "ts 1700000000.000100",
    "1700000000.000100",
    "2024-01-15 2024-01-16",
    "on 2024-01-15 at 10:30",
    "+1 415-555-2671",
    "100 250 500 1000 2000 5000",
    "4242 4242 4242 4241",
    "424242424242425",
    "42424242424242424242",
    "4242 4242 4242 4242 4242 4242 4242 4242 4242 4242"[:14],
    "paid cs_test_4242424242424242",
    "file_4242424242424242.pdf",
    "4242 4242 4242 4242abc",
    "42 42 42 42 42 42 42 42",
]


@pytest.mark.parametrize("text", NOT_CARDS)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert find_card_numbers(text) == []
    assert not contains_card_number(text)
    assert mask_card_numbers(text) == text


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4242424242424242", True),
        ("79927398713", True),
        ("0", True),
        ("4242424242424241", False),
        ("79927398710", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_long_messages_are_scanned_quickly() -> None:
    text = "1 " * 50_000 + "a" + "1234 " * 20_000 + "4242 4242 4242 4242"
    started = time.perf_counter()

    assert find_card_numbers(text) == ["4242424242424242"]
    assert time.perf_counter() - started < 2


@given(st.text())
def test_masking_keeps_length_and_leaves_no_card(text: str) -> None:
    masked = mask_card_numbers(text)

    assert len(masked) == len(text)
    assert not contains_card_number(masked)


@given(st.integers(min_value=0, max_value=10**12))
def test_short_numbers_are_never_cards(number: int) -> None:
    assert not contains_card_number(f"topup {number} and {number}.{number % 100}")


@pytest.mark.parametrize(
    "text",
    [
        "4242\n4242 4242 4242",
        "4242\t4242\t4242\t4242",
        "4242\u00a04242\u00a04242\u00a04242",
        "4242\u20094242\u20094242\u20094242",
        "4242\n\n4242\n\n4242\n\n4242",
        "4242.4242.4242.4242",
        "4242/4242/4242/4242",
    ],
)
def test_cards_split_by_any_whitespace_dots_or_slashes_are_found(text: str) -> None:
    assert find_card_numbers(text) == ["4242424242424242"]
    assert "****" in mask_card_numbers(text)


@pytest.mark.parametrize("text", ["1700000000.000100", "2026.12.04", "1234.5678.90"])
def test_dotted_numbers_that_are_not_cards_are_left_alone(text: str) -> None:
    assert find_card_numbers(text) == []
