"""A ModelsLab Agent Control Plane simulator, served with Starlette.

The API lives under ``/api/agents/v1``; a client's base URL is
``http://HOST:PORT/api/agents/v1``. Around it: the hosted checkout page at
``/checkout/{session_id}``, invoice files at ``/invoices/{id}.pdf``, and
test-only control routes:

- ``POST /_sandbox/sessions/{id}/pay`` | ``/decline`` | ``/expire``
- ``POST /_sandbox/config`` with a JSON object of :class:`SandboxConfig` fields
- ``POST /_sandbox/faults`` with ``{"kinds": [...]}``: faults for the next calls
  (``"clear": true`` first drops the faults still queued)
- ``GET /_sandbox/state``: balance, sessions, subscriptions, received calls
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.billing.checkout_page import CheckoutPages
from bot.billing.sandbox_api import AccountApi
from bot.billing.sandbox_config import FAULT_KINDS, SandboxConfig
from bot.billing.sandbox_pipeline import API_PREFIX, ApiRoute, Sandbox
from bot.billing.wire import loads
from bot.errors import ConfigError
from bot.serving import start_server

__all__ = ["API_PREFIX", "SandboxConfig", "create_sandbox_app", "serve_sandbox"]

logger = logging.getLogger(__name__)


def _api_routes(api: AccountApi) -> list[ApiRoute]:
    return [
        ApiRoute("POST", "/auth/login", api.login, "auth", authenticated=False),
        ApiRoute("POST", "/auth/refresh", api.refresh, "auth"),
        ApiRoute("POST", "/auth/logout", api.logout, "auth"),
        ApiRoute("GET", "/billing/overview", api.overview, "general"),
        ApiRoute("GET", "/billing/stripe-config", api.stripe_config, "general"),
        ApiRoute("POST", "/billing/setup-intent", api.setup_intent, "billing"),
        ApiRoute("POST", "/billing/payment-link", api.payment_link, "billing"),
        ApiRoute("GET", "/billing/payment-methods", api.payment_methods, "general"),
        ApiRoute("POST", "/billing/payment-methods", api.add_payment_method, "billing"),
        ApiRoute(
            "PUT",
            "/billing/payment-methods/{id}/default",
            api.set_default_method,
            "billing",
        ),
        ApiRoute(
            "DELETE", "/billing/payment-methods/{id}", api.delete_method, "billing"
        ),
        ApiRoute("GET", "/billing/info", api.billing_info, "general"),
        ApiRoute("PUT", "/billing/info", api.update_billing_info, "billing"),
        ApiRoute("GET", "/billing/invoices", api.invoices, "general"),
        ApiRoute("GET", "/billing/invoices/{id}", api.invoice, "general"),
        ApiRoute("GET", "/billing/invoices/{id}/pdf", api.invoice_pdf, "general"),
        ApiRoute("GET", "/wallet/balance", api.balance, "general"),
        ApiRoute("GET", "/wallet/transactions", api.transactions, "general"),
        ApiRoute("POST", "/wallet/fund", api.fund, "billing"),
        ApiRoute("POST", "/wallet/confirm-checkout", api.confirm_fund, "billing"),
        ApiRoute("PUT", "/wallet/auto-funding", api.auto_funding, "billing"),
        ApiRoute("DELETE", "/wallet/auto-funding", api.disable_auto_funding, "billing"),
        ApiRoute("POST", "/wallet/withdraw", api.withdraw, "billing"),
        # The sources disagree on the method; both are answered.
        ApiRoute("GET", "/wallet/coupons/validate", api.validate_coupon, "general"),
        ApiRoute("POST", "/wallet/coupons/validate", api.validate_coupon, "billing"),
        ApiRoute("POST", "/wallet/coupons/redeem", api.redeem_coupon, "billing"),
        ApiRoute("GET", "/payments/{id}/status", api.payment_status, "general"),
        ApiRoute("GET", "/subscriptions/plans", api.plans, "general"),
        ApiRoute("GET", "/subscriptions", api.subscriptions, "general"),
        ApiRoute("POST", "/subscriptions", api.create_subscription, "billing"),
        ApiRoute(
            "POST", "/subscriptions/confirm-checkout", api.confirm_subscribe, "billing"
        ),
        ApiRoute("POST", "/subscriptions/charge-amount", api.charge_amount, "billing"),
        ApiRoute(
            "GET", "/subscriptions/{id}/status", api.subscription_status, "general"
        ),
        ApiRoute("PUT", "/subscriptions/{id}", api.update_subscription, "billing"),
        ApiRoute("POST", "/subscriptions/{id}/pause", api.pause, "billing"),
        ApiRoute("POST", "/subscriptions/{id}/resume", api.resume, "billing"),
        ApiRoute("POST", "/subscriptions/{id}/reset-cycle", api.reset_cycle, "billing"),
        ApiRoute("POST", "/subscriptions/{id}/fix-payment", api.fix_payment, "billing"),
    ]


def _starlette_route(sandbox: Sandbox, route: ApiRoute) -> Route:
    async def endpoint(request: Request) -> Response:
        return await sandbox.serve(request, route)

    return Route(API_PREFIX + route.path, endpoint, methods=[route.method])


class ControlRoutes:
    """Shortcuts for tests and demos; they skip auth, limits and faults."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def routes(self) -> list[Route]:
        return [
            Route(
                "/_sandbox/sessions/{session_id}/{action}",
                self.session,
                methods=["POST"],
            ),
            Route("/_sandbox/config", self.config, methods=["POST"]),
            Route("/_sandbox/faults", self.faults, methods=["POST"]),
            Route("/_sandbox/state", self.state, methods=["GET"]),
        ]

    async def session(self, request: Request) -> Response:
        ledger = self._sandbox.ledger
        session = ledger.sessions.get(request.path_params["session_id"])
        if session is None:
            return _problem("no such session", 404)
        action, now = request.path_params["action"], self._sandbox.now()
        if action == "expire":
            session.expires_at = now - timedelta(seconds=1)
        elif session.is_expired(now):
            return _problem("the session has expired", 409)
        elif action == "pay":
            ledger.pay(session, "4242", now)
        elif action == "decline":
            session.declined = True
        else:
            return _problem("action must be pay, decline or expire", 404)
        return _json(self._sandbox.state_of(session.id))

    async def config(self, request: Request) -> Response:
        try:
            values = loads((await request.body()).decode() or "{}")
            if not isinstance(values, dict):
                return _problem("send a JSON object of settings", 400)
            self._sandbox.reconfigure(values)
        except (ValueError, ConfigError) as exc:
            return _problem(str(exc), 400)
        return _json(self._sandbox.state()["config"])

    async def faults(self, request: Request) -> Response:
        try:
            body = loads((await request.body()).decode() or "{}")
            kinds, clear = body.get("kinds", []), body.get("clear", False)
        except (ValueError, AttributeError):
            return _problem('send {"kinds": [...], "clear": false}', 400)
        if not isinstance(kinds, list) or not set(kinds) <= set(FAULT_KINDS):
            return _problem(f"kinds must be among {', '.join(FAULT_KINDS)}", 400)
        if clear is True:
            self._sandbox.scripted_faults.clear()
        self._sandbox.scripted_faults.extend(kinds)
        return _json({"queued": list(self._sandbox.scripted_faults)})

    async def state(self, request: Request) -> Response:
        return _json(self._sandbox.state())


