"""What the simulator does around every API handler.

In order: record the request, inject a configured fault, check the bearer
token, count it against its rate limiter, parse the body, replay or store
an ``Idempotency-Key`` answer, and render the documented envelope.
"""

from __future__ import annotations

import asyncio
import copy
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from bot.billing.sandbox_api import AccountApi, ApiCall, Reply
from bot.billing.sandbox_config import SandboxConfig
from bot.billing.sandbox_ledger import ApiFailure, CheckoutSession, Ledger
from bot.billing.wire import dumps, loads

API_PREFIX: Final = "/api/agents/v1"
_LIMITS: Final = {"billing": 15, "general": 120, "auth": 20}
_WINDOW: Final = 60.0
_REMEMBERED_REQUESTS: Final = 500

Handler = Callable[[ApiCall], Reply]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    bucket: str
    authenticated: bool = True


@dataclass(frozen=True)
class Quota:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float


class RateLimiter:
    """Sliding one-minute windows per documented limiter."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {name: deque() for name in _LIMITS}

    def take(self, bucket: str, now: float, enforce: bool) -> Quota:
        hits, limit = self._hits[bucket], _LIMITS[bucket]
        while hits and hits[0] <= now - _WINDOW:
            hits.popleft()
        allowed = not enforce or len(hits) < limit
        if allowed:
            hits.append(now)
        reset_at = (hits[0] if hits else now) + _WINDOW
        return Quota(allowed, limit, max(0, limit - len(hits)), reset_at)


@dataclass
class Sandbox:
    """The simulator's state and its request pipeline."""

    config: SandboxConfig
    ledger: Ledger = field(init=False)
    api: AccountApi = field(init=False)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    replays: dict[tuple[str, str, str], tuple[Mapping[str, Any], Reply]] = field(
        default_factory=dict
    )
    scripted_faults: deque[str] = field(default_factory=deque)
    requests: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=_REMEMBERED_REQUESTS)
    )
    chance: random.Random = field(init=False)
    # Unix seconds; a benchmark runs the simulator on a virtual clock.
    clock: Callable[[], float] = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def __post_init__(self) -> None:
        self.ledger = Ledger.opened(self.config, self.now())
        self.api = AccountApi(self.ledger)
        self.chance = random.Random(self.config.fault_seed)

    def reconfigure(self, values: Mapping[str, object]) -> None:
        self.config = self.config.with_changes(values)
        self.ledger.config = self.config
        if "fault_seed" in values:
            self.chance = random.Random(self.config.fault_seed)

    async def serve(self, request: Request, route: ApiRoute) -> Response:
        text = (await request.body()).decode("utf-8", "replace")
        self._remember(request, route, text)
        fault = self._fault()
        if fault is not None and fault != "slow":
            return _fault_response(fault)
        response = self._answer(request, route, text)
        if fault == "slow":
            # The work is done and stored; only the answer is late.
            await asyncio.sleep(self.config.slow_seconds)
        return response

    def _answer(self, request: Request, route: ApiRoute, text: str) -> Response:
        enforced = self.config.rate_limits
        quota = self.limiter.take(self._bucket(route), self.clock(), enforced)
        # Without limits there is no allowance to report.
        headers = self._quota_headers(quota) if enforced else {}
        token = _bearer(request)
        if route.authenticated and token not in self.ledger.tokens:
            return self._unauthorized(headers)
        try:
            if not quota.allowed:
                headers["Retry-After"] = str(
                    max(1, math.ceil(quota.reset_at - self.clock()))
                )
                raise ApiFailure(429, "rate_limited", "Too Many Attempts.")
            call = ApiCall(
                now=self.now(),
                base_url=str(request.base_url).rstrip("/"),
                token=token,
                params=request.path_params,
                query=dict(request.query_params),
                body=_json_object(text),
            )
            reply, replayed = self._idempotent(request, route, call)
        except ApiFailure as failure:
            return _failure_response(failure, headers)
        return self._render(reply, replayed, headers)

    def _idempotent(
        self, request: Request, route: ApiRoute, call: ApiCall
    ) -> tuple[Reply, bool]:
        key = request.headers.get("idempotency-key")
        if key is None or route.method == "GET":
            return route.handler(call), False
        slot = (route.method, request.url.path, key)
        stored = self.replays.get(slot)
        if stored is not None:
            if stored[0] != call.body:
                raise ApiFailure(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request.",
                )
            return stored[1], True
        reply = route.handler(call)
        self.replays[slot] = (call.body, copy.deepcopy(reply))
        return reply, False

    def _render(
        self, reply: Reply, replayed: bool, headers: dict[str, str]
    ) -> Response:
        data = copy.deepcopy(reply.data)
        if reply.bare:
            body = data if isinstance(data, dict) else {"items": data}
            place = body
        else:
            body = {"data": data, "error": None, "meta": {"request_id": _request_id()}}
            place = {"top": body, "data": data, "meta": body["meta"]}[
                self.config.replay_flag
            ]
        if replayed:
            (place if isinstance(place, dict) else body)["idempotency_replay"] = True
        return _json_response(body, reply.status, headers)

    def _unauthorized(self, headers: dict[str, str]) -> Response:
        if self.config.unauthorized_body == "laravel":
            return _json_response({"message": "Unauthenticated."}, 401, headers)
        failure = ApiFailure(401, "unauthenticated", "Unauthenticated.")
        return _failure_response(failure, headers)

    def _bucket(self, route: ApiRoute) -> str:
        if route.path.endswith("/confirm-checkout"):
            return self.config.confirm_bucket
        return route.bucket

    def _quota_headers(self, quota: Quota) -> dict[str, str]:
        reset = quota.reset_at
        if self.config.rate_limit_reset == "delta":
            reset = max(0.0, reset - self.clock())
        return {
            "X-RateLimit-Limit": str(quota.limit),
            "X-RateLimit-Remaining": str(quota.remaining),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }

    def _fault(self) -> str | None:
        if self.scripted_faults:
            return self.scripted_faults.popleft()
        config = self.config
        if config.fault_rate and self.chance.random() < config.fault_rate:
            return self.chance.choice(config.fault_kinds)
        return None

    def _remember(self, request: Request, route: ApiRoute, text: str) -> None:
        self.requests.append(
            {
                "method": route.method,
                "path": request.url.path.removeprefix(API_PREFIX),
                "idempotency_key": request.headers.get("idempotency-key"),
                # Login bodies carry a password; keep them out of the record.
                "body": "" if route.bucket == "auth" else text,
            }
        )

    def state_of(self, session_id: str) -> dict[str, Any]:
        return _session_state(self.ledger.sessions[session_id])

    def state(self) -> dict[str, Any]:
        ledger = self.ledger
        return {
            "balance_cents": ledger.balance_cents,
            "sessions": [_session_state(s) for s in ledger.sessions.values()],
            "subscriptions": list(ledger.subscriptions.values()),
            "transactions": len(ledger.transactions),
            "requests": list(self.requests),
            "config": {
                name: getattr(self.config, name)
                for name in (
                    "link_body",
                    "unauthorized_body",
                    "confirm_unpaid",
                    "confirm_expired",
                    "minimum_topup_usd",
                    "rate_limits",
                    "fault_rate",
                    "fault_kinds",
                    "slow_seconds",
                )
            },
        }


