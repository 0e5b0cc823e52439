"""The team's rules through the engine: people across platforms, budgets,
deadlines, the low-balance watch and double clicks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bot.chat import Inbound
from bot.deadlines import Deadlines
from bot.states import State
from storage import repo
from storage.db import Database
from storage.migrate import alembic_config, upgrade
from tests.support.chat import RecordingAdapter, pressed
from tests.support.harness import Harness, make_settings
from tests.support.sandbox import RunningSandbox

RULES = """\
[people]
alice = ["slack:UALICE", "telegram:1001"]
bob = ["slack:UBOB", "telegram:1002"]
carol = ["telegram:1003"]
dave = ["slack:UDAVE"]

[approval]
approvers = ["alice", "bob", "carol", "dave"]
required = 2
timeout = "24h"
remind_every = "4h"

[limits]
daily_budget = 100
"""


def start(
    sandbox: RunningSandbox, database_url: str, folder: Path, rules: str = RULES
) -> Harness:
    """A bot under ``rules``, with a Slack and a Telegram chat that record."""
    path = folder / "rules.toml"
    path.write_text(rules, encoding="utf-8")
    settings = make_settings(sandbox, database_url, paybot_policy_file=str(path))
    bot = Harness.start(settings, sandbox)
    for platform in ("slack", "telegram"):
        bot.paybot.add_adapter(RecordingAdapter(platform=platform))
    bot.paybot.outbox.pacing.clear()  # recording chats have no rate limits
    return bot


@pytest.fixture
async def team(
    sandbox: RunningSandbox, database_url: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    bot = start(sandbox, database_url, tmp_path)
    yield bot
    await bot.aclose()


def chat(bot: Harness, platform: str) -> RecordingAdapter:
    adapter = bot.paybot.adapters[platform]
    assert isinstance(adapter, RecordingAdapter)
    return adapter


def on(platform: str, user: str, text: str, name: str = "") -> Inbound:
    """``user`` types ``text`` in the team's Slack channel or Telegram group."""
    return Inbound(
        platform=platform,
        chat_id="CTEAM" if platform == "slack" else "-100",
        user_id=user,
        user_name=name or user,
        dedupe_key=uuid.uuid4().hex,
        text=text,
    )


async def test_a_person_cannot_approve_their_own_request_from_another_account(
    team: Harness,
) -> None:
    await team.send(on("slack", "UALICE", "topup 50 GPU batch", "alice"))
    await team.send(on("telegram", "1001", "approve 1", "alice"))
    [refusal] = chat(team, "telegram").find("You cannot approve or deny your own")
    assert refusal.kind == "ephemeral"
    assert team.request(1).state == State.AWAITING_APPROVAL


async def test_quorum_is_reached_from_two_platforms_one_vote_per_person(
    team: Harness,
) -> None:
    await team.send(on("slack", "UALICE", "topup 50", "alice"))
    await team.send(on("slack", "UBOB", "approve 1", "bob"))
    await team.send(on("telegram", "1002", "approve 1", "bob"))
    assert chat(team, "telegram").find("You already voted on #1.")
    assert team.request(1).state == State.AWAITING_APPROVAL
    assert "1 of 2 (bob)" in chat(team, "slack").last_card().plain()

    await team.send(on("telegram", "1003", "approve 1", "carol"))
    assert team.request(1).state == State.LINK_OPEN
    assert len(team.sandbox.calls("/billing/payment-link")) == 1
    assert "2 of 2 (bob, carol)" in chat(team, "slack").last_card().plain()
    assert chat(team, "slack").find("Payment link for #1")


async def test_a_request_over_budget_is_refused_with_the_amount_left(
    team: Harness,
) -> None:
    await team.send(on("slack", "UALICE", "topup 80"))
    await team.send(on("slack", "UALICE", "topup 30"))
    [refusal] = chat(team, "slack").find("over the team budget")
    assert "$20.00 left today" in refusal.text
    assert team.request_ids() == [1]

    await team.send(on("slack", "UBOB", "deny 1 too much", "bob"))
    await team.send(on("slack", "UALICE", "topup 30"))
    assert team.request(2).state == State.AWAITING_APPROVAL  # denied frees it


async def test_over_budget_can_need_one_extra_approval(
    sandbox: RunningSandbox, sqlite_url: str, tmp_path: Path
) -> None:
    rules = RULES + 'over_budget = "extra_approval"\n'
    bot = start(sandbox, sqlite_url, tmp_path, rules)
    try:
        await bot.send(on("slack", "UALICE", "topup 150"))
        assert bot.request(1).approvals_required == 3
        card = chat(bot, "slack").sent[0].message
        assert ("Budget left", "$100.00 (over budget: one extra approval needed)") in (
            card.fields
        )
        for user, name in (("UBOB", "bob"), ("UDAVE", "dave")):
            await bot.send(on("slack", user, "approve 1", name))
        assert bot.request(1).state == State.AWAITING_APPROVAL
        await bot.send(on("telegram", "1003", "approve 1", "carol"))
        assert bot.request(1).state == State.LINK_OPEN
    finally:
        await bot.aclose()


