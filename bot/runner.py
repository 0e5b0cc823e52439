"""``paybot run``: the bot, its HTTP server and every configured adapter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from bot.app import Paybot
from bot.errors import BillingAuthError, BillingError, ConfigError
from bot.http import create_http_app
from bot.policy_file import load_policy
from bot.serving import bind, start_server
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """What a started adapter contributes: webhook routes and its own tasks."""

    routes: list[BaseRoute] = field(default_factory=list)
    tasks: list[Callable[[asyncio.Event], Awaitable[None]]] = field(
        default_factory=list
    )


PlatformFactory = Callable[[Settings, Paybot], Awaitable[Platform]]


def platform_factories(settings: Settings) -> dict[str, PlatformFactory]:
    """The adapters whose settings are present, registered explicitly.

    This is the one place ``bot`` reaches into ``adapters``: the imports are
    local so that the engine never loads a platform SDK it does not use.
    """
    factories: dict[str, PlatformFactory] = {}
    if settings.slack_bot_token and settings.slack_signing_secret:
        from adapters.slack import start_slack

        factories["slack"] = start_slack
    if settings.telegram_bot_token:
        from adapters.telegram import start_telegram

        factories["telegram"] = start_telegram
    return factories


def check_run_settings(settings: Settings) -> None:
    load_policy(settings)  # a bad policy file stops start-up with its line
    if settings.modelslab_token is None:
        raise ConfigError("MODELSLAB_TOKEN: required for paybot run")
    if not platform_factories(settings):
        raise ConfigError(
            "SLACK_BOT_TOKEN: no chat platform is configured; set SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET, or TELEGRAM_BOT_TOKEN (try paybot demo first)"
        )


async def run_bot(settings: Settings) -> int:
    check_run_settings(settings)
    sock = bind(settings.paybot_http_host, settings.paybot_http_port)
    paybot = Paybot(settings)
    await _check_token(paybot)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    platforms = [
        await start(settings, paybot) for start in platform_factories(settings).values()
    ]
    routes = [route for platform in platforms for route in platform.routes]
    server = await start_server(create_http_app(paybot, routes), sock)
    log.info("paybot listening on %s", server.base_url)
    tasks = [task(stop) for platform in platforms for task in platform.tasks]
    try:
        await asyncio.gather(paybot.run_workers(stop), *tasks)
    finally:
        await server.stop()
        await paybot.aclose()
    return 0


async def _check_token(paybot: Paybot) -> None:
    """A rejected token stops start-up; an unreachable API only warns."""
    try:
        await paybot.billing.wallet_balance()
    except BillingAuthError:
        await paybot.aclose()
        raise ConfigError("MODELSLAB_TOKEN: ModelsLab rejected the token") from None
    except BillingError as exc:
        log.warning("billing API not reachable at start (%s); will keep trying", exc)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
