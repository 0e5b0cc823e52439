"""The hosted checkout page, driven the way a browser drives it."""

from __future__ import annotations

import httpx
import pytest

from bot.billing.client import BillingClient
from tests.support.sandbox import RunningSandbox


@pytest.fixture
async def link_url(client: BillingClient) -> str:
    link = await client.create_payment_link(
        "fund", idempotency_key="p1", amount_cents=2000
    )
    return link.payment_url


def submit(url: str, card: str, action: str = "pay") -> httpx.Response:
    form = {"card_number": card, "expiry": "12/30", "cvc": "123", "action": action}
    return httpx.post(url, data=form, timeout=5)


async def test_page_shows_what_is_paid_and_a_self_contained_form(link_url: str) -> None:
    page = httpx.get(link_url, timeout=5)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for text in (
        "wallet top-up",
        "$20.00",
        "card_number",
        "cvc",
        "expiry",
        "Pay",
        "Cancel",
    ):
        assert text in page.text
    assert "src=" not in page.text and "<link" not in page.text
    assert "https://" not in page.text


async def test_subscription_page_names_the_plan(client: BillingClient) -> None:
    link = await client.create_payment_link(
        "subscribe", idempotency_key="p2", plan_id=10
    )
    page = httpx.get(link.payment_url, timeout=5)
    assert "Basic Enterprise subscription (monthly)" in page.text
    assert "$249.00" in page.text


async def test_test_card_with_dashes_pays_and_shows_the_session_id(
    sandbox: RunningSandbox, client: BillingClient, link_url: str
) -> None:
    page = submit(link_url, "4242-4242-4242-4242")
    session_id = link_url.rsplit("/", 1)[1]
    outcome = await client.confirm_checkout("fund", session_id)
    assert page.status_code == 200 and "Payment received" in page.text
    assert session_id in page.text
    assert (outcome.status, outcome.balance_cents) == ("paid", 9500)
    state = httpx.get(f"{sandbox.root}/_sandbox/state", timeout=5).text
    assert "4242424242424242" not in state + page.text


async def test_declined_card_leaves_the_link_payable(
    client: BillingClient, link_url: str
) -> None:
    declined = submit(link_url, "4000 0000 0000 0002")
    session_id = link_url.rsplit("/", 1)[1]
    after_decline = await client.confirm_checkout("fund", session_id)
    paid = submit(link_url, "4242 4242 4242 4242")
    assert "declined" in declined.text and "<form" in declined.text
    assert after_decline.status == "declined"
    assert "Payment received" in paid.text


async def test_other_card_numbers_ask_for_a_test_card(link_url: str) -> None:
    page = submit(link_url, "5555 5555 5555 4444")
    assert "use a test card" in page.text and "<form" in page.text


async def test_cancel_charges_nothing(sandbox: RunningSandbox, link_url: str) -> None:
    page = submit(link_url, "", action="cancel")
    assert "cancelled" in page.text
    assert sandbox.state()["sessions"][0]["paid"] is False


async def test_expired_link_says_so(sandbox: RunningSandbox, link_url: str) -> None:
    sandbox.expire(link_url.rsplit("/", 1)[1])
    shown, posted = httpx.get(link_url, timeout=5), submit(link_url, "4242424242424242")
    assert "This link has expired" in shown.text
    assert "This link has expired" in posted.text
    assert sandbox.state()["sessions"][0]["paid"] is False


async def test_unknown_checkout(sandbox: RunningSandbox) -> None:
    page = httpx.get(f"{sandbox.root}/checkout/cs_test_missing", timeout=5)
    assert page.status_code == 404 and "not found" in page.text
