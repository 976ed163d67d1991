"""The follow-ups of a send find their messages even after they moved, and a send the server
accepted is never repeated by the same process, even when recording it failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.compose import Draft, reply_draft
from sync.dovecot import MailUser
from sync.ops import Operations
from sync.outbox import ANSWERED, OutboxSender, queue_message
from sync.smtp import SendResult
from sync.store import Store, StoreError
from tests.outbox.helpers import account_for, engine, free_port, smtp_on, write_config
from tests.outbox.test_send import ORIGINAL
from tests.rig.device import Device


async def _folder_id(store: Store, name: str) -> int:
    [folder] = [f for f in await store.folders() if f.name == name]
    return folder.id


async def test_original_archived_while_the_reply_waits_still_gets_answered(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    raw = ORIGINAL.replace(b"{user}", mail_user.username.encode())
    uid = device.append("INBOX", raw)
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        sync = engine(account, store)
        await sync.run_once()
        inbox = await _folder_id(store, "INBOX")
        await queue_message(
            store, account, reply_draft(raw, account), original=(inbox, uid, "reply")
        )
        await Operations(store).archive(inbox, [uid])
        await sync.run_once()  # SMTP down: the archive goes up, the reply waits
        assert device.uids("INBOX") == []
        async with smtp_on(port, mail_user) as smtp:
            await sync.run_once()
            assert len(smtp.received) == 1
        [archived] = device.uids("Archive")
        assert ANSWERED in device.flags("Archive")[archived]
    finally:
        await store.close()


class _CommitFailsOnce(OutboxSender):
    """A sender whose first "sent" commit fails (a full disk, a lock held too long)."""

    failed = False

    async def _finish(self, account_id: int, outbox_id: int, result: SendResult) -> None:
        if not self.failed:
            self.failed = True
            raise StoreError("disk full")
        await super()._finish(account_id, outbox_id, result)


async def test_accepted_send_whose_commit_failed_is_recorded_not_resent(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        await engine(account, store).run_once()
        sender = _CommitFailsOnce(store, account)
        async with smtp_on(port, mail_user) as smtp:
            draft = Draft(from_=account.email, to=("ana@example.com",), subject="once", body="x")
            await queue_message(store, account, draft)
            with pytest.raises(StoreError):
                await sender.send_due()
            [item] = await store.outbox(1)
            assert item.state == "sending" and len(smtp.received) == 1
            await sender.send_due()  # records it; does not send it again
            assert len(smtp.received) == 1
            assert await store.outbox(1, include_failed=True) == []
            [sent] = await store.page(await _folder_id(store, "Sent"), after=None)
            assert sent.subject == "once"
    finally:
        await store.close()
