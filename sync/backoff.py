"""Exponential backoff: the one rule for how long a retry waits (engine, queue, outbox);
and the cap on logins per minute that holds whatever the backoff says."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginRate", "backoff_ceiling", "jittered_backoff"]


def backoff_ceiling(attempt: int, initial: float, maximum: float) -> float:
    """``initial * 2**attempt`` seconds, capped at ``maximum`` (attempt 0 waits ``initial``)."""
    return float(min(maximum, initial * 2 ** min(attempt, 30)))


def jittered_backoff(attempt: int, initial: float, maximum: float) -> float:
    """The ceiling with jitter, uniform in [ceiling/2, ceiling], so that many clients that
    lost the same server do not all come back at the same moment."""
    ceiling = backoff_ceiling(attempt, initial, maximum)
    return random.uniform(ceiling / 2, ceiling)


class LoginRate:
    """At most ``limit`` logins in any ``window`` seconds, whatever the reason for them.

    Providers lock an account that logs in too often (a reconnect loop that keeps failing right
    after the login, a user flipping folders); the backoff alone cannot promise this, because
    it starts over after a healthy session.
    """

    def __init__(
        self, limit: int = 6, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._logins: deque[float] = deque()

    def wait_needed(self) -> float:
        """Seconds until one more login keeps within the limit (0 when it may go now)."""
        now = self._clock()
        while self._logins and self._logins[0] <= now - self.window:
            self._logins.popleft()
        if len(self._logins) < self.limit:
            return 0.0
        return self._logins[0] + self.window - now

    def record(self) -> None:
        """Count a login made now."""
        self._logins.append(self._clock())