def create_sandbox_app(
    config: SandboxConfig | None = None, clock: Callable[[], float] = time.time
) -> Starlette:
    """A fresh simulator with its own in-memory account.

    ``clock`` gives unix seconds; a benchmark passes a virtual one.
    """
    sandbox = Sandbox(config or SandboxConfig(), clock=clock)
    routes: list[BaseRoute] = [
        _starlette_route(sandbox, route) for route in _api_routes(sandbox.api)
    ]
    routes += CheckoutPages(sandbox.ledger, sandbox.now).routes()
    routes.append(Route("/invoices/{invoice_id}.pdf", _invoice_file, methods=["GET"]))
    if sandbox.config.control_routes:
        routes += ControlRoutes(sandbox).routes()
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app


async def serve_sandbox(sock: socket.socket, config: SandboxConfig) -> None:
    """Run the simulator on ``sock`` until cancelled (``paybot sandbox``)."""
    host = sock.getsockname()[0]
    if config.control_routes and not _is_loopback(host):
        logger.warning(
            "sandbox control routes are reachable from other hosts on %s", host
        )
    server = await start_server(create_sandbox_app(config), sock)
    await server.task


async def _invoice_file(request: Request) -> Response:
    invoice_id = request.path_params["invoice_id"]
    return PlainTextResponse(f"Sandbox invoice {invoice_id}\n")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(body: object) -> Response:
    # Control answers are for tests: settings may be floats, money stays text.
    return Response(json.dumps(body, default=str), media_type="application/json")


def _problem(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status)