async def test_the_card_shows_what_an_approver_needs(
    sandbox: RunningSandbox, sqlite_url: str, tmp_path: Path
) -> None:
    bot = start(sandbox, sqlite_url, tmp_path)
    try:
        sandbox.configure(reseller=True)  # withdrawals make debits to count
        await bot.paybot.billing.withdraw(1250)
        await bot.send(on("slack", "UALICE", "topup 40 render farm", "alice"))
        card = chat(bot, "slack").sent[0].message
        assert card.title == "#1 Top-up $40.00"
        fields = dict(card.fields)
        assert fields["Requested by"] == "alice"
        assert fields["Note"] == "render farm"
        assert fields["Wallet balance"] == "$62.50"
        assert fields["Spent in the last 30 days"] == "$12.50"
        assert fields["Budget left"] == "$100.00"
        assert fields["Approvals"] == "0 of 2"
        assert "Decide by" in fields

        await bot.send(on("slack", "UBOB", "approve 1", "bob"))
        assert dict(chat(bot, "slack").last_card().fields)["Approvals"] == (
            "1 of 2 (bob)"
        )
    finally:
        await bot.aclose()


async def test_deny_can_count_instead_of_ending_the_request(
    sandbox: RunningSandbox, sqlite_url: str, tmp_path: Path
) -> None:
    rules = RULES.replace('remind_every = "4h"', 'remind_every = "4h"\ndeny = "counts"')
    bot = start(sandbox, sqlite_url, tmp_path, rules)
    try:
        await bot.send(on("slack", "UALICE", "topup 50"))
        await bot.send(on("slack", "UDAVE", "deny 1 not now", "dave"))
        assert bot.request(1).state == State.AWAITING_APPROVAL
        await bot.send(on("slack", "UBOB", "deny 1", "bob"))
        assert bot.request(1).state == State.DENIED  # carol alone cannot pass it
    finally:
        await bot.aclose()


async def test_policy_command_and_status_show_the_rules(team: Harness) -> None:
    await team.send(on("slack", "UDAVE", "policy"))
    [rules] = chat(team, "slack").find("Rules from")
    assert "needs 2 approvals from different people" in rules.text
    assert "Budget: $100.00 a day" in rules.text

    await team.send(on("slack", "UALICE", "topup 50", "alice"))
    await team.send(on("slack", "UALICE", "status 1", "alice"))
    [status] = chat(team, "slack").find("History:")
    assert f"Rules: {team.request(1).policy_digest}" in status.text
    assert "alice: requested" in status.text


async def test_requests_keep_the_rules_they_were_made_under(
    sandbox: RunningSandbox, sqlite_url: str, tmp_path: Path
) -> None:
    bot = start(sandbox, sqlite_url, tmp_path)
    await bot.send(on("slack", "UALICE", "topup 50"))
    digest = bot.request(1).policy_digest
    await bot.aclose()

    lenient = RULES.replace("required = 2", "required = 1")
    bot = start(sandbox, sqlite_url, tmp_path, lenient)
    try:
        await bot.send(on("slack", "UBOB", "approve 1", "bob"))
        assert bot.request(1).state == State.AWAITING_APPROVAL  # still 2 needed
        assert bot.request(1).policy_digest == digest
        await bot.send(on("slack", "UALICE", "topup 20"))
        assert bot.request(2).approvals_required == 1
        assert bot.request(2).policy_digest != digest
    finally:
        await bot.aclose()


async def test_approvers_are_reminded_then_the_request_expires(
    team: Harness,
) -> None:
    deadlines = Deadlines(team.paybot.db, team.paybot.policy, clock=team.clock)
    await team.send(on("slack", "UALICE", "topup 50", "alice"))
    await team.send(on("slack", "UBOB", "approve 1", "bob"))
    assert await deadlines.tick() == (0, 0)

    team.clock.advance(timedelta(hours=4, minutes=1).total_seconds())
    assert await deadlines.tick() == (0, 1)
    assert await deadlines.tick() == (0, 0)  # once per interval
    await team.paybot.settle()
    [reminder] = chat(team, "slack").find("Reminder: #1")
    assert "Waiting for: carol, dave." in reminder.text

    team.clock.advance(timedelta(hours=20).total_seconds())
    assert await deadlines.tick() == (1, 0)
    await team.paybot.settle()
    assert team.request(1).state == State.EXPIRED
    assert chat(team, "slack").find("#1 expired: nobody decided it in time")
    assert "State: Expired" in chat(team, "slack").last_card().plain()

    await team.send(on("telegram", "1003", "approve 1", "carol"))
    assert chat(team, "telegram").find("#1 is already decided: expired")


