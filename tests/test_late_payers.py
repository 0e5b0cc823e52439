"""Late payers are found: polling lasts until the link expires, plus grace."""

from __future__ import annotations

from tests.bench.watcher import START, Payer, run_paybot


async def test_payments_after_6_min_29_min_and_23_h_are_detected(
    tmp_path: object,
) -> None:
    payers = [
        Payer(0, "late", START, 6 * 60),
        Payer(1, "late", START + 60, 29 * 60),
        Payer(2, "hours", START + 120, 23 * 3600),
        Payer(3, "never", START + 180, None),
    ]
    figures = await run_paybot(payers, f"sqlite:///{tmp_path}/late.db", "billing")
    assert figures["payments detected"] == "3 of 3"
    assert figures["429 answers"] == "0"
    for payer in payers[:3]:
        assert payer.detected_at is not None and payer.paid_at is not None
        # The watcher thins out with age: ten minutes at most after two hours.
        assert payer.detected_at - payer.paid_at <= 600 + 5
    assert payers[3].detected_at is None
