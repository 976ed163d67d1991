"""An operation this code cannot read ends failed and shown, never a crash or a silent drop."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.ops import Operations, OperationsError
from sync.ops.describe import describe
from sync.store import Store
from sync.store.events import OperationFailed
from tests.ops.helpers import engine
from tests.rig.corpus import make_message
from tests.rig.device import Device


async def test_unknown_kind_and_garbage_payload_are_parked_as_failed(
    mail_user: MailUser, device: Device, store: Store, data_dir: Path
) -> None:
    device.append("INBOX", make_message(1))
    sync = engine(mail_user, store, data_dir)
    await sync.run_once()
    [inbox] = [row for row in await store.folders() if row.name == "INBOX"]
    async with store.write() as unit:
        # As a newer version, or a damaged file, could leave them.
        unknown = await unit.enqueue_operation(
            inbox.account_id, "teleport", folder_id=inbox.id, folder_name="INBOX"
        )
        garbage = await unit.enqueue_operation(
            inbox.account_id, "flags", folder_id=inbox.id, folder_name="INBOX", payload="{uids"
        )
    ops = Operations(store)
    flagged = await ops.flag(inbox.id, [1])  # queued behind them: must not be wedged
    with store.events.subscribe() as heard:
        await sync.run_once()
        events = list(iter(heard.get_nowait, None))

    failures = [event for event in events if isinstance(event, OperationFailed)]
    assert [(event.operation_id, event.kind) for event in failures] == [
        (unknown, "teleport"),
        (garbage, "flags"),
    ]
    parked = await store.pending_operations(inbox.account_id, include_failed=True)
    assert [(op.id, op.failed, op.last_error) for op in parked] == [
        (unknown, True, "unreadable operation: unknown operation kind 'teleport'"),
        (
            garbage,
            True,
            "unreadable operation: flags payload is not JSON:"
            " Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
    ]
    assert [describe(op) for op in parked] == ["teleport", "flags"]
    assert flagged.operation_id not in {op.id for op in parked}
    assert device.flags("INBOX") == {1: frozenset({"\\Flagged"})}
    # Shown for what they are: not retryable, but discardable.
    with pytest.raises(OperationsError, match="unknown operation kind 'teleport'"):
        await ops.retry(unknown)
    for op in parked:
        await ops.discard(op.id)
    assert await store.pending_operations(inbox.account_id, include_failed=True) == []