async def test_a_vote_after_the_deadline_is_refused_before_the_sweep(
    team: Harness,
) -> None:
    team.paybot.engine.clock = team.clock
    await team.send(on("slack", "UALICE", "topup 50", "alice"))
    team.clock.advance(timedelta(hours=25).total_seconds())
    await team.send(on("slack", "UBOB", "approve 1", "bob"))
    assert chat(team, "slack").find("#1 waited too long and expired")
    assert team.request(1).state == State.AWAITING_APPROVAL
    assert team.sandbox.calls("/billing/payment-link") == []


async def test_a_low_balance_asks_for_a_top_up_once(
    sandbox: RunningSandbox, sqlite_url: str, tmp_path: Path
) -> None:
    rules = RULES + '\n[low_balance]\nbelow = 100\ntopup = 50\nchat = "slack:CLOW"\n'
    bot = start(sandbox, sqlite_url, tmp_path, rules)
    try:
        request_id = await bot.paybot.balance_watch.check()  # balance is $75.00
        await bot.paybot.settle()
        assert request_id == 1
        request = bot.request(1)
        assert (request.amount_cents, request.chat_id) == (5000, "CLOW")
        assert request.state == State.AWAITING_APPROVAL
        [card] = [s for s in chat(bot, "slack").sent if s.message.buttons]
        assert "The wallet balance is down to $75.00." in card.text
        assert await bot.paybot.balance_watch.check() is None

        await bot.send(on("slack", "UBOB", "approve 1", "bob"))
        await bot.send(on("slack", "UDAVE", "approve 1", "dave"))
        assert bot.request(1).state == State.LINK_OPEN
    finally:
        await bot.aclose()


async def test_b03_a_double_click_on_approve_approves_once(bot: Harness) -> None:
    await bot.say("alice", "topup 25")
    ref = bot.request(1).ref
    first = pressed("bob", "approve", ref, key="action-1")
    again = pressed("bob", "approve", ref, key="action-2")
    await asyncio.gather(
        bot.paybot.engine.handle(first), bot.paybot.engine.handle(again)
    )
    await bot.paybot.settle()
    await asyncio.sleep(0.3)
    await bot.press("carol", "approve", 1)

    events = bot.paybot.db.run_read(
        lambda s: [event.action for event in repo.audit_trail(s, 1)]
    )
    assert events.count("approved") == 1
    assert len(bot.sandbox.calls("/billing/payment-link")) == 1
    assert len(bot.chat.find("Payment link for #1")) == 1
    late = [s for s in bot.chat.sent if "already" in s.text]
    assert [s.where.recipient for s in late] == ["bob", "carol"]
    # bob's second click either saw the approval or raced it to his own vote
    assert "approved (by bob)" in late[1].text
    assert bot.chat.last_card().buttons[0].action == "paid"


async def test_twenty_approvers_on_two_platforms_make_one_link(
    sandbox: RunningSandbox, database_url: str, tmp_path: Path
) -> None:
    people = "\n".join(f'p{n} = ["slack:U{n}", "telegram:{n}"]' for n in range(20))
    names = ", ".join(f'"p{n}"' for n in range(20))
    rules = f"[people]\n{people}\n\n[approval]\napprovers = [{names}]\nrequired = 3\n"
    bot = start(sandbox, database_url, tmp_path, rules)
    try:
        await bot.send(on("slack", "UREQ", "topup 20"))
        clicks = [
            on(platform, f"U{n}" if platform == "slack" else str(n), "approve 1")
            for n in range(20)
            for platform in ("slack", "telegram")
        ]
        await asyncio.gather(*(bot.paybot.engine.handle(c) for c in clicks))
        await bot.paybot.settle()
        assert bot.request(1).state == State.LINK_OPEN
        assert len(sandbox.calls("/billing/payment-link")) == 1
        assert len(chat(bot, "slack").find("Payment link for #1")) == 1
        votes = bot.paybot.db.run_read(lambda s: repo.votes_for(s, 1))
        assert len({vote.voter_id for vote in votes}) == len(votes)
    finally:
        await bot.aclose()


def test_requests_made_before_the_rules_upgrade_cleanly(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "0001")
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO payment_request (ref, kind, state, platform, "
                    "chat_id, requester_id, requester_name, note, "
                    "approvals_required, billing_notice_sent, created_at, "
                    "updated_at) VALUES ('old', 'topup', 'awaiting_approval', "
                    "'console', 'team', 'console:alice', 'alice', '', 1, false, "
                    "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        upgrade(database_url)
        old = database.run_read(lambda s: repo.get_request_by_ref(s, "old"))
        assert old is not None
        assert old.deny_ends is True
        assert old.policy_digest is None and old.approval_expires_at is None
    finally:
        database.dispose()
