"""The shared call budget keeps every checkout watched without a single 429."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.billing.models import RateLimitState
from bot.budget import CallBudget
from bot.payments import Payments
from bot.settings import load_settings
from bot.watcher import CheckoutWatcher
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Checkout
from tests.bench.watcher import TOKEN, Payer, Simulation, _approved_request

WINDOW = 60.0


def test_the_bucket_never_exceeds_a_sliding_minute() -> None:
    now = [0.0]
    budget = CallBudget(12, clock=lambda: now[0], wall_clock=lambda: now[0])
    calls: list[float] = []
    while now[0] < 600:
        if budget.try_take():
            calls.append(now[0])
        now[0] += 0.1
    busiest = max(
        sum(1 for c in calls if start <= c < start + WINDOW) for start in calls
    )
    assert busiest <= 15
    assert len(calls) >= 12 * 10 - 1


def test_the_stated_limit_sets_the_rate_and_zero_left_pauses() -> None:
    now = [1000.0]
    budget = CallBudget(12, clock=lambda: now[0], wall_clock=lambda: now[0])
    budget.observe(
        RateLimitState(remaining=100, reset_at=1060, observed_at=0, limit=120)
    )
    assert budget.rate == pytest.approx(96 / 60)
    budget.observe(RateLimitState(remaining=0, reset_at=1030, observed_at=0, limit=120))
    assert not budget.try_take()
    assert budget.seconds_until_available() == pytest.approx(30, abs=1)
    assert budget.try_take(urgent=True)  # a person's own call still goes out


@pytest.mark.parametrize("open_checkouts", [1, 5, 20])
async def test_many_open_checkouts_get_no_429_and_all_stay_watched(
    open_checkouts: int, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/budget.db"
    upgrade(url)
    payers = [Payer(n, "never", 0.0, None) for n in range(open_checkouts)]
    sim = Simulation(payers)
    db = Database(url)
    settings = load_settings(database_url=url, modelslab_token=TOKEN)
    clock = sim.clock
    budget = CallBudget(12, clock=clock.unix, wall_clock=clock.unix)
    payments = Payments(db, sim.billing, settings, budget)
    payments.clock = clock.utc
    watcher = CheckoutWatcher(
        db, sim.billing, payments, budget, owner="t", clock=clock.utc
    )
    for payer in payers:  # one link every 20 s, all left unpaid
        request_id = db.run_write(lambda s, n=payer.number: _approved_request(s, n))
        await payments.create_link(request_id)
        clock.now += 20
    end = clock.now + 40 * 60
    while clock.now < end:
        await watcher.tick()
        clock.now += 0.5
    polls = [c.polls for c in db.run_read(lambda s: list(s.exec(select(Checkout))))]
    assert sim.billing.call_outcomes.get("429", 0) == 0
    assert min(polls) >= 5  # every checkout is still watched
    assert polls[0] <= polls[-1] or open_checkouts == 1  # older ones less often
    db.dispose()
    await sim.close()
