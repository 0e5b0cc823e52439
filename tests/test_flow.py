"""The payment flow through the engine, the sandbox and a recording chat."""

from __future__ import annotations

import asyncio

import pytest

from bot.states import State
from tests.support.chat import said
from tests.support.harness import Harness


async def test_topup_is_requested_approved_paid_and_reported(bot: Harness) -> None:
    await bot.say("alice", "topup 50 GPU batch for Q3")
    card = bot.chat.sent[0]
    assert card.kind == "post"
    assert card.message.title == "#1 Top-up $50.00"
    assert ("Note", "GPU batch for Q3") in card.message.fields
    assert [b.action for b in card.message.buttons] == ["approve", "deny"]

    await bot.say("bob", "approve 1")
    checkout = bot.checkout(1)
    [link] = bot.chat.find("Payment link for #1")
    assert checkout.payment_url in link.text
    assert link.where.thread_ref == card.ref  # a reply in the card's thread
    assert bot.request(1).state == State.LINK_OPEN

    bot.sandbox.pay(checkout.session_id)
    await bot.poll()
    [report] = bot.chat.find("Wallet funded")
    assert "Wallet funded: $50.00. New balance: $125.00" in report.text
    assert report.where.thread_ref == card.ref
    final = bot.chat.last_card()
    assert "State: Paid" in final.plain() and final.buttons == ()
    assert bot.request(1).state == State.PAID


async def test_subscription_is_reported_with_plan_and_status(bot: Harness) -> None:
    await bot.say("alice", "plans")
    assert bot.chat.find("10  Basic Enterprise  $249.00/monthly")

    checkout = await bot.approved_link("subscribe 10 for the team")
    assert checkout.purpose == "subscribe"
    bot.sandbox.pay(checkout.session_id)
    await bot.poll()
    [report] = bot.chat.find("Subscription to Basic Enterprise")
    assert "active" in report.text
    assert bot.sandbox.state()["subscriptions"][0]["status"] == "active"


async def test_subscribe_by_unambiguous_name(bot: Harness) -> None:
    await bot.say("alice", "subscribe premium enterprise")
    assert bot.request(1).plan_name == "Premium Enterprise"


async def test_paid_command_checks_at_once(bot: Harness) -> None:
    checkout = await bot.approved_link()
    await bot.say("alice", "paid 1")
    assert bot.chat.find("#1 is not paid yet")

    bot.sandbox.pay(checkout.session_id)
    await bot.say("bob", "paid 1")  # right after a check: no second call
    assert bot.chat.find("paybot checked #1 moments ago")
    bot.clock.advance(10)
    await bot.say("alice", f"paid {checkout.session_id}")
    assert bot.chat.find("Payment for #1 confirmed")
    assert len(bot.chat.find("Wallet funded")) == 1
    assert len(bot.sandbox.calls("/wallet/confirm-checkout")) == 2


async def test_many_paid_messages_at_once_cost_a_few_calls(bot: Harness) -> None:
    await bot.approved_link()
    bot.paybot.budget.capacity = bot.paybot.budget.tokens = 3.0
    await asyncio.gather(
        *(bot.paybot.engine.handle(said("dave", "paid 1")) for _ in range(20))
    )
    await bot.paybot.settle()
    assert len(bot.sandbox.calls("/wallet/confirm-checkout")) <= 6
    assert bot.chat.find("paybot checks #1 first thing") or bot.chat.find("moments ago")


async def test_button_presses_work_like_commands(bot: Harness) -> None:
    await bot.say("alice", "topup 20")
    await bot.press("bob", "approve", 1)
    assert bot.request(1).state == State.LINK_OPEN
    await bot.press("alice", "cancel", 1)
    assert bot.request(1).state == State.CANCELLED


async def test_deny_ends_the_request(bot: Harness) -> None:
    await bot.say("alice", "topup 20")
    await bot.say("carol", "deny 1 not this quarter")
    assert bot.request(1).state == State.DENIED
    assert bot.chat.find("denied by carol. Reason: not this quarter")
    await bot.say("bob", "approve 1")
    assert bot.chat.find("#1 is already decided: denied (by carol)")


