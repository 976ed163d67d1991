"""A `mailtui sync --once` that SIGKILLs itself at its Nth store commit (test helper).

``CRASH_AT=N`` picks the commit; ``CRASH_WHEN=before`` dies inside the unit of work (the
transaction never commits), ``after`` right after it committed. Without ``CRASH_AT`` it just
syncs. Like isync's crash tests, this lets a test crash at every commit point in turn.
The hook itself (:func:`write_stopping_at`) also serves tests that stop a sync in-process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sync.store import Store, StoreWriter


def write_stopping_at(
    commit: int, *, before: bool, stop: Callable[[], None]
) -> Callable[[Store], AbstractAsyncContextManager[StoreWriter]]:
    """The current ``Store.write``, made to call ``stop()`` at its ``commit``-th unit of work:
    inside it (``before``: the transaction never commits) or right after it committed."""
    original = Store.write
    commits = 0

    @contextlib.asynccontextmanager
    async def write(self: Store) -> AsyncIterator[StoreWriter]:
        nonlocal commits
        async with original(self) as unit:
            yield unit
            commits += 1
            if before and commits == commit:
                stop()
        if not before and commits == commit:
            stop()

    return write


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm_crash() -> None:
    """Make this process SIGKILL itself at the store commit ``CRASH_AT`` names (if any)."""
    crash_at = int(os.environ.get("CRASH_AT", "0"))
    if crash_at <= 0:
        return
    before = os.environ.get("CRASH_WHEN", "after") == "before"
    write = write_stopping_at(crash_at, before=before, stop=_kill_self)
    Store.write = write  # type: ignore[method-assign,assignment]


def main() -> int:
    """Arm the crash, then run the real command line with the arguments given."""
    arm_crash()
    from tui.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
