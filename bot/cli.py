"""The ``paybot`` command. Only this module exits the process."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import logs
from bot.database import open_database
from bot.errors import ConfigError, PaybotError
from bot.serving import bind
from bot.settings import Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paybot", description="Chat-bot for human-assisted ModelsLab payments."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", help="run the bot with every adapter whose tokens are set"
    )
    demo = commands.add_parser(
        "demo", help="the whole flow locally: sandbox, console, SQLite"
    )
    demo.add_argument(
        "--auto", action="store_true", help="play a scripted conversation"
    )
    demo.add_argument(
        "--database", help="SQLAlchemy URL to keep state in (default: temporary)"
    )
    sandbox = commands.add_parser("sandbox", help="run the ModelsLab simulator alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument(
        "--checkout-ttl", type=int, default=86400, help="link lifetime (s)"
    )
    sandbox.add_argument("--no-rate-limits", action="store_true")
    commands.add_parser("doctor", help="check settings, database, API reach and token")
    db = commands.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser(
        "upgrade", help="apply migrations"
    )
    _add_policy_and_audit(commands)
    return parser


def _add_policy_and_audit(commands: argparse._SubParsersAction[Any]) -> None:
    policy = commands.add_parser("policy", help="the team's approval rules")
    check = policy.add_subparsers(dest="policy_command", required=True).add_parser(
        "check", help="validate a policy file and print its rules in plain words"
    )
    check.add_argument("file", type=Path)
    audit = commands.add_parser("audit", help="the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    export = actions.add_parser("export", help="one row per request, to stdout")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument(
        "--since", type=_date, help="only requests made on or after DATE (YYYY-MM-DD)"
    )
    actions.add_parser("verify", help="check the hash chain of the audit events")


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date like 2026-01-31"
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        logs.configure(
            _log_level(args, settings), settings.paybot_log_format, _secrets(settings)
        )
        sys.exit(_dispatch(args, settings))
    except ConfigError as exc:
        sys.exit(f"paybot: configuration error: {exc}")
    except PaybotError as exc:
        sys.exit(f"paybot: {exc}")
    except KeyboardInterrupt:
        # Ctrl-C is how one leaves the demo and the sandbox; elsewhere it is
        # an interruption.
        sys.exit(0 if args.command in ("demo", "sandbox") else 130)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(auto=args.auto, database=args.database))
    if args.command == "sandbox":
        from bot.billing.sandbox import SandboxConfig, serve_sandbox

        config = SandboxConfig(
            checkout_ttl_seconds=args.checkout_ttl, rate_limits=not args.no_rate_limits
        )
        sock = bind(args.host, args.port, "--port")
        print(f"sandbox: http://{args.host}:{args.port}/api/agents/v1", flush=True)
        print("token: sandbox-token; press Ctrl-C to stop", flush=True)
        asyncio.run(serve_sandbox(sock, config))
        return 0
    if args.command == "db":
        open_database(settings.database_url).dispose()
        print("database is up to date")
        return 0
    if args.command in ("policy", "audit"):
        return _policy_or_audit(args, settings)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return asyncio.run(run_doctor(settings))
    from bot.runner import run_bot

    return asyncio.run(run_bot(settings))


def _policy_or_audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "policy":
        from bot.policy import describe
        from bot.policy_file import read_policy_file

        print(describe(read_policy_file(args.file)))
        return 0
    from bot import audit

    database = open_database(settings.database_url)
    try:
        if args.audit_command == "verify":
            intact, report = audit.verify(database)
            print(report)
            return 0 if intact else 1
        rows = audit.export_rows(database, args.since)
        text = audit.to_csv(rows) if args.format == "csv" else audit.to_json(rows)
        sys.stdout.write(text)
        return 0
    finally:
        database.dispose()


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    """The demo's chat is its output: it logs errors only, unless told."""
    quiet = args.command in ("demo", "db", "doctor", "policy", "audit")
    if quiet and "paybot_log_level" not in settings.model_fields_set:
        return "WARNING"
    return settings.paybot_log_level


def _secrets(settings: Settings) -> list[str]:
    values = [
        settings.modelslab_token,
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
    ]
    return [value.get_secret_value() for value in values if value is not None]
