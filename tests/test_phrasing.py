"""Quoted commands are written as each platform types them."""

from __future__ import annotations

import pytest

from bot.phrasing import for_platform


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("console", "press I've paid or type paid 12; see requests"),
        ("telegram", "press I've paid or type /paid 12; see /requests"),
        ("slack", "press I've paid or type /paybot paid 12; see /paybot requests"),
    ],
)
def test_quoted_commands_follow_the_platform(platform: str, expected: str) -> None:
    text = "press I've paid or type `paid 12`; see `requests`"
    assert for_platform(platform, text) == expected


def test_slack_uses_its_own_slash_commands_where_it_has_them() -> None:
    assert for_platform("slack", "`topup 50` or `plans`") == "/topup 50 or /plans"


def test_other_backticks_are_left_alone() -> None:
    assert for_platform("telegram", "a note with `code` in it") == (
        "a note with `code` in it"
    )
