"""Concurrent writers on one database: no lock errors, no lost updates."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.states import State
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import utcnow
from tests.support.chat import said
from tests.support.harness import Harness, make_settings
from tests.support.rows import add_checkout, add_topup
from tests.support.sandbox import RunningSandbox


def _insert_checkout(database: Database, number: int) -> None:
    def work(session: repo.Session) -> None:
        request = add_topup(session, number, State.APPROVED)
        expires = utcnow() + timedelta(hours=1)
        add_checkout(session, request, f"cs_test_{number}", expires)

    database.run_write(work)


def _poll_tick(database: Database, owner: str) -> None:
    def work(session: repo.Session) -> None:
        for checkout in repo.claim_due_checkouts(
            session, utcnow(), owner, timedelta(seconds=1), 5
        ):
            checkout.polls += 1
            checkout.next_poll_at = utcnow()
            checkout.lease_until = None
            session.add(checkout)

    database.run_write(work)


async def test_b28_twenty_concurrent_writers_never_see_a_locked_database(
    database_url: str,
) -> None:
    upgrade(database_url)
    # One engine per writer, as separate processes would have.
    databases = [Database(database_url) for _ in range(20)]
    try:
        jobs = [
            asyncio.to_thread(_insert_checkout, databases[n], n) for n in range(10)
        ] + [
            asyncio.to_thread(_poll_tick, databases[10 + n], f"worker{n}")
            for n in range(10)
        ]
        await asyncio.gather(*jobs)
        count = databases[0].run_read(repo.count_open_checkouts)
        assert count == 10
    finally:
        for database in databases:
            database.dispose()


async def test_b29_two_workers_confirming_two_payments_lose_nothing(
    sandbox: RunningSandbox, database_url: str
) -> None:
    settings = make_settings(sandbox, database_url)
    first = Harness.start(settings, sandbox)
    second = Harness.start(settings, sandbox)
    try:
        one = await first.approved_link("topup 20")
        two = await first.approved_link("topup 30")
        sandbox.pay(one.session_id)
        sandbox.pay(two.session_id)
        await asyncio.gather(first.poll(), second.poll())
        await asyncio.gather(first.poll(), second.poll())
        reports = first.chat.find("Wallet funded") + second.chat.find("Wallet funded")
        assert sorted(r.text[:21] for r in reports) == [
            "Wallet funded: $20.00",
            "Wallet funded: $30.00",
        ]
        assert sandbox.state()["balance_cents"] == 7500 + 2000 + 3000
        assert {first.request(1).state, first.request(2).state} == {State.PAID}
    finally:
        await first.aclose()
        await second.aclose()


async def test_twenty_approvers_at_once_make_one_payment_link(
    sandbox: RunningSandbox, database_url: str
) -> None:
    approvers = ",".join(f"console:approver{n}" for n in range(20))
    settings = make_settings(sandbox, database_url, paybot_approvers=approvers)
    bot = Harness.start(settings, sandbox)
    try:
        await bot.say("alice", "topup 20")
        await asyncio.gather(
            *(
                bot.paybot.engine.handle(said(f"approver{n}", "approve 1"))
                for n in range(20)
            )
        )
        await bot.paybot.settle()
        assert bot.request(1).state == State.LINK_OPEN
        assert len(sandbox.calls("/billing/payment-link")) == 1
        assert len(bot.chat.find("Payment link for #1")) == 1
    finally:
        await bot.aclose()
