"""The token never shows up in logs, exception texts or reprs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from bot.billing.client import BillingClient
from bot.billing.secret import Secret
from bot.errors import BillingAuthError, BillingError
from tests.billing.conftest import mock_transport
from tests.support.sandbox import RunningSandbox

TOKEN = "tok-S3cret-4f9a7c"


async def test_token_stays_out_of_logs_errors_and_reprs(
    start_sandbox: Callable[..., RunningSandbox],
    make_client: Callable[..., BillingClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = start_sandbox(token=TOKEN)
    client = make_client(sandbox.api_url, token=TOKEN)

    await client.wallet_balance()
    link = await client.create_payment_link(
        "fund", idempotency_key="k", amount_cents=2000
    )
    outcome = await client.confirm_checkout("fund", link.session_id)
    with pytest.raises(BillingError) as caught:
        await client.subscription_status(404)

    seen = [
        caplog.text,
        repr(client),
        str(client),
        str(caught.value),
        repr(caught.value),
    ]
    seen += [repr(outcome), repr(link)]
    assert caplog.records, "the client logs its calls"
    assert all(TOKEN not in text for text in seen)
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_echoed_token_is_scrubbed_from_error_text(
    make_client: Callable[..., BillingClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"message": f"Token {TOKEN} is not valid for this account."}
    transport, _ = mock_transport(httpx.Response(401, json=body))
    client = make_client(
        "https://billing.test/api/agents/v1", TOKEN, transport=transport
    )
    with pytest.raises(BillingAuthError) as caught:
        await client.wallet_balance()
    assert TOKEN not in str(caught.value) and "***" in str(caught.value)
    assert TOKEN not in caplog.text


async def test_login_grant_and_password_are_masked(
    sandbox: RunningSandbox, make_client: Callable[..., BillingClient]
) -> None:
    client = make_client(sandbox.api_url, token="")
    grant = await client.login("demo@example.com", "sandbox-password")
    assert grant.access_token.reveal() not in repr(grant)
    assert "sandbox-password" not in str(sandbox.state()["requests"])
    assert repr(Secret("hunter2")) == "Secret('***')"
