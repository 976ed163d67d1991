"""Write ``tests/ops/data/queue-v0.sqlite``: a store holding one queued operation of every kind.

This script was run once, with the code of commit 1049e30 (before the typed operations and
their codec), to keep a store "as today's code writes it": the payloads are the untyped JSON of
that time (no ``"v"`` key, rows as ``dataclasses.asdict(MessageRecord)``, raw as base64). The
test ``test_v0_store.py`` opens it with the current code. Do not regenerate it with newer code:
that would turn the compatibility test into a test of the new format.

Run from the repository root: ``python3 -m tests.ops.make_v0_store [OUTPUT]``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

from sync.ops import Operations
from sync.store import Store
from tests.store.helpers import record

OUTPUT = Path(__file__).parent / "data" / "queue-v0.sqlite"
RAW = (
    b"From: Writer <writer@test.example>\r\nTo: reader@test.example\r\n"
    b"Subject: Appended\r\nMessage-ID: <appended@test.example>\r\n"
    b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nHello.\r\n"
)


async def build(path: Path) -> None:
    """Queue flags, move, copy, expunge, append, create/rename/delete folder (and a move whose
    ``dest_uidnext`` was recorded, as the replayer does before sending)."""
    store = await Store.open(path)
    try:
        async with store.write() as w:
            account = await w.ensure_account("acct", "acct@test.example")
            ids: dict[str, int] = {}
            for name, use in (
                ("INBOX", None),
                ("Archive", "\\Archive"),
                ("Trash", "\\Trash"),
                ("Drafts", "\\Drafts"),
                ("Old", None),
                ("Gone", None),
            ):
                ids[name] = await w.upsert_folder(
                    account, name, display_name=name, delimiter="/", special_use=use
                )
            await w.upsert_messages(
                ids["INBOX"], [record(uid, flags=("\\Flagged",)) for uid in range(1, 8)]
            )
        ops = Operations(store)
        await ops.mark_read(ids["INBOX"], [1, 2])
        await ops.move(ids["INBOX"], [3], ids["Archive"])
        await ops.copy(ids["INBOX"], [4], ids["Archive"])
        await ops.expunge(ids["INBOX"], [5])
        await ops.append(ids["INBOX"], RAW, ["\\Seen"], internaldate=1_700_000_000)
        await ops.create_folder(account, "Été")
        await ops.rename_folder(ids["Old"], "New")
        await ops.delete_folder(ids["Gone"])
        moved = await ops.move(ids["INBOX"], [6, 7], ids["Archive"])
        # As the replayer records it just before sending the command.
        async with store.write() as w:
            assert moved.operation_id is not None
            op = await w.operation(moved.operation_id)
            assert op is not None
            payload = json.loads(op.payload)
            payload["dest_uidnext"] = 42
            await w.update_operation(
                op.id,
                folder_id=op.folder_id,
                folder_name=op.folder_name,
                payload=json.dumps(payload),
            )
    finally:
        await store.close()
    # One self-contained file: no -wal beside it.
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("VACUUM")
    db.close()


def main() -> None:
    """Write the fixture (to the path given, else next to this script)."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    path.unlink(missing_ok=True)
    asyncio.run(build(path))


if __name__ == "__main__":
    main()
