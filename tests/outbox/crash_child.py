"""Queue one message and send the outbox, SIGKILLing itself at its Nth store commit.

``CRASH_AT=N`` picks the commit; ``CRASH_WHEN=before`` dies inside the unit of work (the
transaction never commits), ``after`` right after it committed (as tests/engine/crash_child).
Arguments: the config file, the store file, the subject of the message to queue.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sync.compose import Draft
from sync.config import AccountConfig, parse_config
from sync.outbox import OutboxSender, queue_message
from sync.store import Store
from tests.engine.crash_child import arm_crash


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
    arm_crash()
    config_file = Path(sys.argv[1])
    account = parse_config(config_file.read_text(encoding="utf-8"), config_file).accounts[0]
    asyncio.run(_run(account, Path(sys.argv[2]), sys.argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
