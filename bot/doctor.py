"""``paybot doctor``: checks settings, database, API reach and token."""

from __future__ import annotations

import asyncio

from bot.billing.client import BillingClient
from bot.database import open_database
from bot.errors import BillingAuthError, BillingError, ConfigError
from bot.money import format_usd
from bot.policy_file import load_policy
from bot.settings import Settings


async def run_doctor(settings: Settings) -> int:
    results = [
        await asyncio.to_thread(_database, settings),
        await _billing(settings),
        _approvers(settings),
        _platforms(settings),
    ]
    for ok, line in results:
        print(("ok    " if ok else "FAIL  ") + line)
    return 0 if all(ok for ok, _ in results) else 1


def _database(settings: Settings) -> tuple[bool, str]:
    try:
        database = open_database(settings.database_url)
    except ConfigError as exc:
        return False, f"database: {exc}"
    database.dispose()
    return True, "database: reachable and migrated"


async def _billing(settings: Settings) -> tuple[bool, str]:
    if settings.modelslab_token is None:
        return False, "billing: MODELSLAB_TOKEN is not set"
    client = BillingClient(
        settings.modelslab_api_url, settings.modelslab_token.get_secret_value()
    )
    try:
        balance = await client.wallet_balance()
    except BillingAuthError:
        return False, "billing: the API rejected MODELSLAB_TOKEN"
    except BillingError as exc:
        return False, f"billing: {settings.modelslab_api_url} unreachable ({exc})"
    finally:
        await client.aclose()
    return (
        True,
        f"billing: token works, wallet balance {format_usd(balance.balance_cents)}",
    )


def _approvers(settings: Settings) -> tuple[bool, str]:
    try:
        policy = load_policy(settings)
    except ConfigError as exc:
        return False, f"policy: {exc}"
    if not policy.approvers:
        return False, "approvers: PAYBOT_APPROVERS is empty, nobody can approve"
    return True, f"approvers: {', '.join(policy.approvers)} (from {policy.source})"


def _platforms(settings: Settings) -> tuple[bool, str]:
    names = []
    if settings.slack_bot_token and settings.slack_signing_secret:
        names.append("slack")
    if settings.telegram_bot_token:
        names.append("telegram")
    if not names:
        return (
            False,
            "chat: set SLACK_BOT_TOKEN+SLACK_SIGNING_SECRET or TELEGRAM_BOT_TOKEN",
        )
    return True, f"chat: {', '.join(names)}"