class _DroppedConnection(Response):
    """Start an answer, then vanish: the server closes mid-response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"512")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})


def _fault_response(kind: str) -> Response:
    if kind == "drop":
        return _DroppedConnection()
    if kind == "empty":
        return Response(b"", 200, media_type="application/json")
    if kind == "html502":
        page = (
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
        )
        return Response(page, 502, media_type="text/html")
    if kind == "429":
        failure = ApiFailure(429, "rate_limited", "Too Many Attempts.")
        return _failure_response(failure, {"Retry-After": "1"})
    status = int(kind)
    return _failure_response(ApiFailure(status, "server_error", "Server Error"), {})


def _failure_response(failure: ApiFailure, headers: dict[str, str]) -> Response:
    body = {
        "data": None,
        "error": {
            "code": failure.code,
            "message": failure.message,
            "details": failure.details,
        },
        "meta": {"request_id": _request_id()},
    }
    return _json_response(body, failure.status, headers)


def _json_response(body: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(dumps(body), status, headers=headers, media_type="application/json")


def _json_object(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        body = loads(text)
    except ValueError:
        raise ApiFailure(
            400, "invalid_json", "The request body is not valid JSON."
        ) from None
    if not isinstance(body, dict):
        raise ApiFailure(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def _session_state(session: CheckoutSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "purpose": session.purpose,
        "amount_cents": session.amount_cents,
        "plan_id": session.plan_id,
        "paid": session.paid,
        "declined": session.declined,
        "confirmed": session.confirmation is not None,
        "expires_at": session.expires_at.isoformat(),
    }
