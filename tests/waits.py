"""Waiting in tests on a condition, not on the clock.

``eventually`` polls a check (plain or async) until it holds and fails with a message naming
what was awaited; a test that sleeps a fixed time instead either waits too long or, on a
loaded machine, not long enough. A sleep that remains in a test is the point of the test (a
slow link, time that must pass, "nothing happens for N s") and says so in a comment.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]


async def eventually(
    check: Callable[[], object | Awaitable[object]],
    *,
    within: float = 5.0,
    what: str = "the condition",
    every: float = 0.02,
) -> float:
    """Wait until ``check()`` is true; return the seconds it took.

    ``check`` may be a coroutine function. Raises ``AssertionError`` naming ``what`` after
    ``within`` seconds.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return loop.time() - started
        if loop.time() - started > within:
            raise AssertionError(f"{what}: not reached within {within} s")
        await asyncio.sleep(every)
