"""Every endpoint of the reference, through the client, against the simulator."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.billing.client import BillingClient
from bot.errors import (
    BillingAuthError,
    BillingNotFound,
    BillingRejected,
    InvalidInput,
    PaymentDeclined,
)
from tests.support.sandbox import RunningSandbox

StartSandbox = Callable[..., RunningSandbox]
MakeClient = Callable[..., BillingClient]


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> RunningSandbox:
    return start_sandbox(rate_limits=False, reseller=True)


async def test_auth_login_refresh_logout(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    anonymous = make_client(sandbox.api_url, token="")
    with pytest.raises(BillingAuthError) as caught:
        await anonymous.login("demo@example.com", "wrong")
    grant = await anonymous.login("demo@example.com", "sandbox-password")
    client = make_client(sandbox.api_url, token=grant.access_token)

    refreshed = await client.refresh_token(token_expiry="1_week")
    assert (await client.wallet_balance()).balance_cents == 7500
    await client.logout()

    assert caught.value.code == "invalid_credentials"
    assert grant.token_type == "Bearer" and grant.expires_at is not None
    assert refreshed.access_token != grant.access_token
    with pytest.raises(BillingAuthError):
        await client.wallet_balance()
    with pytest.raises(BillingAuthError):
        await make_client(sandbox.api_url, token=grant.access_token).wallet_balance()


async def test_billing_profile_endpoints(client: BillingClient) -> None:
    overview = await client.billing_overview()
    stripe = await client.stripe_config()
    intent = await client.create_setup_intent(idempotency_key="si-1")
    updated = await client.update_billing_info(
        {"name": "Ops", "tax_id": "DE123", "tax_id_type": "eu_vat"},
        idempotency_key="info-1",
    )
    info = await client.billing_info()

    assert str(overview.data["wallet_balance"]) == "75.00"
    assert stripe.data["publishable_key"].startswith("pk_test_")
    assert intent.data["setup_intent_id"].startswith("seti_")
    assert updated.data["name"] == "Ops"
    assert (info.data["name"], info.data["tax_id_type"]) == ("Ops", "eu_vat")
    with pytest.raises(BillingRejected) as caught:
        await client.update_billing_info({"tax_id": "DE1"})
    assert "tax_id_type" in caught.value.details
    with pytest.raises(InvalidInput):
        await client.update_billing_info({"card_number": "4242"})


async def test_payment_method_endpoints(client: BillingClient) -> None:
    await client.add_payment_method(
        "pm_test_mc", make_default=False, idempotency_key="a"
    )
    await client.set_default_payment_method("pm_test_mc", idempotency_key="b")
    methods = await client.payment_methods()
    await client.delete_payment_method("pm_test_visa")
    remaining = await client.payment_methods()

    assert {(m.id, m.is_default) for m in methods} == {
        ("pm_test_visa", False),
        ("pm_test_mc", True),
    }
    assert [m.id for m in remaining] == ["pm_test_mc"]
    with pytest.raises(BillingNotFound):
        await client.delete_payment_method("pm_test_visa")
    with pytest.raises(BillingRejected):
        await client.add_payment_method("4242424242424242")


async def test_invoice_endpoints(
    sandbox: RunningSandbox, client: BillingClient
) -> None:
    link = await client.create_payment_link(
        "fund", idempotency_key="i1", amount_cents=2000
    )
    sandbox.pay(link.session_id)

    invoices = await client.invoices()
    invoice = await client.invoice(invoices[0].id)
    url = await client.invoice_pdf_url(invoices[0].id)

    assert [(i.amount_cents, i.status) for i in invoices] == [(2000, "paid")]
    assert invoice.data["id"] == invoices[0].id
    assert httpx.get(url, timeout=5).status_code == 200
    with pytest.raises(BillingNotFound):
        await client.invoice("in_missing")


async def test_wallet_endpoints(client: BillingClient) -> None:
    checkout = await client.fund_wallet(2000, idempotency_key="w1")
    funded = await client.fund_wallet(
        2500, idempotency_key="w2", payment_method_id="pm_x"
    )
    with pytest.raises(PaymentDeclined) as declined:
        await client.fund_wallet(2000, payment_method_id="pm_card_chargeDeclined")
    await client.withdraw(500, idempotency_key="w3")
    auto = await client.set_auto_funding(
        auto_charge_amount_cents=2000, charge_threshold_cents=500, idempotency_key="w4"
    )
    off = await client.disable_auto_funding()

    assert checkout.data["checkout_url"].endswith(checkout.data["session_id"])
    assert str(funded.data["balance"]) == "100.00"
    assert declined.value.details["decline_code"] == "generic_decline"
    assert (await client.wallet_balance()).balance_cents == 9500
    assert str(auto.data["charge_threshold"]) == "5.00"
    assert off.data["enabled"] is False
    payment = await client.payment_status(funded.data["payment_intent_id"])
    assert (payment.status, payment.amount_cents, payment.currency) == (
        "succeeded",
        2500,
        "USD",
    )


async def test_transactions_filter_and_page(client: BillingClient) -> None:
    await client.fund_wallet(2500, idempotency_key="t1", payment_method_id="pm_x")
    await client.withdraw(1000, idempotency_key="t2")

    everything = await client.wallet_transactions()
    debits = await client.wallet_transactions(type="debit")
    second = await client.wallet_transactions(limit=1, offset=1)

    assert [t.type for t in everything.items] == ["debit", "credit", "credit"]
    assert [t.amount_cents for t in debits.items] == [1000]
    assert (len(second.items), second.total) == (1, 3)
    assert everything.balance_cents == 9000


async def test_coupon_endpoints(client: BillingClient) -> None:
    valid = await client.validate_coupon("welcome10")
    redeemed = await client.redeem_coupon("WELCOME10", idempotency_key="c1")
    bonus = await client.redeem_coupon(
        "BONUS20", payment_method_id="pm_x", purchase_amount_cents=5000
    )

    assert (valid.data["valid"], str(valid.data["credit_amount"])) == (True, "10.00")
    assert str(redeemed.data["balance"]) == "85.00"
    assert str(bonus.data["balance"]) == "145.00"
    with pytest.raises(BillingRejected) as caught:
        await client.validate_coupon("WELCOME10")
    assert caught.value.code == "coupon_already_redeemed"


async def test_subscription_endpoints(client: BillingClient) -> None:
    checkout = await client.create_subscription(10, idempotency_key="s1")
    created = await client.create_subscription(1, payment_method_id="pm_x")
    subscription_id = created.data["subscription"]["id"]

    await client.update_subscription(subscription_id, 2, idempotency_key="s2")
    await client.pause_subscription(subscription_id)
    paused = await client.subscription_status(subscription_id)
    await client.resume_subscription(subscription_id)
    await client.reset_subscription_cycle(subscription_id)
    await client.fix_subscription_payment(subscription_id, plan_category="normal")
    charge = await client.set_charge_amount(5000, idempotency_key="s3")

    assert "checkout_url" in checkout.data
    assert (paused.plan_id, paused.status) == (2, "paused")
    assert [s.status for s in await client.subscriptions()] == ["active"]
    assert str(charge.data["amount"]) == "50.00"
    with pytest.raises(BillingRejected) as caught:
        await client.resume_subscription(subscription_id)
    assert caught.value.code == "invalid_state"
    with pytest.raises(BillingNotFound):
        await client.subscription_status(999)


async def test_withdraw_is_for_resellers(
    start_sandbox: StartSandbox, make_client: MakeClient
) -> None:
    client = make_client(start_sandbox().api_url)
    with pytest.raises(BillingAuthError) as caught:
        await client.withdraw(500)
    assert caught.value.code == "reseller_only"


@pytest.mark.parametrize(
    ("purpose", "amount", "plan"),
    [("fund", None, None), ("fund", 2000, 10), ("subscribe", None, None)],
)
async def test_payment_link_arguments_are_checked_before_any_call(
    sandbox: RunningSandbox,
    client: BillingClient,
    purpose: str,
    amount: int | None,
    plan: int | None,
) -> None:
    with pytest.raises(InvalidInput):
        await client.create_payment_link(
            purpose,  # type: ignore[arg-type]
            idempotency_key="x",
            amount_cents=amount,
            plan_id=plan,
        )
    assert sandbox.calls("/billing/payment-link") == []
