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
# ModelsLab counts calls in a sliding minute. A bucket that could save up a
# whole minute's allowance would let a burst and the steady rate add up to
# twice the limit, so it holds only a few calls.
BURST = 3
# The share of the API's stated per-minute limit that polls may use; the
# rest is left for payment links and people's own commands.
SHARE = 0.8


class CallBudget:
    def __init__(
        self,
        calls_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.capacity = float(min(BURST, calls_per_minute))
        self.rate = calls_per_minute / 60.0
        self.clock = clock
        self.wall_clock = wall_clock
        self.tokens = self.capacity
        self.updated = clock()
        self.paused_until = 0.0

    def _refill(self) -> float:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return now

    def try_take(self, *, urgent: bool = False) -> bool:
        """Spend one call if the budget allows.

        Urgent calls (a person is waiting) ignore pauses and may borrow
        against the next few seconds, down to a small debt, never further.
        """
        now = self._refill()
        if now < self.paused_until and not urgent:
            return False
        floor = 1 - self.capacity if urgent else 1
        if self.tokens >= floor:
            self.tokens -= 1
            return True
        return False

    def available(self) -> int:
        now = self._refill()
        return 0 if now < self.paused_until else int(self.tokens)

    def seconds_until_available(self) -> float:
        """How long until one call may go out (0 when one may now)."""
        now = self._refill()
        wait_for_token = max(0.0, (1 - self.tokens) / self.rate)
        return max(wait_for_token, self.paused_until - now)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def observe(self, state: RateLimitState) -> None:
        """Follow what the API says of its limits.

        A stated limit sets the rate; fewer calls left than the reserve slows
        the bucket down; none left at all pauses it until the window resets.
        """
        if state.remaining is None:
            return
        self._refill()
        if state.limit:
            self.rate = max(state.limit * SHARE, 1.0) / 60.0
        self.tokens = min(self.tokens, float(state.remaining - RESERVE))
        if state.remaining <= 0 and state.reset_at is not None:
            wait = state.reset_at - self.wall_clock()
            if wait > 0:
                self.pause(min(wait, 60.0))
