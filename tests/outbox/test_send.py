"""A reply and a draft, end to end: real Dovecot, real SMTP (aiosmtpd) on loopback.

What another device sees is read with stdlib imaplib (``tests.rig.device``).
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
from pathlib import Path

from sync.compose import Draft, reply_draft
from sync.dovecot import MailUser
from sync.outbox import (
    ANSWERED,
    FORWARDED,
    draft_bytes,
    draft_from_raw,
    queue_message,
    resume_draft,
    save_draft,
)
from sync.store import Store
from tests.outbox.helpers import account_for, engine, free_port, smtp_on, write_config
from tests.rig.device import Device

ORIGINAL = (
    b"From: Ana <ana@example.com>\r\n"
    b"To: Test User <{user}@example.org>\r\n"
    b"Subject: Lunch on Friday?\r\n"
    b"Message-ID: <lunch-1@example.com>\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n"
)


def _headers(raw: bytes) -> email.message.EmailMessage:
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _uid_of(device: Device, folder: str, message_id: str) -> list[int]:
    return [uid for uid, value in device.message_ids(folder).items() if message_id in value]


async def _folder_id(store: Store, name: str) -> int:
    for folder in await store.folders():
        if folder.name == name:
            return folder.id
    raise AssertionError(f"no folder {name}")


async def test_reply_is_sent_filed_in_sent_and_answers_the_original(
    any_user: MailUser, any_device: Device, tmp_path: Path
) -> None:
    mail_user, device = any_user, any_device  # the full server and one without extensions
    raw_original = ORIGINAL.replace(b"{user}", mail_user.username.encode())
    original_uid = device.append("INBOX", raw_original)
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        async with smtp_on(port, mail_user) as smtp:
            sync = engine(account, store)
            await sync.run_once()
            inbox = await _folder_id(store, "INBOX")
            draft = reply_draft(raw_original, account)
            draft = dataclasses.replace(
                draft, body="Noon is fine.\n\n" + draft.body, bcc=("Boss <boss@example.net>",)
            )
            outbox_id = await queue_message(
                store, account, draft, original=(inbox, original_uid, "reply")
            )
            queued = await store.outbox((await store.accounts())[0].id)
            assert [item.id for item in queued] == [outbox_id]
            assert smtp.received == []  # queued, not sent yet

            await sync.run_once()  # sends, then replays the Sent copy and \Answered

            [received] = smtp.received
            assert sorted(received.rcpt_tos) == ["ana@example.com", "boss@example.net"]
            wire = _headers(received.content)
            assert wire["In-Reply-To"] == "<lunch-1@example.com>"
            assert wire["Bcc"] is None  # only in the envelope (RFC 5322 §3.6.3)
            assert "Noon is fine." in wire.get_content()
            message_id = str(wire["Message-ID"])

            # Another device: one copy in Sent, read, with its Bcc; the original answered.
            [sent_uid] = _uid_of(device, "Sent", message_id)
            assert "\\Seen" in device.flags("Sent")[sent_uid]
            sent_copy = _headers(device.fetch_raw("Sent", sent_uid))
            assert "boss@example.net" in str(sent_copy["Bcc"])
            assert ANSWERED in device.flags("INBOX")[original_uid]
            assert FORWARDED not in device.flags("INBOX")[original_uid]

            # Here: the outbox is empty, nothing waits, and the store shows the same.
            account_id = (await store.accounts())[0].id
            assert await store.outbox(account_id, include_failed=True) == []
            assert await store.pending_operations(account_id, include_failed=True) == []
            row = await store.message(inbox, original_uid)
            assert row is not None and ANSWERED in row.flags
            await sync.run_once()
            assert len(smtp.received) == 1  # never twice
            sent_rows = await store.page(await _folder_id(store, "Sent"), after=None)
            assert [r.message_id for r in sent_rows] == [message_id]
            assert sent_rows[0].uid > 0 and sent_rows[0].seen
    finally:
        await store.close()


async def test_forward_flags_the_original_forwarded_and_save_sent_false_files_nothing(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    raw_original = ORIGINAL.replace(b"{user}", mail_user.username.encode())
    original_uid = device.append("INBOX", raw_original)
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port, "save_sent = false\n"))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        async with smtp_on(port, mail_user) as smtp:
            sync = engine(account, store)
            await sync.run_once()
            inbox = await _folder_id(store, "INBOX")
            draft = Draft(
                from_=account.email, to=("carol@example.com",), subject="Fwd: Lunch", body="fyi\n"
            )
            await queue_message(store, account, draft, original=(inbox, original_uid, "forward"))
            await sync.run_once()
            assert len(smtp.received) == 1
            assert device.uids("Sent") == []  # the server files its own copy
            flags = device.flags("INBOX")[original_uid]
            assert FORWARDED in flags and ANSWERED not in flags
    finally:
        await store.close()


async def test_draft_is_saved_replaced_resumed_sent_and_removed(
    any_user: MailUser, any_device: Device, tmp_path: Path
) -> None:
    mail_user, device = any_user, any_device  # the full server and one without extensions
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        async with smtp_on(port, mail_user) as smtp:
            sync = engine(account, store)
            await sync.run_once()
            drafts = await _folder_id(store, "Drafts")
            first = Draft(from_=account.email, subject="Plan", body="version one\n")  # no To yet
            saved = await save_draft(store, account, first)
            again = dataclasses.replace(first, to=("dan@example.com",), body="version two\n")
            saved = await save_draft(store, account, again, replace_uid=saved.provisional[0])
            await sync.run_once()

            # The server has the second version only, as a draft.
            [server_uid] = device.uids("Drafts")
            assert "\\Draft" in device.flags("Drafts")[server_uid]
            assert b"version two" in device.fetch_raw("Drafts", server_uid)

            # Resumed here, under the UID the server gave it.
            [row] = await store.page(drafts, after=None)
            assert row.uid == server_uid
            raw, resumed = await resume_draft(store, account, drafts, row.uid)
            assert b"version two" in raw
            assert resumed.to == ("dan@example.com",)
            assert resumed.subject == "Plan" and "version two" in resumed.body

            await queue_message(
                store,
                account,
                dataclasses.replace(resumed, body="final words\n"),
                draft_uid=row.uid,
            )
            await sync.run_once()
            [received] = smtp.received
            assert received.rcpt_tos == ["dan@example.com"]
            assert "final words" in _headers(received.content).get_content()
            assert device.uids("Drafts") == []  # removed once sent
            assert len(device.uids("Sent")) == 1
            assert await store.page(drafts, after=None) == []
    finally:
        await store.close()


async def test_a_draft_from_another_device_resumes_as_the_reply_it_was(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    raw_original = ORIGINAL.replace(b"{user}", mail_user.username.encode())
    original_uid = device.append("INBOX", raw_original)
    phone_draft = (
        f"From: Test User <{mail_user.username}@example.org>\r\n"
        "To: Ana <ana@example.com>\r\n"
        "Subject: Re: Lunch on Friday?\r\n"
        "In-Reply-To: <lunch-1@example.com>\r\n"
        "References: <lunch-1@example.com>\r\n"
        "Message-ID: <phone-draft@example.org>\r\n"
        "\r\n"
        "Started on the phone\r\n"
    ).encode()
    device.append("Drafts", phone_draft, ["\\Draft"])
    port = free_port()
    account = account_for(write_config(mail_user, tmp_path, port))
    store = await Store.open(tmp_path / "mailtui.sqlite3")
    try:
        async with smtp_on(port, mail_user) as smtp:
            sync = engine(account, store)
            await sync.run_once()
            drafts = await _folder_id(store, "Drafts")
            [row] = await store.page(drafts, after=None)
            _, resumed = await resume_draft(store, account, drafts, row.uid)
            assert resumed.reply_kind == "reply"
            assert resumed.in_reply_to == resumed.source_message_id == "<lunch-1@example.com>"
            assert "Started on the phone" in resumed.body
            finished = dataclasses.replace(resumed, body=resumed.body + "\nand finished here\n")
            await queue_message(store, account, finished, draft_uid=row.uid)
            await sync.run_once()
            [received] = smtp.received
            assert _headers(received.content)["References"] == "<lunch-1@example.com>"
            # The original, found by its Message-ID, is answered; the phone's draft is gone.
            assert ANSWERED in device.flags("INBOX")[original_uid]
            assert device.uids("Drafts") == []
    finally:
        await store.close()


def test_draft_text_round_trips_through_the_drafts_form(tmp_path: Path) -> None:
    account = account_for(write_config_for_offline(tmp_path))
    attachment = tmp_path / "notes.txt"
    attachment.write_bytes(b"line one\n")
    draft = Draft(
        from_=f"Test User <{account.email}>",
        cc=("Éva <eva@example.com>",),
        bcc=("hidden@example.net",),
        subject="Notes",
        body="See the notes.\n",
        attachments=(attachment,),
        reply_kind="forward",
        source_message_id="<orig@example.com>",
    )
    back = draft_from_raw(draft_bytes(draft, account), account)
    assert back.to == () and back.cc == ("Éva <eva@example.com>",)
    assert back.bcc == ("hidden@example.net",)
    assert back.subject == "Notes" and back.body.strip() == "See the notes."
    assert back.reply_kind == "forward" and back.source_message_id == "<orig@example.com>"
    assert [(part.filename, part.data) for part in back.carried] == [("notes.txt", b"line one\n")]


def write_config_for_offline(tmp_path: Path) -> Path:
    """A config whose servers are never contacted (for pure functions)."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[accounts.test]\nemail = "me@example.org"\n'
        'imap_host = "127.0.0.1"\nimap_security = "none"\nusername = "me"\n'
        'password = "x"\nsmtp_host = "127.0.0.1"\nsmtp_security = "none"\n',
        encoding="utf-8",
    )
    return path
