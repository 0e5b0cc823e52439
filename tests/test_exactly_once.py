"""Whatever arrives twice acts once; nothing is lost across a restart."""

from __future__ import annotations

import asyncio

from bot.billing.client import BillingClient
from bot.billing.transport import Timeouts
from bot.errors import DeliveryError
from bot.states import State
from tests.support.chat import said
from tests.support.harness import Harness, make_settings, no_wait
from tests.support.sandbox import RunningSandbox


async def test_the_same_event_twice_creates_one_request(bot: Harness) -> None:
    await bot.send(said("alice", "topup 20", key="event-1"))
    await bot.send(said("alice", "topup 20", key="event-1"))
    assert bot.request_ids() == [1]
    assert len(bot.chat.sent) == 1


async def test_a_second_identical_request_points_at_the_first(bot: Harness) -> None:
    await bot.say("alice", "topup 20")
    await bot.say("alice", "topup 20")
    assert bot.request_ids() == [1]
    assert bot.chat.find("You already have the same request open: #1.")


async def test_b19_concurrent_confirmations_credit_once(bot: Harness) -> None:
    checkout = await bot.approved_link("topup 20")
    bot.sandbox.pay(checkout.session_id)
    await asyncio.gather(
        bot.paybot.watcher.tick(),
        bot.paybot.engine.handle(said("alice", "paid 1")),
        bot.paybot.engine.handle(said("bob", f"paid {checkout.session_id}")),
    )
    await bot.paybot.settle()
    await bot.poll()
    assert len(bot.chat.find("Wallet funded: $20.00")) == 1
    assert bot.sandbox.state()["balance_cents"] == 9500
    assert bot.chat.find("already")


