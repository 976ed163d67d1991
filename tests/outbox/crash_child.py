"""Queue one message and send the outbox, SIGKILLing itself at its Nth store commit.

``CRASH_AT=N`` picks the commit; ``CRASH_WHEN=before`` dies inside the unit of work (the
transaction never commits), ``after`` right after it committed (as tests/engine/crash_child).
Arguments: the config file, the store file, the subject of the message to queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sync.compose import Draft
from sync.config import AccountConfig, parse_config
from sync.outbox import OutboxSender, queue_message
from sync.store import Store, StoreWriter


def _arm() -> None:
    crash_at = int(os.environ.get("CRASH_AT", "0"))
    before = os.environ.get("CRASH_WHEN", "after") == "before"
    original = Store.write
    commits = 0

    @contextlib.asynccontextmanager
    async def write(self: Store) -> AsyncIterator[StoreWriter]:
        nonlocal commits
        async with original(self) as unit:
            yield unit
            commits += 1
            if before and commits == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)
        if not before and commits == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    Store.write = write  # type: ignore[method-assign]


async def _run(account: AccountConfig, store_file: Path, subject: str) -> None:
    store = await Store.open(store_file)
    try:
        draft = Draft(from_=account.email, to=("ana@example.com",), subject=subject, body="x\n")
        await queue_message(store, account, draft)
        await OutboxSender(store, account).send_due()
    finally:
        await store.close()


def main() -> int:
    """Arm the crash, then queue and send."""
    _arm()
    config_file = Path(sys.argv[1])
    account = parse_config(config_file.read_text(encoding="utf-8"), config_file).accounts[0]
    asyncio.run(_run(account, Path(sys.argv[2]), sys.argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
