"""The queue view's side of the backend: what is queued, and retrying or discarding it.

Queued changes (the operations queue) and outgoing messages (the outbox) are listed together,
per account; a failed one can be queued again or discarded, one held back by a temporary
failure tried now. The outbox's SMTP side loads only when a message is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from sync.imap import decode_mailbox
from sync.ops.describe import describe
from sync.store import OutgoingMessage, Store
from tui.backend.supervisor import EngineSupervisor
from tui.protocol import QueueItem

if TYPE_CHECKING:
    from sync.ops import Operations

__all__ = ["QueueControl"]


class QueueControl:
    """Lists, retries and discards the queued changes and outgoing mail of every account."""

    def __init__(self, store: Store, supervisor: EngineSupervisor, operations: Operations) -> None:
        self.store = store
        self.supervisor = supervisor
        self.operations = operations

    async def queue_items(self) -> Sequence[QueueItem]:
        """Every account's queued operations (replay order), then its outbox (queue order)."""
        shown = {(f.account_id, f.name): f.display_name for f in await self.store.folders()}
        items: list[QueueItem] = []
        for runtime in self.supervisor.accounts.values():
            account_id, account = runtime.info.id, runtime.info.name

            def folder_name(name: str | None, account_id: int = account_id) -> str:
                if name is None:
                    return "?"
                # A folder deleted meanwhile is named as the operation recorded it.
                return shown.get((account_id, name)) or decode_mailbox(name)

            for op in await self.store.pending_operations(account_id, include_failed=True):
                items.append(
                    QueueItem(
                        kind="operation",
                        id=op.id,
                        account=account,
                        description=describe(op, folder_name),
                        state="failed" if op.failed else "pending",
                        attempts=op.attempts,
                        error=op.last_error,
                        next_attempt_at=op.next_attempt_at,
                    )
                )
            for message in await self.store.outbox(account_id, include_failed=True):
                state: Literal["pending", "sending", "failed"] = "pending"
                if message.failed:
                    state = "failed"
                elif message.state == "sending":
                    state = "sending"
                items.append(
                    QueueItem(
                        kind="outgoing",
                        id=message.id,
                        account=account,
                        description=outgoing_description(message),
                        state=state,
                        attempts=message.attempts,
                        error=message.last_error,
                        next_attempt_at=message.next_attempt_at,
                    )
                )
        return items

    async def retry(self, item: QueueItem) -> str:
        """A failed item is queued again (a change is made again locally and goes to the end
        of the queue); one held back by a temporary failure is tried now."""
        if item.kind == "outgoing":
            return await self._retry_outgoing(item)
        async with self.store.write() as unit:
            op = await unit.operation(item.id)
            if op is not None and not op.failed and op.next_attempt_at is not None:
                # In its place (later changes may depend on it): only the wait is cut short.
                await unit.retry_operation(op.id)
                return "Trying that change again now"
        if op is None:
            return "That change is no longer queued: it went out, or was dropped"
        if not op.failed:
            return "That change is waiting its turn already"
        await self.operations.retry(op.id)
        return "Queued that change again: it is made here again and goes to the server"

    async def _retry_outgoing(self, item: QueueItem) -> str:
        from sync.outbox import retry_outgoing  # the SMTP side loads only when used

        async with self.store.write() as unit:
            message = await unit.outgoing(item.id)
        if message is None:
            return "That message is no longer in the outbox: it was sent, or discarded"
        if message.failed:
            await retry_outgoing(self.store, message.id)
            return "Queued that message again: it is sent at the next chance"
        if message.state == "sending":
            return "That message is being sent now"
        runtime = self.supervisor.by_id.get(message.account_id)
        sender = runtime.sync.outbox if runtime is not None and runtime.sync else None
        if sender is None:
            if runtime is not None and runtime.config.smtp_host is None:
                return f"{runtime.info.name} has no outgoing mail server set up"
            return "That message goes out from the mailtui that syncs this account"
        if message.next_attempt_at is None:
            return "That message is waiting its turn already"

        async def send_now() -> None:
            await sender.send_due(ignore_backoff=True)

        # The engine's own sender (it holds a lock): what it does when a connection is back.
        self.supervisor.spawn("Sending the outbox", send_now())
        return "Sending the outbox now"

    async def discard(self, item: QueueItem) -> str:
        """Forget a failed operation (it was rolled back when the server refused it) or a
        failed outgoing message. Raises when it is not failed: it may be going out."""
        from sync.ops import OperationsError

        if item.kind == "operation":
            async with self.store.write() as unit:
                op = await unit.operation(item.id)
            if op is None:
                return "That change is no longer queued"
            if not op.failed:
                raise OperationsError("that change is not failed: it may be going out now")
            await self.operations.discard(op.id)
            return "Discarded the change: it will not be sent"
        async with self.store.write() as unit:
            message = await unit.outgoing(item.id)
            if message is None:
                return "That message is no longer in the outbox"
            if not message.failed:
                raise OperationsError("that message is not failed: it may be going out now")
            # Checked and removed in one unit: a retry from elsewhere cannot slip between.
            await unit.discard_outgoing(message.id)
        return "Discarded the message: it will not be sent"


def outgoing_description(message: OutgoingMessage) -> str:
    """``send "Subject" to a@x, b@y and 3 more`` (uncleaned: the screen cleans it)."""
    from sync.ops import record_from_raw

    subject = record_from_raw(message.raw, 0, (), 0).subject or "(no subject)"
    recipients = list(message.recipients)
    to = ", ".join(recipients[:3])
    if len(recipients) > 3:
        to += f" and {len(recipients) - 3} more"
    return f'send "{subject}" to {to}'
