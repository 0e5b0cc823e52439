"""The ``paybot`` command. Only this module exits the process."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import logs
from bot.errors import ConfigError, PaybotError
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
    return parser


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
        sys.exit(130)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(auto=args.auto, database=args.database))
    if args.command == "sandbox":
        from bot.billing.sandbox import SandboxConfig, serve_sandbox

        config = SandboxConfig(
            checkout_ttl_seconds=args.checkout_ttl, rate_limits=not args.no_rate_limits
        )
        print(f"sandbox: http://{args.host}:{args.port}/api/agents/v1", flush=True)
        serve_sandbox(args.host, args.port, config)
        return 0
    if args.command == "db":
        from storage.migrate import upgrade

        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return asyncio.run(run_doctor(settings))
    from bot.runner import run_bot

    return asyncio.run(run_bot(settings))


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    """The demo's chat is its output: it logs warnings only, unless told."""
    quiet = args.command in ("demo", "db", "doctor")
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
