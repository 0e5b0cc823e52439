from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.money import check_range, format_usd, parse_amount, to_cents, to_decimal

ACCEPTED = [
    ("50", 5000),
    ("50.5", 5050),
    ("50.50", 5050),
    ("$50", 5000),
    ("$ 50", 5000),
    ("50 usd", 5000),
    ("50 USD", 5000),
    ("50USD", 5000),
    ("50usd", 5000),
    ("USD 50", 5000),
    ("usd50", 5000),
    ("50$", 5000),
    ("50 $", 5000),
    ("$50.00", 5000),
    ("  25.75  ", 2575),
    ("0.01", 1),
    (".5", 50),
    ("007", 700),
    ("1000", 100000),
    ("50 dollars", 5000),
]

REJECTED = [
    ("", "Give an amount"),
    ("   ", "Give an amount"),
    ("$", "Give an amount"),
    ("usd", "Give an amount"),
    ("0", "more than zero"),
    ("0.00", "more than zero"),
    ("$0", "more than zero"),
    ("-5", "must be positive"),
    ("-$5", "must be positive"),
    ("$-5", "must be positive"),
    ("+5", "without a sign"),
    ("10.005", "at most two decimals"),
    ("0.001", "at most two decimals"),
    ("1e3", "plain digits"),
    ("1E3", "plain digits"),
    ("2.5e2", "plain digits"),
    ("1e-2", "plain digits"),
    ("NaN", "not an amount"),
    ("nan", "not an amount"),
    ("sNaN", "not an amount"),
    ("Infinity", "not an amount"),
    ("inf", "not an amount"),
    ("-Infinity", "must be positive"),
    ("1,000", "thousands separators"),
    ("1,000.50", "thousands separators"),
    ("1 000", "thousands separators"),
    ("1_000", "thousands separators"),
    ("10,50", "dot before the cents"),
    ("50 EUR", "US dollars"),
    ("EUR 50", "US dollars"),
    ("50eur", "US dollars"),
    ("€50", "US dollars"),
    ("50€", "US dollars"),
    ("£5", "US dollars"),
    ("¥500", "US dollars"),
    ("fifty", "not an amount"),
    ("50.", "not an amount"),
    ("1.2.3", "not an amount"),
    ("0x32", "not an amount"),
    ("\uff15\uff10", "not an amount"),
    ("5" * 5000, "too long"),
]


@pytest.mark.parametrize(("text", "cents"), ACCEPTED)
def test_accepted_amounts(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_rejected_amounts_say_why_with_an_example(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(text)

    assert reason in caught.value.reason
    assert "like" in caught.value.reason


def test_absurdly_long_input_is_refused_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="too long"):
        parse_amount("9" * 5000)

    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (0, "$0.00"),
        (1, "$0.01"),
        (5000, "$50.00"),
        (123450, "$1,234.50"),
        (100000000, "$1,000,000.00"),
        (-500, "-$5.00"),
        (-1, "-$0.01"),
    ],
)
def test_format_usd(cents: int, shown: str) -> None:
    assert format_usd(cents) == shown


def test_check_range_accepts_both_limits() -> None:
    check_range(1000, minimum_cents=1000, maximum_cents=100000)
    check_range(100000, minimum_cents=1000, maximum_cents=100000)


def test_check_range_names_the_smallest_top_up() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_range(999, minimum_cents=1000, maximum_cents=100000)

    assert caught.value.reason.startswith("The smallest top-up is $10.00.")


def test_check_range_names_the_largest_top_up() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_range(100001, minimum_cents=1000, maximum_cents=100000)

    assert caught.value.reason.startswith("The largest top-up is $1,000.00.")


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("2.675", 268),
        ("0.625", 63),
        ("10.005", 1001),
        ("2.665", 267),
        ("-2.675", -268),
        ("0.004", 0),
        ("50", 5000),
        ("1E+40", 10**42),
    ],
)
def test_to_cents_rounds_half_up(value: str, cents: int) -> None:
    assert to_cents(Decimal(value)) == cents


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_to_cents_refuses_values_that_are_not_finite(value: str) -> None:
    with pytest.raises(ValueError, match="not a finite amount"):
        to_cents(Decimal(value))


@pytest.mark.parametrize(
    ("cents", "exact"), [(0, "0.00"), (5, "0.05"), (7840, "78.40"), (-5, "-0.05")]
)
def test_to_decimal_is_exact_with_two_places(cents: int, exact: str) -> None:
    assert str(to_decimal(cents)) == exact


def test_b21_typed_amounts_become_exact_cents() -> None:
    typed = {"4.35": 435, "78.40": 7840, "12.50": 1250, "19.99": 1999}

    for text, cents in typed.items():
        assert parse_amount(text) == cents
        assert to_decimal(parse_amount(text)) == Decimal(text)


def test_b21_cents_convert_back_to_the_exact_typed_dollars() -> None:
    for text in ["4.35", "78.40", "12.50", "19.99"]:
        assert str(to_decimal(parse_amount(text))) == text

    assert json.dumps({"amount": str(to_decimal(7840))}) == '{"amount": "78.40"}'


def test_b21_base_plus_fee_is_shown_as_thirty_cents() -> None:
    total = parse_amount("0.20") + parse_amount("0.10")

    assert total == 30
    assert format_usd(total) == "$0.30"


def test_b22_computed_values_round_half_up() -> None:
    assert to_cents(Decimal("2.675")) == 268
    assert to_cents(Decimal("0.625")) == 63
    assert to_cents(Decimal("10.005")) == 1001
    assert format_usd(to_cents(Decimal("2.675"))) == "$2.68"


def test_b22_a_split_fee_rounds_half_up() -> None:
    fee = Decimal("20.01") / 2

    assert to_cents(fee) == 1001


def test_b22_typed_three_decimals_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at most two decimals"):
        parse_amount("10.005")


@given(st.integers(min_value=1, max_value=10**15))
def test_formatted_amounts_parse_back(cents: int) -> None:
    shown = format_usd(cents).replace(",", "")

    assert parse_amount(shown) == cents
    assert parse_amount(str(to_decimal(cents))) == cents


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_to_decimal_and_to_cents_are_inverse(cents: int) -> None:
    assert to_cents(to_decimal(cents)) == cents


@given(
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda number: "e" in repr(number).lower() or "n" in repr(number).lower()
    )
)
def test_float_reprs_with_exponents_or_words_are_refused(number: float) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(repr(number))


@given(
    st.integers(min_value=0, max_value=10**9),
    st.from_regex(r"[0-9]{2,6}[1-9]", fullmatch=True),
)
def test_more_than_two_decimals_is_refused(whole: int, fraction: str) -> None:
    with pytest.raises(InvalidInput, match="at most two decimals"):
        parse_amount(f"{whole}.{fraction}")


@given(st.text(max_size=40))
def test_parse_returns_positive_int_cents_or_refuses(text: str) -> None:
    try:
        cents = parse_amount(text)
    except InvalidInput as error:
        assert error.reason
    else:
        assert type(cents) is int
        assert cents > 0
