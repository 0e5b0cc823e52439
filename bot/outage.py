"""Hold polling back while the billing API is down.

When a poll fails for a transport reason, the watcher stops polling every
checkout and sends one probe at a time, at a growing interval. The first
probe that gets an answer ends the outage and makes every open checkout due
again, so polling resumes at once instead of after each checkout's own
back-off, and a ten-minute outage costs a couple of dozen calls in all.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_PROBE_SECONDS = 5.0
MAX_PROBE_SECONDS = 30.0


class Outage:
    def __init__(self) -> None:
        self.failures = 0
        self.next_probe: datetime | None = None

    @property
    def active(self) -> bool:
        return self.next_probe is not None

    def allowance(self, now: datetime, wanted: int) -> int:
        """How many polls may go out now: all when healthy, one probe when due."""
        if self.next_probe is None:
            return wanted
        return min(wanted, 1) if now >= self.next_probe else 0

    def failed(self, now: datetime) -> None:
        self.failures += 1
        wait = min(FIRST_PROBE_SECONDS * 2.0 ** (self.failures - 1), MAX_PROBE_SECONDS)
        self.next_probe = now + timedelta(seconds=wait * random.uniform(0.8, 1.2))

    def recovered(self) -> bool:
        """Clear the outage; True if there was one."""
        was_active = self.active
        self.failures = 0
        self.next_probe = None
        return was_active
