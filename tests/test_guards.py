"""Card numbers, allowed chats, secrets in logs, health and metrics."""

from __future__ import annotations

import logging

import httpx
import pytest

from bot.http import create_http_app
from bot.logs import Redactor
from tests.support.chat import said
from tests.support.harness import Harness, make_settings
from tests.support.sandbox import RunningSandbox

CARD = "4242 4242 4242 4242"


async def test_a_card_number_is_refused_masked_and_deleted(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    inbound = said("alice", f"topup 50 my card is {CARD}")
    inbound = type(inbound)(**{**inbound.__dict__, "message_ref": "m77"})
    with caplog.at_level(logging.DEBUG):
        await bot.send(inbound)
    [warning, deletion] = bot.chat.sent
    assert warning.kind == "ephemeral"
    assert "never post card numbers" in warning.text
    assert deletion.kind == "delete" and deletion.text == "m77"
    assert bot.request_ids() == []
    assert "4242 42** **** 4242" in caplog.text
    assert CARD not in caplog.text


async def test_only_allowed_chats_are_served(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    settings = make_settings(sandbox, sqlite_url, paybot_allowed_chats="console:ops")
    bot = Harness.start(settings, sandbox)
    try:
        await bot.send(said("alice", "topup 20", chat="team"))
        assert bot.chat.find("paybot is not enabled in this chat.")
        assert bot.request_ids() == []
        await bot.send(said("alice", "topup 20", chat="ops"))
        assert bot.request_ids() == [1]
    finally:
        await bot.aclose()


def test_the_redactor_scrubs_secrets_tokens_and_cards() -> None:
    redactor = Redactor(["xoxb-very-secret"])
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "GET /bot123456789:AAH-abcdefghijklmnopqrstuvwxyz012345/getMe %s %s",
        ("xoxb-very-secret", CARD),
        None,
    )
    redactor.filter(record)
    text = record.getMessage()
    assert "xoxb-very-secret" not in text
    assert "AAH-abcdefghijklmnopqrstuvwxyz012345" not in text
    assert CARD not in text


async def test_health_and_metrics(bot: Harness) -> None:
    await bot.approved_link("topup 20")
    app = create_http_app(bot.paybot)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paybot") as http:
        health = await http.get("/healthz")
        metrics = await http.get("/metrics")
    assert health.status_code == 200
    assert health.json() == {"database": "ok", "billing": "ok"}
    assert 'paybot_requests{state="link_open"} 1' in metrics.text
    assert "paybot_open_checkouts 1" in metrics.text
    assert 'paybot_billing_calls_total{outcome="ok"}' in metrics.text
    assert "paybot_rate_limited_total 0" in metrics.text
    assert "paybot_outbox_backlog 0" in metrics.text


async def test_health_reports_a_billing_outage(bot: Harness) -> None:
    bot.sandbox.faults(*["503"] * 8)
    app = create_http_app(bot.paybot)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paybot") as http:
        health = await http.get("/healthz")
    assert health.status_code == 503
    assert health.json()["billing"] == "down"


async def test_an_oversized_body_is_refused_before_it_is_read(bot: Harness) -> None:
    app = create_http_app(bot.paybot)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paybot") as http:
        answer = await http.post("/slack/events", content=b"x" * (2 * 1024 * 1024))
        small = await http.get("/healthz")
    assert answer.status_code == 413
    assert small.status_code == 200


async def test_status_of_another_chats_request_is_for_approvers_only(
    bot: Harness,
) -> None:
    await bot.say("alice", "topup 20 for the ops team")
    await bot.send(said("mallory", "status 1", chat="elsewhere"))
    assert bot.chat.find("There is no request #1 in this chat.")
    assert not bot.chat.find("History:")
    await bot.send(said("bob", "status 1", chat="elsewhere"))
    assert bot.chat.find("History:")
