"""A ten-minute billing outage, on virtual time: few calls, nothing failed,
polling back within one interval of the API's return."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bot.budget import CallBudget
from bot.payments import Payments
from bot.settings import load_settings
from bot.states import State
from bot.watcher import CheckoutWatcher
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Checkout, PaymentRequest
from tests.bench.watcher import TOKEN, Payer, Simulation, _approved_request

OPEN = 5


async def test_a_ten_minute_outage_costs_few_calls_and_loses_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/outage.db"
    upgrade(url)
    sim = Simulation([Payer(n, "late", 0.0, None) for n in range(OPEN)])
    clock, db = sim.clock, Database(url)
    settings = load_settings(database_url=url, modelslab_token=TOKEN)
    budget = CallBudget(12, clock=clock.unix, wall_clock=clock.unix)
    payments = Payments(db, sim.billing, settings, budget)
    payments.clock = clock.utc
    watcher = CheckoutWatcher(
        db, sim.billing, payments, budget, owner="t", clock=clock.utc
    )
    for number in range(OPEN):
        request_id = db.run_write(lambda s, n=number: _approved_request(s, n))
        await payments.create_link(request_id)

    async def run_for(seconds: float) -> None:
        end = clock.now + seconds
        while clock.now < end:
            await watcher.tick()
            clock.now += 0.5

    await run_for(60)
    await sim.control.post(
        "/_sandbox/config", json={"fault_rate": 1, "fault_kinds": ["503"]}
    )
    calls_before = sim.billing.call_outcomes.total()
    await run_for(600)
    outage_calls = sim.billing.call_outcomes.total() - calls_before
    assert outage_calls <= 20 * OPEN  # in all: one probe at a time
    assert outage_calls <= 30

    await sim.control.post("/_sandbox/config", json={"fault_rate": 0})
    session_id = db.run_read(lambda s: s.exec(select(Checkout)).first()).session_id  # type: ignore[union-attr]
    await sim.control.post(f"/_sandbox/sessions/{session_id}/pay")
    paid_at = clock.now
    await run_for(60)
    checkouts = db.run_read(lambda s: list(s.exec(select(Checkout))))
    paid = [c for c in checkouts if c.status == "paid"]
    assert len(paid) == 1 and paid[0].settled_at is not None
    # Back within one interval of the 30 s probe ceiling plus one poll.
    assert paid[0].settled_at.timestamp() - paid_at <= 30 + 6
    states = db.run_read(lambda s: {r.state for r in s.exec(select(PaymentRequest))})
    assert State.FAILED not in states and State.EXPIRED not in states
    db.dispose()
    await sim.close()
