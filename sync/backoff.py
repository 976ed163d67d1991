"""Exponential backoff: the one rule for how long a retry waits (engine, queue, outbox)."""

from __future__ import annotations

import random

__all__ = ["backoff_ceiling", "jittered_backoff"]


def backoff_ceiling(attempt: int, initial: float, maximum: float) -> float:
    """``initial * 2**attempt`` seconds, capped at ``maximum`` (attempt 0 waits ``initial``)."""
    return float(min(maximum, initial * 2 ** min(attempt, 30)))


def jittered_backoff(attempt: int, initial: float, maximum: float) -> float:
    """The ceiling with jitter, uniform in [ceiling/2, ceiling], so that many clients that
    lost the same server do not all come back at the same moment."""
    ceiling = backoff_ceiling(attempt, initial, maximum)
    return random.uniform(ceiling / 2, ceiling)
