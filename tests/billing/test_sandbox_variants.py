"""The client against the simulator over HTTP, in every undocumented variant."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.billing.client import BillingClient
from bot.billing.transport import Timeouts
from bot.errors import BillingAuthError, BillingRejected
from tests.support.sandbox import RunningSandbox

StartSandbox = Callable[..., RunningSandbox]
MakeClient = Callable[..., BillingClient]


@pytest.mark.parametrize("replay_flag", ["top", "data", "meta"])
@pytest.mark.parametrize("link_body", ["wrapped", "bare"])
async def test_payment_link_in_each_body_shape_and_replay_placement(
    start_sandbox: StartSandbox,
    make_client: MakeClient,
    link_body: str,
    replay_flag: str,
) -> None:
    sandbox = start_sandbox(link_body=link_body, replay_flag=replay_flag)
    client = make_client(sandbox.api_url)

    link = await client.create_payment_link(
        "fund", idempotency_key="r1", amount_cents=5000
    )
    again = await client.create_payment_link(
        "fund", idempotency_key="r1", amount_cents=5000
    )

    assert link.payment_url == f"{sandbox.root}/checkout/{link.session_id}"
    assert link.session_id.startswith("cs_test_")
    assert (link.purpose, link.amount_cents, link.replayed) == ("fund", 5000, False)
    assert link.expires_at - datetime.now(UTC) > timedelta(hours=23)
    assert (again.session_id, again.replayed) == (link.session_id, True)
    assert len(sandbox.state()["sessions"]) == 1


async def test_same_key_with_another_body_is_refused(client: BillingClient) -> None:
    await client.create_payment_link("fund", idempotency_key="r1", amount_cents=5000)
    with pytest.raises(BillingRejected) as caught:
        await client.create_payment_link(
            "fund", idempotency_key="r1", amount_cents=6000
        )
    assert (caught.value.status, caught.value.code) == (422, "idempotency_key_reused")


@pytest.mark.parametrize("unauthorized_body", ["laravel", "envelope"])
async def test_wrong_token_in_each_401_shape(
    start_sandbox: StartSandbox, make_client: MakeClient, unauthorized_body: str
) -> None:
    sandbox = start_sandbox(unauthorized_body=unauthorized_body)
    client = make_client(sandbox.api_url, token="not-the-token")

    with pytest.raises(BillingAuthError) as caught:
        await client.wallet_balance()
    outcome = await client.confirm_checkout("fund", "cs_test_x")

    assert caught.value.status == 401
    assert "Unauthenticated." in str(caught.value)
    assert outcome.status == "auth_failed"


@pytest.mark.parametrize("confirm_unpaid", ["409", "402", "400", "200"])
@pytest.mark.parametrize("link_body", ["wrapped", "bare"])
async def test_fund_flow_in_each_unpaid_variant(
    start_sandbox: StartSandbox,
    make_client: MakeClient,
    confirm_unpaid: str,
    link_body: str,
) -> None:
    sandbox = start_sandbox(confirm_unpaid=confirm_unpaid, link_body=link_body)
    client = make_client(sandbox.api_url)
    link = await client.create_payment_link(
        "fund", idempotency_key="r2", amount_cents=2000
    )

    unpaid = await client.confirm_checkout(
        "fund", link.session_id, expires_at=link.expires_at
    )
    sandbox.pay(link.session_id)
    paid = await client.confirm_checkout(
        "fund", link.session_id, expires_at=link.expires_at
    )

    assert unpaid.status == "pending"
    assert (paid.status, paid.balance_cents, paid.amount_cents) == ("paid", 9500, 2000)


@pytest.mark.parametrize("confirm_unpaid", ["409", "402", "400", "200"])
async def test_subscribe_flow_in_each_unpaid_variant(
    start_sandbox: StartSandbox, make_client: MakeClient, confirm_unpaid: str
) -> None:
    sandbox = start_sandbox(confirm_unpaid=confirm_unpaid)
    client = make_client(sandbox.api_url)
    link = await client.create_payment_link(
        "subscribe", idempotency_key="r3", plan_id=10
    )

    unpaid = await client.confirm_checkout("subscribe", link.session_id)
    sandbox.pay(link.session_id)
    paid = await client.confirm_checkout("subscribe", link.session_id)
    subscriptions = await client.subscriptions()

    assert (link.plan_id, link.amount_cents) == (10, 24900)
    assert unpaid.status == "pending"
    assert paid.status == "paid"
    assert (paid.plan_id, paid.plan_name, paid.subscription_status) == (
        10,
        "Basic Enterprise",
        "active",
    )
    assert [(s.plan_id, s.status) for s in subscriptions] == [(10, "active")]


async def test_plan_with_a_trial_starts_trialing(
    sandbox: RunningSandbox, client: BillingClient
) -> None:
    link = await client.create_payment_link(
        "subscribe", idempotency_key="r4", plan_id=5
    )
    sandbox.pay(link.session_id)
    outcome = await client.confirm_checkout("subscribe", link.session_id)
    assert (outcome.status, outcome.subscription_status) == ("paid", "trialing")


@pytest.mark.parametrize("confirm_expired", ["410", "422", "400"])
@pytest.mark.parametrize("link_body", ["wrapped", "bare"])
async def test_b25_expired_session_is_classified_expired(
    start_sandbox: StartSandbox,
    make_client: MakeClient,
    confirm_expired: str,
    link_body: str,
) -> None:
    sandbox = start_sandbox(confirm_expired=confirm_expired, link_body=link_body)
    client = make_client(sandbox.api_url)
    link = await client.create_payment_link(
        "fund", idempotency_key="r5", amount_cents=2000
    )

    sandbox.expire(link.session_id)
    expired_at = datetime.now(UTC) - timedelta(seconds=1)
    outcome = await client.confirm_checkout(
        "fund", link.session_id, expires_at=expired_at
    )

    assert outcome.status == "expired"
    assert sandbox.state()["balance_cents"] == 7500


async def test_b25_session_expiring_on_its_own_is_expired(
    start_sandbox: StartSandbox, make_client: MakeClient
) -> None:
    # The vaguest variant: only the link's own expires_at tells the two apart.
    sandbox = start_sandbox(confirm_expired="400", checkout_ttl_seconds=1)
    client = make_client(sandbox.api_url)
    link = await client.create_payment_link(
        "fund", idempotency_key="r6", amount_cents=2000
    )
    await asyncio.sleep(1.05)
    outcome = await client.confirm_checkout(
        "fund", link.session_id, expires_at=link.expires_at
    )
    assert outcome.status == "expired"


async def test_paid_session_stays_paid_after_its_expiry(
    sandbox: RunningSandbox, client: BillingClient
) -> None:
    link = await client.create_payment_link(
        "fund", idempotency_key="r7", amount_cents=2000
    )
    sandbox.pay(link.session_id)
    sandbox.expire(link.session_id)
    outcome = await client.confirm_checkout("fund", link.session_id)
    assert (outcome.status, outcome.balance_cents) == ("paid", 9500)


@pytest.mark.parametrize(("minimum", "cents"), [("10", 1000), ("15", 1500)])
async def test_minimum_topup_in_each_variant(
    start_sandbox: StartSandbox, make_client: MakeClient, minimum: str, cents: int
) -> None:
    sandbox = start_sandbox(minimum_topup_usd=minimum)
    client = make_client(sandbox.api_url)

    catalog = await client.list_plans()
    with pytest.raises(BillingRejected) as caught:
        await client.create_payment_link(
            "fund", idempotency_key="low", amount_cents=cents - 1
        )
    link = await client.create_payment_link(
        "fund", idempotency_key="ok", amount_cents=cents
    )

    assert catalog.minimum_topup_cents == cents
    assert (caught.value.status, caught.value.code) == (422, "validation_error")
    assert "amount" in caught.value.details
    assert link.amount_cents == cents


async def test_plans_catalog(client: BillingClient) -> None:
    catalog = await client.list_plans()
    enterprise = catalog.by_id(10)
    assert enterprise is not None
    assert (enterprise.name, enterprise.price_cents, enterprise.period) == (
        "Basic Enterprise",
        24900,
        "monthly",
    )
    assert min(plan.price_cents for plan in catalog.plans) < 24900


async def test_b19_repeat_confirm_does_not_double_credit(
    start_sandbox: StartSandbox, make_client: MakeClient
) -> None:
    sandbox = start_sandbox(opening_balance_cents=5000)
    poller, nudger = make_client(sandbox.api_url), make_client(sandbox.api_url)
    link = await poller.create_payment_link(
        "fund", idempotency_key="r8", amount_cents=2000
    )
    sandbox.pay(link.session_id)

    together = await asyncio.gather(
        poller.confirm_checkout("fund", link.session_id),
        nudger.confirm_checkout("fund", link.session_id),
    )
    later = await poller.confirm_checkout("fund", link.session_id)
    page = await poller.wallet_transactions(type="credit")

    assert [o.status for o in (*together, later)] == ["paid"] * 3
    assert {o.balance_cents for o in (*together, later)} == {7000}
    assert (await poller.wallet_balance()).balance_cents == 7000
    assert [t.usecase for t in page.items].count("wallet_funding") == 1


async def test_session_of_the_other_purpose_is_not_confirmed(
    sandbox: RunningSandbox, client: BillingClient
) -> None:
    link = await client.create_payment_link(
        "fund", idempotency_key="r9", amount_cents=2000
    )
    sandbox.pay(link.session_id)
    outcome = await client.confirm_checkout(
        "subscribe", link.session_id, expires_at=link.expires_at
    )
    assert outcome.status == "pending"
    assert outcome.detail == "HTTP 400 checkout_purpose_mismatch"
    assert sandbox.state()["balance_cents"] == 7500


async def test_unknown_session(client: BillingClient) -> None:
    outcome = await client.confirm_checkout("fund", "cs_test_nope")
    assert outcome.status == "unknown_session"


async def test_declined_session_is_declined_until_paid(
    sandbox: RunningSandbox, client: BillingClient
) -> None:
    link = await client.create_payment_link(
        "fund", idempotency_key="r10", amount_cents=2000
    )
    sandbox.decline(link.session_id)
    declined = await client.confirm_checkout("fund", link.session_id)
    sandbox.pay(link.session_id)
    paid = await client.confirm_checkout("fund", link.session_id)
    assert (declined.status, paid.status) == ("declined", "paid")


async def test_billing_bucket_runs_out_at_15_a_minute(
    start_sandbox: StartSandbox, make_client: MakeClient
) -> None:
    sandbox = start_sandbox(rate_limits=True)
    client = make_client(sandbox.api_url)
    outcomes = [await client.confirm_checkout("fund", "cs_test_x") for _ in range(16)]
    assert [o.status for o in outcomes[:15]] == ["unknown_session"] * 15
    assert outcomes[15].status == "rate_limited"
    assert outcomes[15].retry_after is not None and outcomes[15].retry_after > 0
    assert client.rate_limit.remaining == 0


@pytest.mark.parametrize("reset_format", ["epoch", "delta"])
async def test_rate_limit_reset_in_either_format_is_a_unix_time(
    start_sandbox: StartSandbox, make_client: MakeClient, reset_format: str
) -> None:
    sandbox = start_sandbox(rate_limit_reset=reset_format)
    client = make_client(sandbox.api_url)
    await client.wallet_balance()
    state = client.rate_limit
    assert state.remaining == 119
    assert state.reset_at is not None
    assert 55 <= state.reset_at - state.observed_at <= 62


async def test_b33_slow_create_is_answered_within_its_timeout(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    sandbox.control("POST", "/_sandbox/config", {"slow_seconds": 0.3})
    sandbox.faults("slow")
    client = make_client(sandbox.api_url, timeouts=Timeouts(mutation=2.0, read=0.1))
    link = await client.create_payment_link(
        "fund", idempotency_key="r11", amount_cents=2000
    )
    assert link.replayed is False
    assert len(sandbox.calls("/billing/payment-link")) == 1


async def test_b20_create_retried_after_a_client_timeout_makes_one_session(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    sandbox.control("POST", "/_sandbox/config", {"slow_seconds": 0.4})
    sandbox.faults("slow")
    client = make_client(sandbox.api_url, timeouts=Timeouts(mutation=0.15))

    link = await client.create_payment_link(
        "fund", idempotency_key="R0006", amount_cents=2000
    )

    calls = sandbox.calls("/billing/payment-link")
    assert [call["idempotency_key"] for call in calls] == ["R0006", "R0006"]
    assert link.replayed is True
    assert [s["id"] for s in sandbox.state()["sessions"]] == [link.session_id]


async def test_b33_poll_timeout_is_transient_never_expired(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    sandbox.control("POST", "/_sandbox/config", {"slow_seconds": 0.3})
    client = make_client(sandbox.api_url, timeouts=Timeouts(read=0.1))
    link = await client.create_payment_link(
        "fund", idempotency_key="r12", amount_cents=2000
    )
    sandbox.faults("slow")
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    outcome = await client.confirm_checkout(
        "fund", link.session_id, expires_at=long_ago
    )
    assert (outcome.status, outcome.detail) == ("transient", "timeout")
