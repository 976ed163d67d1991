"""The offline outbox: queued while the SMTP server cannot be reached, sent once (and only
once) when it can; refusals kept with the server's words, retryable and discardable."""

from __future__ import annotations

import asyncio
import email.parser
import json
from pathlib import Path

import pytest

from sync.compose import Draft
from sync.config import parse_config
from sync.dovecot import MailUser
from sync.engine.runner import open_account_syncs
from sync.outbox import OutboxError, OutboxSender, discard_outgoing, queue_message, retry_outgoing
from sync.store import Store
from tests.engine.helpers import running_live
from tests.outbox.helpers import account_for, engine, free_port, smtp_on, write_config
from tests.rig.device import Device
from tests.waits import eventually
from tui.cli import main as cli_main


def _subject(raw: bytes) -> str:
    return str(email.parser.BytesHeaderParser().parsebytes(raw)["Subject"])


def _draft(to: str, subject: str = "Hello") -> Draft:
    return Draft(from_="me@example.org", to=(to,), subject=subject, body="Hi.\n")


async def test_queued_while_unreachable_then_delivered_exactly_once(
    mail_user: MailUser, device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = write_config(mail_user, tmp_path, port)
    account = account_for(config)
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        await engine(account, store).run_once()  # the folder list, while SMTP is down
        sender = OutboxSender(store, account, backoff_initial=60.0)
        outbox_id = await queue_message(store, account, _draft("ana@example.com"))
        retry_in = await sender.send_due()
        assert retry_in is not None and 0 < retry_in <= 60.0
        [item] = await store.outbox(1)
        assert (item.id, item.state, item.attempts) == (outbox_id, "queued", 1)
        assert item.last_error is not None and "cannot reach" in item.last_error
        assert await sender.send_due() == pytest.approx(retry_in, abs=2)  # waits its turn

        # Visible to `mailtui queue` (another process reading the same store).
        capsys.readouterr()
        assert await asyncio.to_thread(cli_main, ["--config", str(config), "queue", "--json"]) == 0
        [listed] = json.loads(capsys.readouterr().out)
        assert listed["type"] == "outgoing" and listed["id"] == outbox_id
        assert "cannot reach" in listed["error"]

        async with smtp_on(port, mail_user) as smtp:
            assert await sender.send_due(ignore_backoff=True) is None
            assert await sender.send_due(ignore_backoff=True) is None
            assert len(smtp.received) == 1
            assert await store.outbox(1, include_failed=True) == []
    finally:
        await store.close()


async def test_live_engine_sends_when_the_server_comes_back_and_when_queued(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        sender = OutboxSender(store, account, backoff_initial=0.2, backoff_max=0.5)
        sync = engine(account, store, sender)
        async with running_live(sync):
            await asyncio.wait_for(sync.wait_live(), 20)
            await queue_message(store, account, _draft("ana@example.com", "offline"))

            async def tried() -> bool:
                return any(item.attempts >= 1 for item in await store.outbox(1))

            await eventually(tried, what="a refused try")  # tried, refused, waiting to retry
            async with smtp_on(port, mail_user) as smtp:
                await eventually(
                    lambda: smtp.received and device.uids("Sent"),
                    within=10,
                    what="sent + Sent copy",
                )
                # Queued while online and reachable: out at once (the store announces it).
                await queue_message(store, account, _draft("bob@example.com", "online"))
                await eventually(lambda: len(device.uids("Sent")) >= 2, within=10, what="2 sent")
                await asyncio.sleep(0.3)  # a duplicate send, if there were one, lands meanwhile
                subjects = sorted(_subject(r.content) for r in smtp.received)
                assert subjects == ["offline", "online"]  # each exactly once
        assert await store.outbox(1, include_failed=True) == []
    finally:
        await store.close()


async def test_refused_recipient_stays_failed_with_the_server_words(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        sync = engine(account, store)
        await sync.run_once()
        async with smtp_on(port, mail_user) as smtp:
            outbox_id = await queue_message(store, account, _draft("nobody@example.invalid"))
            await sync.run_once()
            assert smtp.received == []
            assert await store.outbox(1) == []  # not due any more...
            [item] = await store.outbox(1, include_failed=True)  # ...but kept
            assert item.failed and item.state == "failed"
            assert item.last_error is not None
            assert "550" in item.last_error and "User unknown" in item.last_error
            assert device.uids("Sent") == []
            sender = OutboxSender(store, account)
            assert await sender.send_due(ignore_backoff=True) is None  # parked: not resent
            assert smtp.received == []

            await retry_outgoing(store, outbox_id)
            await sender.send_due()
            [item] = await store.outbox(1, include_failed=True)
            assert item.failed and item.attempts == 1  # tried again, refused again

            await discard_outgoing(store, outbox_id)
            assert await store.outbox(1, include_failed=True) == []
            with pytest.raises(OutboxError):
                await discard_outgoing(store, outbox_id)
    finally:
        await store.close()


async def test_refused_login_stays_failed_with_the_server_words(
    mail_user: MailUser, tmp_path: Path
) -> None:
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port, "save_sent = false\n"))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        async with smtp_on(port, mail_user, accept_login=False) as smtp:
            await queue_message(store, account, _draft("ana@example.com"))
            assert await OutboxSender(store, account).send_due() is None
            [item] = await store.outbox(1, include_failed=True)
            assert item.failed and item.last_error is not None
            assert "refused the login" in item.last_error and "535" in item.last_error
            assert smtp.received == []
    finally:
        await store.close()


async def test_mailtui_sync_once_sends_the_outbox(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    port = free_port()
    config_file = write_config(mail_user, tmp_path, port)
    config = parse_config(config_file.read_text(encoding="utf-8"), config_file)
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        async with smtp_on(port, mail_user) as smtp:
            await queue_message(store, config.accounts[0], _draft("ana@example.com"))
            with open_account_syncs(config, store, tmp_path) as run:  # as `mailtui sync` does
                await run.run_once()  # the folder list first, then the outbox, then the replay
            assert len(smtp.received) == 1
            assert len(device.uids("Sent")) == 1
    finally:
        await store.close()