async def test_requester_cannot_approve_own_request(bot: Harness) -> None:
    await bot.say("bob", "topup 20")
    await bot.say("bob", "approve 1")
    assert bot.chat.find("You cannot approve or deny your own request.")
    assert bot.request(1).state == State.AWAITING_APPROVAL


async def test_only_approvers_vote(bot: Harness) -> None:
    await bot.say("alice", "topup 20")
    await bot.say("dave", "approve 1")
    [refusal] = bot.chat.find("Only approvers can vote on #1")
    assert refusal.kind == "ephemeral" and refusal.where.recipient == "dave"


async def test_two_approvals_when_required(sandbox, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from tests.support.harness import make_settings

    bot = Harness.start(
        make_settings(sandbox, sqlite_url, paybot_approvals_required=2), sandbox
    )
    try:
        await bot.say("alice", "topup 20")
        await bot.say("bob", "approve 1")
        assert bot.request(1).state == State.AWAITING_APPROVAL
        assert "1 of 2 (bob)" in bot.chat.last_card().plain()
        await bot.say("bob", "approve 1")
        assert bot.chat.find("You already voted on #1.")
        await bot.say("carol", "approve 1")
        assert bot.request(1).state == State.LINK_OPEN
    finally:
        await bot.aclose()


async def test_small_topups_are_auto_approved(sandbox, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from tests.support.harness import make_settings

    bot = Harness.start(
        make_settings(sandbox, sqlite_url, paybot_auto_approve_max="25"), sandbox
    )
    try:
        await bot.say("alice", "topup 20")
        assert bot.request(1).state == State.LINK_OPEN
        await bot.say("alice", "topup 30")
        assert bot.request(2).state == State.AWAITING_APPROVAL
    finally:
        await bot.aclose()


async def test_cancel_by_a_stranger_is_refused(bot: Harness) -> None:
    await bot.say("alice", "topup 20")
    await bot.say("dave", "cancel 1")
    assert bot.chat.find("Only the requester or an approver can cancel #1.")
    assert bot.request(1).state == State.AWAITING_APPROVAL


async def test_requests_status_balance_and_help(bot: Harness) -> None:
    await bot.say("alice", "topup 20 first")
    await bot.say("alice", "topup 30 second")
    await bot.say("alice", "requests")
    assert bot.chat.find("#2 Top-up $30.00 by alice: waiting for approval")
    await bot.say("alice", "status 1")
    [status] = bot.chat.find("History:")
    assert "alice: requested" in status.text
    await bot.say("alice", "balance")
    assert bot.chat.find("Wallet balance: $75.00.")
    await bot.say("alice", "help")
    assert bot.chat.find("topup")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("frobnicate", "Unknown command"),
        ("topup 0", "topup"),
        ("topup -5", "topup"),
        ("topup 10.005", "two decimals"),
        ("topup 1e3", "topup"),
        ("topup 1,000", "topup"),
        ("topup NaN", "topup"),
        ("topup 50 EUR", "topup"),
        ("topup " + "9" * 5000, "topup"),
        ("topup 5", "The smallest top-up is $10.00"),
        ("topup 5000", "The largest top-up is $1,000.00"),
        ("subscribe 999", "There is no plan"),
        ("approve 42", "There is no request #42"),
        ("paid cs_test_somebody_elses", "paybot has no payment link for that checkout"),
        ("status 7", "There is no request #7"),
    ],
)
async def test_bad_input_gets_an_answer_and_changes_nothing(
    bot: Harness, text: str, answer: str
) -> None:
    await bot.say("alice", text)
    [reply] = bot.chat.sent
    assert reply.kind == "ephemeral"
    assert answer in reply.text
    assert bot.request_ids() == []
    assert bot.sandbox.calls("/billing/payment-link") == []
