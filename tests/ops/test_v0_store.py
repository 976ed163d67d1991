"""A store queued by the code before the typed operations still loads, reads and describes."""

from __future__ import annotations

import shutil
from pathlib import Path

from sync.imap import decode_mailbox
from sync.ops.codec import load
from sync.ops.describe import describe
from sync.ops.kinds import (
    Append,
    CreateFolder,
    DeleteFolder,
    Expunge,
    FlagChange,
    QueuedOperation,
    RenameFolder,
    Transfer,
)
from sync.ops.queue import remap
from sync.store import Store
from tests.ops.make_v0_store import RAW
from tests.store.helpers import record

FIXTURE = Path(__file__).parent / "data" / "queue-v0.sqlite"


# What tests/ops/make_v0_store.py queued (folder ids: INBOX 1, Archive 2, Old 5, Été 7).
EXPECTED: list[tuple[str, int | None, str, QueuedOperation, str]] = [
    ("flags", 1, "INBOX", FlagChange((1, 2), ("\\Seen",), ()), "+\\Seen on 2 messages in INBOX"),
    (
        "move",
        1,
        "INBOX",
        Transfer(
            "move",
            (3,),
            (-1,),
            ("<3@test.example>",),
            2,
            "Archive",
            None,
            (record(3, flags=("\\Flagged",)),),
        ),
        "move 1 message from INBOX to Archive",
    ),
    (
        "copy",
        1,
        "INBOX",
        Transfer("copy", (4,), (-2,), ("<4@test.example>",), 2, "Archive", None, ()),
        "copy 1 message from INBOX to Archive",
    ),
    (
        "expunge",
        1,
        "INBOX",
        Expunge((5,), (record(5, flags=("\\Flagged",)),)),
        "delete 1 message from INBOX for good",
    ),
    (
        "append",
        1,
        "INBOX",
        Append(RAW, ("\\Seen",), 1_700_000_000, -3, "<appended@test.example>", None),
        "add a message to INBOX",
    ),
    ("create_folder", 7, "&AMk-t&AOk-", CreateFolder(), "create folder Été"),
    ("rename_folder", 5, "Old", RenameFolder("New", "New", "Old"), "rename folder Old to New"),
    ("delete_folder", None, "Gone", DeleteFolder(), "delete folder Gone"),
    (
        "move",
        1,
        "INBOX",
        Transfer(
            "move",
            (6, 7),
            (-4, -5),
            ("<6@test.example>", "<7@test.example>"),
            2,
            "Archive",
            42,
            (record(6, flags=("\\Flagged",)), record(7, flags=("\\Flagged",))),
        ),
        "move 2 messages from INBOX to Archive",
    ),
]


def _shown(name: str | None) -> str:
    return decode_mailbox(name) if name is not None else "?"


async def test_a_store_queued_by_the_old_code_decodes_and_describes(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    shutil.copyfile(FIXTURE, path)  # opening it migrates it: never the checked-in file
    store = await Store.open(path)
    try:
        [account] = await store.accounts()
        rows = await store.pending_operations(account.id, include_failed=True)
        assert [op.payload.startswith('{"v"') for op in rows] == [False] * len(EXPECTED)
        ops = [load(row) for row in rows]
        assert [(op.kind, op.folder_id, op.folder_name, op.change) for op in ops] == [
            (kind, folder_id, folder_name, change)
            for kind, folder_id, folder_name, change, _ in EXPECTED
        ]
        assert [describe(op, _shown) for op in ops] == [words for *_, words in EXPECTED]
    finally:
        await store.close()


async def test_an_old_operation_is_rewritten_as_version_1_when_remapped(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    shutil.copyfile(FIXTURE, path)
    store = await Store.open(path)
    try:
        [account] = await store.accounts()
        async with store.write() as unit:
            # Messages 2 and 7 of INBOX gone: the flag change and the last move lose them.
            await remap(unit, account.id, 1, {2: None, 7: None}, after=0)
        rows = {op.id: op for op in await store.pending_operations(account.id)}
        assert rows[1].payload.startswith('{"v": 1') and rows[9].payload.startswith('{"v": 1')
        assert load(rows[1]).change == FlagChange((1,), ("\\Seen",), ())
        assert load(rows[9]).change == Transfer(
            "move",
            (6,),
            (-4,),
            ("<6@test.example>",),
            2,
            "Archive",
            42,
            (record(6, flags=("\\Flagged",)),),
        )
        assert not rows[2].payload.startswith('{"v"')  # untouched rows stay as they were
        # The move's provisional row of the lost message left its destination with it.
        assert await store.message(2, -5) is None and await store.message(2, -4) is not None
    finally:
        await store.close()
