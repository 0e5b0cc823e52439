"""The bot's own HTTP server: health, metrics, and the platforms' webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlmodel import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Paybot
from bot.errors import BillingAuthError, BillingError
from bot.limits import LimitBody
from storage import repo


def create_http_app(
    paybot: Paybot, extra_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    async def healthz(_request: Request) -> Response:
        database = await asyncio.to_thread(paybot.db.ping)
        billing = await _billing_health(paybot)
        healthy = database and billing == "ok"
        body = {"database": "ok" if database else "down", "billing": billing}
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(
            await paybot.db.read_async(lambda s: _metrics_text(paybot, s))
        )

    routes = [Route("/healthz", healthz), Route("/metrics", metrics), *extra_routes]
    return Starlette(routes=routes, middleware=[Middleware(LimitBody)])


async def _billing_health(paybot: Paybot) -> str:
    try:
        await paybot.billing.wallet_balance()
    except BillingAuthError:
        return "token rejected"
    except BillingError:
        return "down"
    return "ok"


def _metrics_text(paybot: Paybot, session: Session) -> str:
    lines = [
        "# HELP paybot_requests Payment requests by state.",
        "# TYPE paybot_requests gauge",
    ]
    for state, count in sorted(repo.count_requests_by_state(session).items()):
        lines.append(f'paybot_requests{{state="{state}"}} {count}')
    gauges = {
        "paybot_open_checkouts": repo.count_open_checkouts(session),
        "paybot_outbox_backlog": repo.count_pending_messages(session),
        "paybot_watcher_lag_seconds": paybot.watcher.lag_seconds,
    }
    for name, value in gauges.items():
        lines += [f"# TYPE {name} gauge", f"{name} {value}"]
    lines.append("# HELP paybot_billing_calls_total Billing API calls by outcome.")
    lines.append("# TYPE paybot_billing_calls_total counter")
    for outcome, count in sorted(paybot.billing.call_outcomes.items()):
        lines.append(f'paybot_billing_calls_total{{outcome="{outcome}"}} {count}')
    lines.append("# HELP paybot_checkout_polls_total confirm-checkout answers by kind.")
    lines.append("# TYPE paybot_checkout_polls_total counter")
    for status, count in sorted(paybot.watcher.outcomes.items()):
        lines.append(f'paybot_checkout_polls_total{{status="{status}"}} {count}')
    rate_limited = paybot.billing.call_outcomes.get("429", 0)
    lines += ["# TYPE paybot_rate_limited_total counter"]
    lines.append(f"paybot_rate_limited_total {rate_limited}")
    return "\n".join(lines) + "\n"
