"""Each fault the simulator injects, met by the client over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.billing.client import BillingClient
from bot.billing.transport import Timeouts
from bot.errors import BillingRateLimited, BillingUnavailable
from tests.billing.conftest import SleepRecorder
from tests.support.sandbox import RunningSandbox

StartSandbox = Callable[..., RunningSandbox]
MakeClient = Callable[..., BillingClient]

# What one confirm-checkout poll reports when the fault hits it.
CONFIRM_DURING_FAULT = {
    "500": "transient",
    "503": "transient",
    "429": "rate_limited",
    "slow": "transient",
    "html502": "transient",
    "empty": "transient",
    # The client asks once more at once, and the second answer is real.
    "drop": "pending",
}


@pytest.mark.parametrize("kind", list(CONFIRM_DURING_FAULT))
async def test_each_fault_kind(
    start_sandbox: StartSandbox, make_client: MakeClient, kind: str
) -> None:
    sandbox = start_sandbox(slow_seconds=0.3)
    sleep = SleepRecorder()
    client = make_client(sandbox.api_url, sleep=sleep, timeouts=Timeouts(read=0.1))
    link = await client.create_payment_link(
        "fund", idempotency_key="f1", amount_cents=2000
    )

    sandbox.faults(kind)
    balance = await client.wallet_balance()
    sandbox.faults(kind)
    outcome = await client.confirm_checkout("fund", link.session_id)

    assert balance.balance_cents == 7500
    assert len(sandbox.calls("/wallet/balance")) == 2
    assert len(sleep.waits) == 1
    assert outcome.status == CONFIRM_DURING_FAULT[kind]
    if kind == "429":
        assert sleep.waits[0] >= 1 and outcome.retry_after == 1


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("503", BillingUnavailable),
        ("429", BillingRateLimited),
        ("drop", BillingUnavailable),
    ],
)
async def test_mutation_without_key_is_not_retried_through_a_fault(
    sandbox: RunningSandbox, make_client: MakeClient, kind: str, error: type[Exception]
) -> None:
    client = make_client(sandbox.api_url)
    sandbox.faults(kind)
    with pytest.raises(error):
        await client.fund_wallet(2000)
    assert len(sandbox.calls("/wallet/fund")) == 1


async def test_keyed_mutation_survives_faults_with_one_session(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client(sandbox.api_url)
    sandbox.faults("503", "drop", "html502")
    link = await client.create_payment_link(
        "fund", idempotency_key="f2", amount_cents=2000
    )
    assert len(sandbox.calls("/billing/payment-link")) == 4
    assert [s["id"] for s in sandbox.state()["sessions"]] == [link.session_id]


async def test_random_fault_mode_is_absorbed_by_read_retries(
    start_sandbox: StartSandbox, make_client: MakeClient
) -> None:
    sandbox = start_sandbox(
        fault_rate="0.4",
        fault_seed=7,
        fault_kinds="500,503,html502,empty,drop",
        rate_limits=False,
    )
    client = make_client(sandbox.api_url, max_attempts=12)
    balances = [(await client.wallet_balance()).balance_cents for _ in range(10)]
    assert balances == [7500] * 10
    assert len(sandbox.calls("/wallet/balance")) > 10


async def test_fault_mode_can_be_switched_at_run_time(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client(sandbox.api_url, max_attempts=1)
    sandbox.control(
        "POST", "/_sandbox/config", {"fault_rate": 1, "fault_kinds": ["503"]}
    )
    with pytest.raises(BillingUnavailable):
        await client.wallet_balance()
    sandbox.control("POST", "/_sandbox/config", {"fault_rate": 0})
    assert (await client.wallet_balance()).balance_cents == 7500
