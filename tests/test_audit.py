"""The audit trail: the joined export, the hash chain and the CLI around them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import text

from bot import audit
from storage.db import Database
from tests.support.harness import Harness, make_settings
from tests.support.sandbox import RunningSandbox
from tests.test_cli import paybot


async def paid_topup(bot: Harness) -> None:
    """alice asks for $50, bob approves, the payer pays, alice says so."""
    checkout = await bot.approved_link("topup 50 GPU batch")
    bot.sandbox.pay(checkout.session_id)
    await bot.say("alice", "paid 1")


async def test_the_export_joins_request_votes_checkout_and_balance(
    bot: Harness,
) -> None:
    await paid_topup(bot)
    await bot.say("alice", "topup 30 later")
    rows = audit.export_rows(bot.paybot.db)
    assert [row["request_id"] for row in rows] == ["1", "2"]
    paid = rows[0]
    assert paid["state"] == "paid"
    assert paid["requester"] == "alice (console:alice)"
    assert paid["amount_usd"] == "50.00"
    assert paid["votes"].startswith("bob approve ")
    assert paid["session_id"] == bot.checkout(1).session_id
    assert paid["checkout_status"] == "paid"
    assert paid["amount_credited_usd"] == "50.00"
    assert paid["balance_after_usd"] == "125.00"
    assert paid["rules"] == bot.request(1).policy_digest
    assert rows[1]["session_id"] == "" and rows[1]["amount_credited_usd"] == ""

    parsed = list(csv.DictReader(io.StringIO(audit.to_csv(rows))))
    assert parsed == rows
    assert json.loads(audit.to_json(rows)) == rows


async def test_an_intact_trail_verifies(bot: Harness) -> None:
    await paid_topup(bot)
    intact, report = audit.verify(bot.paybot.db)
    assert intact, report
    assert "audit trail intact" in report


async def test_an_edited_event_fails_verification(bot: Harness) -> None:
    await paid_topup(bot)
    with bot.paybot.db.write() as session:
        session.execute(
            text("UPDATE audit_event SET detail = 'bob (approved twice)' WHERE id = 2")
        )
    intact, report = audit.verify(bot.paybot.db)
    assert not intact
    assert report.startswith("audit event 2 (")
    assert "was altered" in report


async def test_a_removed_event_fails_verification(bot: Harness) -> None:
    await paid_topup(bot)
    with bot.paybot.db.write() as session:
        session.execute(text("DELETE FROM audit_event WHERE id = 2"))
    intact, report = audit.verify(bot.paybot.db)
    assert not intact
    assert report.startswith("audit event 3 (")
    assert "an earlier event was removed or rewritten" in report


def test_policy_check_explains_a_file_and_names_a_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text(
        '[people]\nbob = ["slack:UBOB", "telegram:2"]\ncarol = "slack:UC"\n\n'
        '[approval]\napprovers = ["bob", "carol"]\nrequired = 2\ntimeout = "2d"\n',
        encoding="utf-8",
    )
    result = paybot("policy", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "Approvers: bob (slack:UBOB, telegram:2), carol (slack:UC)." in (
        result.stdout
    )
    assert "waits 2 days for approval, then expires" in result.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text('[approval]\napprovers = ["bob"]\nrequired = 3\n', encoding="utf-8")
    result = paybot("policy", "check", str(bad))
    assert result.returncode == 1
    assert f"{bad} line 2: approval.approvers: 'bob' is not listed" in result.stderr


def test_run_stops_on_a_bad_policy_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[approval]\nrequired = \n", encoding="utf-8")
    result = paybot(
        "run",
        MODELSLAB_TOKEN="t",
        TELEGRAM_BOT_TOKEN="1:x",
        PAYBOT_POLICY_FILE=str(bad),
        DATABASE_URL=f"sqlite:///{tmp_path}/paybot.db",
    )
    assert result.returncode == 1
    assert f"{bad} line 2: " in result.stderr
    assert "Traceback" not in result.stderr


async def test_audit_commands_export_and_verify(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    # The commands run as separate processes; SQLite is enough to see them.
    bot = Harness.start(make_settings(sandbox, sqlite_url), sandbox)
    await paid_topup(bot)
    await bot.aclose()
    url = sqlite_url
    exported = paybot("audit", "export", "--format", "json", DATABASE_URL=url)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)[0]["balance_after_usd"] == "125.00"
    future = paybot("audit", "export", "--since", "2999-01-01", DATABASE_URL=url)
    assert future.stdout.splitlines() == [",".join(audit.COLUMNS)]

    assert paybot("audit", "verify", DATABASE_URL=url).returncode == 0
    database = Database(url)
    with database.write() as session:
        session.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 1"))
    database.dispose()
    verified = paybot("audit", "verify", DATABASE_URL=url)
    assert verified.returncode == 1
    assert "audit event 1 (" in verified.stdout and "altered" in verified.stdout
