"""One shared budget of billing calls per ModelsLab token.

A token bucket refilled at the configured rate, tightened by what the API
says in its rate-limit headers: when it reports few calls left before a
reset, the budget waits for the reset instead of spending into a 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.billing.models import RateLimitState

# Calls kept in reserve for people (``paid``, ``balance``) when the API
# reports its remaining allowance.
RESERVE = 2


class CallBudget:
    def __init__(
        self, calls_per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(calls_per_minute)
        self.rate = calls_per_minute / 60.0
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.paused_until = 0.0

    def _refill(self) -> float:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return now

    def try_take(self, *, urgent: bool = False) -> bool:
        """Spend one call if the budget allows; urgent calls ignore pauses."""
        now = self._refill()
        if now < self.paused_until and not urgent:
            return False
        if self.tokens >= 1 or urgent:
            self.tokens -= 1
            return True
        return False

    def available(self) -> int:
        now = self._refill()
        return 0 if now < self.paused_until else int(self.tokens)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def observe(self, state: RateLimitState, wall_clock: float | None = None) -> None:
        """Follow the API's own count when it is lower than ours."""
        if state.remaining is None:
            return
        self._refill()
        self.tokens = min(self.tokens, float(max(state.remaining - RESERVE, 0)))
        if state.remaining <= RESERVE and state.reset_at is not None:
            wait = state.reset_at - (wall_clock or time.time())
            if wait > 0:
                self.pause(min(wait, 60.0))