async def test_b20_a_lost_link_answer_is_retried_with_the_same_key(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    # The sandbox creates the checkout but answers after the client gave up.
    impatient = BillingClient(
        sandbox.api_url,
        "sandbox-token",
        timeouts=Timeouts(mutation=0.2),
        sleep=no_wait,
    )
    bot = Harness.start(make_settings(sandbox, sqlite_url), sandbox, impatient)
    try:
        await bot.say("alice", "topup 20")
        sandbox.configure(slow_seconds=0.5)
        sandbox.faults("slow", "slow", "slow", "slow")
        await bot.say("bob", "approve 1")
        assert bot.request(1).state == State.APPROVED
        assert bot.chat.find("Billing is unavailable right now")

        await bot.paybot.watcher.sweep_links()
        await bot.paybot.settle()
        assert bot.request(1).state == State.LINK_OPEN
        calls = sandbox.calls("/billing/payment-link")
        assert {call["idempotency_key"] for call in calls} == {bot.request(1).link_key}
        assert len(sandbox.state()["sessions"]) == 1
        assert len(bot.chat.find("Payment link for #1")) == 1
    finally:
        await bot.aclose()


async def test_b25_an_expired_link_ends_the_request_and_offers_a_new_one(
    bot: Harness,
) -> None:
    checkout = await bot.approved_link("topup 20")
    bot.sandbox.expire(checkout.session_id)
    await bot.poll()
    assert bot.request(1).state == State.EXPIRED
    assert bot.chat.find("The payment link for #1 expired unpaid")
    card = bot.chat.last_card()
    assert [b.action for b in card.buttons] == ["retry"]
    assert await bot.poll() == 0  # polling stopped

    await bot.press("alice", "retry", 1)
    assert bot.request(2).amount_cents == 2000


async def test_b25_a_cancelled_link_paid_anyway_is_credited_honestly(
    bot: Harness,
) -> None:
    checkout = await bot.approved_link("topup 20")
    await bot.say("alice", "cancel 1")
    assert bot.chat.find("stays payable until it expires")
    bot.sandbox.pay(checkout.session_id)
    await bot.poll()
    [report] = bot.chat.find("Wallet funded: $20.00")
    assert "Request #1 was cancelled, but its link was paid." in report.text
    assert bot.request(1).state == State.PAID


async def test_b31_restart_resumes_watching_and_old_buttons_work(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    settings = make_settings(sandbox, sqlite_url)
    first = Harness.start(settings, sandbox)
    checkout = await first.approved_link("topup 20")
    await first.say("alice", "topup 30")
    ref = first.request(2).ref
    await first.aclose()

    sandbox.pay(checkout.session_id)  # paid while the bot is down
    second = Harness.start(settings, sandbox)
    try:
        await second.poll()
        await second.poll()
        assert len(second.chat.find("Wallet funded: $20.00")) == 1
        await second.press("bob", "approve", 2)
        assert second.request(2).ref == ref
        assert second.request(2).state == State.LINK_OPEN
    finally:
        await second.aclose()


async def test_b26_late_payment_is_still_detected(bot: Harness) -> None:
    checkout = await bot.approved_link("topup 20")
    for _ in range(30):  # many unpaid polls: the watcher never gives up early
        await bot.poll()
    assert bot.request(1).state == State.LINK_OPEN
    bot.sandbox.pay(checkout.session_id)
    await bot.poll()
    assert bot.chat.find("Wallet funded: $20.00")


async def test_b33_a_slow_or_failing_poll_never_expires_a_checkout(
    bot: Harness,
) -> None:
    checkout = await bot.approved_link("topup 20")
    bot.sandbox.faults("503", "html502", "empty", "drop")
    for _ in range(4):
        await bot.poll()
        bot.clock.advance(60)  # past the next outage probe
    assert bot.checkout(1).status == "open"
    assert bot.request(1).state == State.LINK_OPEN
    bot.sandbox.pay(checkout.session_id)
    await bot.poll()
    assert bot.chat.find("Wallet funded: $20.00")


async def test_an_outage_sends_one_probe_at_a_time_then_resumes_all(
    bot: Harness,
) -> None:
    for amount in (20, 30, 40):
        await bot.approved_link(f"topup {amount}")
    bot.sandbox.faults(*["503"] * 100)
    assert await bot.poll() == 3  # the first failure starts the outage
    calls = len(bot.sandbox.calls("/wallet/confirm-checkout"))
    for _ in range(5):
        assert await bot.poll() == 0  # no probe due yet
    bot.clock.advance(60)
    assert await bot.poll() == 1  # one probe, still failing
    assert len(bot.sandbox.calls("/wallet/confirm-checkout")) == calls + 1

    bot.sandbox.clear_faults()
    bot.sandbox.pay(bot.checkout(2).session_id)
    bot.clock.advance(60)
    await bot.poll()  # the probe succeeds: every checkout is due again
    await bot.poll()
    assert bot.chat.find("Wallet funded: $30.00")
    assert bot.paybot.watcher.outage.active is False


async def test_b34_billing_outage_tells_the_chat_once(bot: Harness) -> None:
    bot.sandbox.faults(*["503"] * 40)
    await bot.say("alice", "topup 20")
    await bot.say("bob", "approve 1")
    for _ in range(3):
        bot.paybot.watcher.link_retry_at.clear()
        await bot.paybot.watcher.sweep_links()
    await bot.paybot.settle()
    assert len(bot.chat.find("Billing is unavailable right now")) == 1
    assert bot.request(1).state == State.APPROVED


async def test_a_429_pauses_polling_for_the_wait_it_names(bot: Harness) -> None:
    await bot.approved_link("topup 20")
    bot.sandbox.faults("429")
    await bot.poll()
    assert bot.paybot.watcher.outcomes["rate_limited"] == 1
    assert await bot.poll() == 0  # the budget waits instead of polling again
    assert bot.checkout(1).status == "open"


async def test_replies_still_arrive_when_the_card_was_refused(bot: Harness) -> None:
    bot.chat.refusals.append(DeliveryError("channel_not_found", permanent=True))
    await bot.say("alice", "topup 20")
    await bot.say("bob", "approve 1")
    [link] = bot.chat.find("Payment link for #1")
    assert link.where.thread_ref is None
    assert not [sent for sent in bot.chat.sent if sent.kind == "edit"]


async def test_only_the_requester_or_an_approver_asks_again(bot: Harness) -> None:
    checkout = await bot.approved_link("topup 20")
    bot.sandbox.expire(checkout.session_id)
    await bot.poll()
    await bot.press("mallory", "retry", 1)
    assert bot.chat.find("Only the requester of #1 or an approver can ask again.")
    assert bot.request_ids() == [1]


async def test_a_link_the_payer_cannot_receive_privately_goes_to_the_thread(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    settings = make_settings(sandbox, sqlite_url, paybot_payer="console:finance")
    bot = Harness.start(settings, sandbox)
    try:
        await bot.say("alice", "topup 20")

        async def blocked(where: object, message: object) -> str:
            raise DeliveryError("bot was blocked", permanent=True)

        bot.chat.direct = blocked  # type: ignore[method-assign]
        await bot.say("bob", "approve 1")
        [fallback] = [s for s in bot.chat.find("Payment link for #1")]
        assert fallback.kind == "post"
        assert fallback.where.thread_ref == bot.chat.sent[0].ref
        assert "Could not send this privately to finance: bot was blocked" in (
            fallback.text
        )
    finally:
        await bot.aclose()


async def test_a_card_the_chat_refuses_reaches_the_requester_privately(
    bot: Harness,
) -> None:
    bot.chat.refusals.append(DeliveryError("not_in_channel", permanent=True))
    await bot.say("alice", "topup 20")
    [notice] = bot.chat.sent
    assert notice.kind == "direct" and notice.where.recipient == "alice"
    assert "#1 Top-up $20.00" in notice.text
    assert "could not post this in the chat: not_in_channel" in notice.text


async def test_the_payer_gets_a_link_privately_through_a_start_payload(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    settings = make_settings(sandbox, sqlite_url, paybot_payer="console:finance")
    bot = Harness.start(settings, sandbox)
    try:
        await bot.approved_link("topup 20")
        ref = bot.request(1).ref
        await bot.say("mallory", f"start pay-{ref}")
        assert bot.chat.find("Only the team's payer can get payment links here.")
        await bot.say("finance", f"/start pay-{ref}")
        [link] = [s for s in bot.chat.find("Payment link for #1") if s.kind != "direct"]
        assert link.kind == "ephemeral" and link.where.recipient == "finance"
        assert bot.checkout(1).payment_url in link.text
    finally:
        await bot.aclose()
