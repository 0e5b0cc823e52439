"""The ``paybot`` program as a newcomer runs it: demo, settings errors, db."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def paybot(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    # A clean environment and a scratch working directory: no .env leaks in.
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("PAYBOT_", "MODELSLAB_", "SLACK_", "TELEGRAM_", "DATABASE_URL")
        )
    }
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
        cwd=ROOT / "tests",
        check=False,
    )


def test_demo_auto_plays_the_whole_flow() -> None:
    result = paybot("demo", "--auto")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Wallet funded: $50.00. New balance: $125.00" in out
    assert "Your card was declined" in out
    assert "Subscription to Basic Enterprise: active" in out
    assert "Traceback" not in result.stderr


def test_demo_reads_a_piped_script() -> None:
    script = "topup 25 test\n/as bob\napprove 1\n/pay 1\n/wait Wallet funded\n"
    result = paybot("demo", stdin=script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Wallet funded: $25.00. New balance: $100.00" in result.stdout


def test_demo_script_fails_when_a_wait_times_out() -> None:
    result = paybot("demo", stdin="topup 25\n/wait 1 Wallet funded\n")
    assert result.returncode == 1
    assert "gave up waiting for 'Wallet funded'" in result.stdout


def test_run_without_a_token_names_the_variable() -> None:
    result = paybot("run")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "MODELSLAB_TOKEN" in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYBOT_TOPUP_MAX", "lots"),
        ("PAYBOT_APPROVERS", "bob"),
        ("PAYBOT_HTTP_PORT", "99999"),
        ("PAYBOT_APPROVALS_REQUIRED", "0"),
        ("PAYBOT_LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_setting_stops_run_with_one_line(variable: str, value: str) -> None:
    result = paybot("run", **{variable: value, "MODELSLAB_TOKEN": "x"})
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"paybot: configuration error: {variable}")


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = paybot("db", "upgrade", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
