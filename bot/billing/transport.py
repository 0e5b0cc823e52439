"""One HTTP exchange with the API, and the retry rules around it."""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from bot.billing.models import RateLimitState
from bot.billing.outcomes import Exchange, error_for
from bot.billing.secret import Secret
from bot.billing.wire import BodyError, decode_body, dumps

logger = logging.getLogger(__name__)

# httpx logs every request line at INFO; paybot logs its own, without URLs
# that could carry secrets.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

# A server that asks for a longer pause is answered by the caller's own
# schedule, not by blocking this call.
MAX_RETRY_WAIT: Final = 30.0
_BACKOFF_BASE: Final = 0.5
_BACKOFF_CAP: Final = 8.0
# X-RateLimit-Reset above this is a unix time, below it a number of seconds.
_EPOCH_THRESHOLD: Final = 1e9
_DROPPED: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed per call kind; ``mutation`` covers link creation."""

    connect: float = 5.0
    mutation: float = 20.0
    read: float = 10.0

    def for_mutation(self) -> httpx.Timeout:
        return httpx.Timeout(self.mutation, connect=self.connect)

    def for_read(self) -> httpx.Timeout:
        return httpx.Timeout(self.read, connect=self.connect)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    timeout: httpx.Timeout
    body: Mapping[str, Any] | None = None
    params: Mapping[str, str | int] | None = None
    idempotency_key: str | None = None
    authenticated: bool = True
    log_level: int = logging.INFO

    @property
    def retryable(self) -> bool:
        """Reads may be repeated; a mutation only under its idempotency key."""
        return self.method == "GET" or self.idempotency_key is not None


class ApiTransport:
    """Sends calls, records rate-limit headers, retries what may be retried."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: Secret,
        *,
        max_attempts: int,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self._http = http
        self.token = token
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._clock = clock
        self.rate_limit = RateLimitState(None, None, clock())
        # Calls by outcome ("ok", "429", "4xx", "5xx", "network"), for metrics.
        self.outcomes: Counter[str] = Counter()

    async def call(self, call: Call) -> Exchange:
        """The successful exchange, or the mapped :class:`BillingError`."""
        attempts = self._max_attempts if call.retryable else 1
        attempt = 1
        while True:
            exchange = await self.exchange(call)
            error = error_for(exchange, self.token)
            if error is None:
                return exchange
            wait = self._backoff(attempt, exchange.retry_after)
            if attempt >= attempts or not _transient(exchange) or wait > MAX_RETRY_WAIT:
                raise error from exchange.cause
            logger.info("retrying %s %s in %.1f s", call.method, call.path, wait)
            await self._sleep(wait)
            attempt += 1

    async def exchange(self, call: Call) -> Exchange:
        """One attempt; never raises for anything the network or server does."""
        started = time.monotonic()
        try:
            response = await self._http.request(
                call.method,
                call.path,
                content=None if call.body is None else dumps(call.body),
                params=call.params,
                headers=self._headers(call),
                timeout=call.timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            exchange = Exchange(None, problem=_problem(exc), cause=exc)
        else:
            exchange = self._read(response)
        self._log(call, exchange, time.monotonic() - started)
        self.outcomes[_outcome_class(exchange.status)] += 1
        return exchange

    def _headers(self, call: Call) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if call.authenticated:
            headers["Authorization"] = f"Bearer {self.token.reveal()}"
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def _read(self, response: httpx.Response) -> Exchange:
        self._observe_rate_limit(response.headers)
        retry_after = self._retry_after(response)
        if response.status_code == 204:
            return Exchange(204, body={})
        try:
            body = decode_body(response.text, response.headers.get("content-type", ""))
        except BodyError as exc:
            # A broken error body still says enough through its status.
            problem = exc.kind if response.is_success else ""
            return Exchange(response.status_code, problem=problem, cause=exc)
        return Exchange(response.status_code, body=body, retry_after=retry_after)

    def _observe_rate_limit(self, headers: httpx.Headers) -> None:
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        limit = _number(headers.get("x-ratelimit-limit"))
        if remaining is None and reset is None:
            return
        now = self._clock()
        self.rate_limit = RateLimitState(
            remaining=None if remaining is None else int(remaining),
            reset_at=None if reset is None else self._absolute(reset, now),
            observed_at=now,
            limit=None if limit is None else int(limit),
        )

    def _retry_after(self, response: httpx.Response) -> float | None:
        header = response.headers.get("retry-after")
        if header is not None:
            return _parse_retry_after(header, self._clock())
        reset = _number(response.headers.get("x-ratelimit-reset"))
        if response.status_code != 429 or reset is None:
            return None
        now = self._clock()
        return max(0.0, self._absolute(reset, now) - now)

    @staticmethod
    def _absolute(reset: float, now: float) -> float:
        return reset if reset > _EPOCH_THRESHOLD else now + reset

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base: float = min(_BACKOFF_BASE * 2.0 ** (attempt - 1), _BACKOFF_CAP)
        wait = base + random.uniform(0, base / 2)
        return max(wait, retry_after) if retry_after is not None else wait

    def _log(self, call: Call, exchange: Exchange, elapsed: float) -> None:
        outcome = exchange.status if exchange.status is not None else exchange.problem
        logger.log(
            call.log_level,
            "%s %s -> %s in %.0f ms",
            call.method,
            call.path,
            outcome,
            elapsed * 1000,
        )


def _transient(exchange: Exchange) -> bool:
    status = exchange.status
    return status is None or status == 429 or status >= 500 or bool(exchange.problem)


def is_dropped(exchange: Exchange) -> bool:
    """The connection closed under us, as opposed to a timeout."""
    return isinstance(exchange.cause, _DROPPED)


def _problem(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, _DROPPED):
        return "dropped"
    return "network"


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number >= 0 and number != float("inf") else None


def _parse_retry_after(value: str, now: float) -> float | None:
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def _outcome_class(status: int | None) -> str:
    if status is None:
        return "network"
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return "4xx" if status >= 400 else "ok"
