"""The offline outbox, the Sent copy and Drafts: sending that is durable and exactly-once.

``queue_message`` puts a message in the store's outbox in one transaction together with what
must happen once it is sent (the ``after_send`` record): the copy in the special-use Sent
folder (RFC 6154) marked ``\\Seen``, ``\\Answered`` or ``$Forwarded`` on the original, and the
removal of the draft it was written from. ``OutboxSender.send_due`` (run by the engine)
submits every due message over SMTP (``sync.smtp``) and, in ONE transaction with marking it
sent, queues those follow-ups as local operations (``sync.ops``): optimistic in the store at
once, replayed to the IMAP server in order.

Every message is marked ``sending`` (committed) before its first byte goes to the SMTP
server. A message found ``sending`` that this sender is not handling (its process was killed,
or the send was cancelled) is queued again: the moment between the server's 250 and our
commit cannot be told from a transfer that failed, and losing mail is worse than a rare
duplicate with the same Message-ID (docs/decisions/0004-outbox.md).

Drafts: ``save_draft`` files a draft in the Drafts folder (replacing the previous version);
``resume_draft`` gives back the raw draft and a ``Draft`` to edit, also for drafts made on
another device.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.parser
import email.policy
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Final

from sync.backoff import backoff_ceiling
from sync.compose import (
    CarriedPart,
    Draft,
    ReplyKind,
    build_message,
    envelope,
    format_address,
    message_bytes,
)
from sync.config import AccountConfig
from sync.mime import parse_message
from sync.ops import Operations, Queued
from sync.smtp import SendError, SendResult, send_message
from sync.store import FolderRow, Store, StoreWriter

__all__ = [
    "ANSWERED",
    "DRAFT_INFO_HEADER",
    "FORWARDED",
    "AfterSend",
    "DraftNotAvailable",
    "MessageRef",
    "OutboxError",
    "OutboxSender",
    "discard_outgoing",
    "draft_bytes",
    "draft_from_raw",
    "queue_message",
    "resume_draft",
    "retry_outgoing",
    "save_draft",
]

log = logging.getLogger(__name__)

ANSWERED: Final = "\\Answered"  # RFC 3501 §2.3.2
FORWARDED: Final = "$Forwarded"  # the keyword clients agree on (IANA IMAP keywords registry)
SEEN: Final = "\\Seen"
# Our own header in the Drafts copy only (a sent message is built again from the Draft):
# how to resume it as the reply or forward it was, e.g. "forward; source=<id@host>".
DRAFT_INFO_HEADER: Final = "X-Mailtui-Draft-Info"
# Recorded on a message that was found "sending" with nobody sending it.
INTERRUPTED: Final = (
    "interrupted while being sent; sent again (if the server had already accepted it, the"
    " recipients get it twice, with the same Message-ID)"
)
_NO_FOLDERS_YET: Final = 5.0  # seconds to wait for the folder list before a first send

Original = tuple[int, int, ReplyKind]
"""The message a reply or forward answers: (folder id, UID, reply kind)."""
SendFunction = Callable[[bytes, AccountConfig], Awaitable[SendResult]]


class OutboxError(Exception):
    """The outbox cannot do what was asked (no such message, or it is being sent)."""


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message recorded at queue time: where it was, and its Message-ID to find it again
    (it may have moved, or its provisional UID become the server's since)."""

    folder_id: int | None
    uid: int | None
    message_id: str | None

    def to_dict(self) -> dict[str, int | str | None]:
        """The JSON form (the keys the outbox has always stored)."""
        return {"folder_id": self.folder_id, "uid": self.uid, "message_id": self.message_id}

    @classmethod
    def from_dict(cls, value: object) -> MessageRef | None:
        """Read the JSON form back; None for anything that is not one."""
        if not isinstance(value, dict):
            return None
        folder_id, uid, message_id = (
            value.get("folder_id"),
            value.get("uid"),
            value.get("message_id"),
        )
        ref = cls(
            folder_id if isinstance(folder_id, int) else None,
            uid if isinstance(uid, int) else None,
            message_id if isinstance(message_id, str) else None,
        )
        return None if ref == cls(None, None, None) else ref


@dataclass(frozen=True, slots=True)
class AfterSend:
    """What the outbox does once a message is sent (the ``after_send`` column, as JSON):
    set ``original_flag`` (\\Answered or $Forwarded) on the message it answers, and remove
    the draft it was written from. Recorded with the message in one transaction."""

    original: MessageRef | None = None
    original_flag: str | None = None
    draft: MessageRef | None = None

    def to_json(self) -> str:
        """The stored form: ``{"original": {..., "flag": ...}, "draft": {...}}``."""
        stored: dict[str, dict[str, int | str | None]] = {}
        if self.original is not None:
            stored["original"] = {**self.original.to_dict(), "flag": self.original_flag}
        if self.draft is not None:
            stored["draft"] = self.draft.to_dict()
        return json.dumps(stored)

    @classmethod
    def from_json(cls, text: str | None) -> AfterSend:
        """Read the stored form (every row written since schema version 5); a row that
        cannot be read means no follow-up, never a failed send: the message went out."""
        try:
            stored = json.loads(text or "{}")
        except ValueError:
            log.warning("unreadable follow-ups of a sent message: %r", (text or "")[:200])
            return cls()
        if not isinstance(stored, dict):
            return cls()
        original = stored.get("original")
        flag = original.get("flag") if isinstance(original, dict) else None
        return cls(
            MessageRef.from_dict(original),
            flag if isinstance(flag, str) else None,
            MessageRef.from_dict(stored.get("draft")),
        )


class DraftNotAvailable(Exception):
    """The draft's body is not in the store and could not be fetched."""


def _flag_for(kind: ReplyKind) -> str:
    if kind in ("forward", "forward_attachment"):
        return FORWARDED
    if kind in ("reply", "reply_all"):
        return ANSWERED
    raise ValueError(f"a {kind!r} message answers no original")


async def _special(store: Store, account_id: int, use: str) -> FolderRow | None:
    for folder in await store.folders(account_id):
        if folder.special_use == use:
            return folder
    return None


# -- queueing -------------------------------------------------------------------------------


async def queue_message(
    store: Store,
    account: AccountConfig,
    message_or_draft: Draft | EmailMessage | bytes,
    *,
    original: Original | None = None,
    draft_uid: int | None = None,
) -> int:
    """Put a message in the outbox, durably, and return its outbox id.

    ``message_or_draft`` is a ``Draft`` (built here, with a new Message-ID), a built message,
    or its bytes (Bcc kept: it is the sender's copy). ``original`` is the message it answers
    (its flag is set once sent); without it, a Draft's ``source_message_id`` is looked up by
    Message-ID at that time. ``draft_uid`` is the UID in the Drafts folder of the draft this
    message was written from: it is removed once the message is sent (not before: a message
    that fails keeps its draft). One store transaction: the message and these follow-ups are
    recorded together. Raises ``ComposeError`` for a message that cannot be sent (no
    recipient, bad address, unreadable attachment) and ``OutboxError`` for an unknown
    original or a missing Drafts folder.
    """
    if isinstance(message_or_draft, Draft):
        # Attachments are read from disk: off the event loop.
        message = await asyncio.to_thread(build_message, message_or_draft, account)
        raw = message_bytes(message)
    elif isinstance(message_or_draft, EmailMessage):
        raw = message_bytes(message_or_draft)
    else:
        raw = bytes(message_or_draft)
    sender, recipients = envelope(raw)  # ComposeError before anything is stored

    original_ref: MessageRef | None = None
    original_flag: str | None = None
    draft_ref: MessageRef | None = None
    async with store.write() as unit:
        account_id = await unit.ensure_account(account.name, account.email)
        if original is not None:
            folder_id, uid, kind = original
            rows = await unit.messages(folder_id, [uid])
            if not rows:
                raise OutboxError(f"no message {uid} in folder {folder_id} to answer")
            original_ref = MessageRef(folder_id, uid, rows[0].message_id)
            original_flag = _flag_for(kind)
        elif (
            isinstance(message_or_draft, Draft)
            and message_or_draft.source_message_id
            and message_or_draft.reply_kind != "new"
        ):
            # A resumed draft (perhaps from another device): the original by Message-ID.
            original_ref = MessageRef(None, None, message_or_draft.source_message_id)
            original_flag = _flag_for(message_or_draft.reply_kind)
        if draft_uid is not None:
            drafts = await _special(store, account_id, "\\Drafts")
            if drafts is None:
                raise OutboxError("this account has no Drafts folder")
            rows = await unit.messages(drafts.id, [draft_uid])
            draft_ref = MessageRef(drafts.id, draft_uid, rows[0].message_id if rows else None)
        after = AfterSend(original_ref, original_flag, draft_ref)
        return await unit.queue_outgoing(
            account_id, raw, sender, recipients, after_send=after.to_json()
        )


async def retry_outgoing(store: Store, outbox_id: int) -> None:
    """Queue a failed message again, to be sent at the next chance (after the user fixed
    the address or the password)."""
    async with store.write() as unit:
        if not await unit.retry_outgoing(outbox_id):
            raise OutboxError(f"no failed outgoing message {outbox_id}")


async def discard_outgoing(store: Store, outbox_id: int) -> None:
    """Drop a queued or failed message for good (its draft, if any, stays in Drafts)."""
    async with store.write() as unit:
        if not await unit.discard_outgoing(outbox_id):
            raise OutboxError(f"no outgoing message {outbox_id}, or it is being sent")


# -- sending --------------------------------------------------------------------------------


class OutboxSender:
    """Sends one account's outbox. Only the process holding the account's lock runs one
    (``sync.engine.runner``), so a ``sending`` message it does not handle is an orphan."""

    def __init__(
        self,
        store: Store,
        account: AccountConfig,
        *,
        secret: Callable[[], Awaitable[str]] | None = None,
        send: SendFunction | None = None,
        backoff_initial: float = 30.0,
        backoff_max: float = 1800.0,
        max_attempts: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.account = account
        self.operations = Operations(store)
        self._secret = secret
        self._send_function = send
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._max_attempts = max_attempts
        self._clock = clock
        self._lock = asyncio.Lock()
        self._account_id: int | None = None
        # Accepted by the SMTP server but not recorded yet (the commit failed): finish
        # these, never send them again.
        self._accepted: dict[int, SendResult] = {}

    async def _account(self) -> int:
        if self._account_id is None:
            async with self.store.write() as unit:
                self._account_id = await unit.ensure_account(self.account.name, self.account.email)
        return self._account_id

    async def _send(self, raw: bytes) -> SendResult:
        if self._send_function is not None:
            return await self._send_function(raw, self.account)
        secret = await self._secret() if self._secret is not None else None
        return await send_message(raw, self.account, secret=secret)

    def _delay(self, attempts: int) -> float:
        return backoff_ceiling(attempts, self._backoff_initial, self._backoff_max)

    async def send_due(self, *, ignore_backoff: bool = False) -> float | None:
        """Send every message that is due; return the seconds until the next one is (None:
        nothing waits). ``ignore_backoff`` also sends those waiting after a temporary
        failure (the engine passes it when a connection has just come back).

        A refusal that sending again cannot fix (``SendError.permanent``: a refused
        recipient, a refused login) parks the message as failed with the server's words;
        a temporary one waits with exponential backoff, and so do the messages behind it
        when the server cannot be reached at all.
        """
        async with self._lock:
            account_id = await self._account()
            for outbox_id, result in list(self._accepted.items()):
                await self._finish(account_id, outbox_id, result)
            orphans: list[int] = []
            queue = await self.store.outbox(account_id)
            if any(item.state == "sending" for item in queue):  # no write when none
                async with self.store.write() as unit:
                    orphans = await unit.outgoing_requeue(account_id, INTERRUPTED)
            if orphans:
                log.warning(
                    "%s: %d message(s) were interrupted while being sent; sending again",
                    self.account.name,
                    len(orphans),
                )
            if self.account.save_sent and not await self.store.folders(account_id):
                # The folder list has never been synced: nowhere to file the Sent copy yet.
                return _NO_FOLDERS_YET if queue else None
            next_due: float | None = None
            unreachable = False
            for item in await self.store.outbox(account_id):
                now = self._clock()
                waiting = item.next_attempt_at is not None and item.next_attempt_at > now
                if waiting and not ignore_backoff:
                    assert item.next_attempt_at is not None
                    due = item.next_attempt_at - now
                    next_due = due if next_due is None else min(next_due, due)
                    continue
                if unreachable:  # one refused connection per pass, not one per message
                    next_due = self._delay(0) if next_due is None else next_due
                    continue
                async with self.store.write() as unit:
                    if not await unit.outgoing_sending(item.id):
                        continue  # discarded or parked meanwhile
                try:
                    result = await self._send(item.raw)
                except SendError as exc:
                    retry_in = await self._failed(item.id, item.attempts, exc)
                    if retry_in is not None:
                        next_due = retry_in if next_due is None else min(next_due, retry_in)
                    unreachable = exc.kind == "connection"
                    continue
                self._accepted[item.id] = result
                await self._finish(account_id, item.id, result)
            return next_due

    async def _failed(self, outbox_id: int, attempts: int, exc: SendError) -> float | None:
        # Being offline is normal: a connection failure never parks a message. A 4xx reply
        # (greylisting, a full mailbox) does after max_attempts, with the server's words.
        give_up = exc.permanent or (exc.kind != "connection" and attempts + 1 >= self._max_attempts)
        delay = None if give_up else self._delay(attempts)
        async with self.store.write() as unit:
            await unit.outgoing_failed(
                outbox_id,
                exc.message,
                next_attempt_at=None if delay is None else int(self._clock() + delay) + 1,
                give_up=give_up,
            )
        log.info(
            "%s: sending outbox message %d failed (%s): %s",
            self.account.name,
            outbox_id,
            "kept as failed" if give_up else f"retrying in {delay:.0f} s",
            exc.message,
        )
        return delay

    async def _finish(self, account_id: int, outbox_id: int, result: SendResult) -> None:
        """One transaction: the message leaves the outbox, and its follow-ups are queued."""
        async with self.store.write() as unit:
            item = await unit.outgoing(outbox_id)
            if item is None:  # finished by an earlier attempt whose commit did go through
                self._accepted.pop(outbox_id, None)
                return
            await unit.outgoing_sent(outbox_id)
            after = AfterSend.from_json(item.after_send)
            if self.account.save_sent:
                sent = await _special(self.store, account_id, "\\Sent")
                if sent is None:
                    log.warning("%s: no Sent folder; no copy kept", self.account.name)
                else:
                    # RFC 3501 §6.3.11 APPEND, through the ops queue: shows at once,
                    # reaches the server in order. The copy keeps its Bcc header.
                    await self.operations._append(unit, sent.id, item.raw, [SEEN], None)
            if after.original is not None and after.original_flag:
                found = await _locate(unit, account_id, after.original)
                if found is not None:
                    await self.operations._flags(
                        unit, found[0], [found[1]], [after.original_flag], []
                    )
            if after.draft is not None:
                found = await _locate(unit, account_id, after.draft)
                folder = await self.store.folder(found[0]) if found is not None else None
                if found is not None and folder is not None:
                    await self.operations._expunge(unit, folder, [found[1]])
        self._accepted.pop(outbox_id, None)
        log.info("%s: sent %s: %s", self.account.name, result.message_id, result.response)


async def _locate(unit: StoreWriter, account_id: int, where: MessageRef) -> tuple[int, int] | None:
    """Where a message recorded at queue time is now: at its (folder, UID) if that is still
    the same message, else wherever its Message-ID is (it was moved, or its provisional UID
    became a real one since)."""
    folder_id, uid, message_id = where.folder_id, where.uid, where.message_id
    if folder_id is not None and uid is not None:
        rows = await unit.messages(folder_id, [uid])
        if rows and (message_id is None or rows[0].message_id == message_id):
            return folder_id, uid
    if not message_id:
        return None
    found = await unit.find_messages(account_id, message_id)
    same_folder = [pair for pair in found if pair[0] == folder_id]
    candidates = same_folder or found
    return candidates[0] if candidates else None


# -- drafts ---------------------------------------------------------------------------------


def draft_bytes(draft: Draft, account: AccountConfig) -> bytes:
    """The Drafts-folder form of ``draft``: the message it would send (attachments read,
    Bcc kept, a new Message-ID), also when it has no recipient yet, plus
    ``X-Mailtui-Draft-Info`` saying what it answers. Reads files: call it in a thread."""
    placeholder = not (draft.to or draft.cc or draft.bcc)
    # build_message insists on a recipient; a draft need not have one yet.
    buildable = (
        dataclasses.replace(draft, to=(draft.from_ or account.email,)) if placeholder else draft
    )
    message = build_message(buildable, account)
    if placeholder:
        del message["To"]
    if draft.reply_kind != "new" or draft.source_message_id:
        info: str = draft.reply_kind
        if draft.source_message_id:
            info += f"; source={draft.source_message_id}"
        message[DRAFT_INFO_HEADER] = info
    return message_bytes(message)


async def save_draft(
    store: Store, account: AccountConfig, draft: Draft, *, replace_uid: int | None = None
) -> Queued:
    """File ``draft`` in the Drafts folder (``\\Draft \\Seen``), removing the version at
    ``replace_uid`` in the same transaction; the new version's (provisional) UID is
    ``Queued.provisional[0]``: pass it as ``replace_uid`` next time, or as ``draft_uid`` to
    ``queue_message`` when sending. Raises ``OperationsError`` without a Drafts folder."""
    raw = await asyncio.to_thread(draft_bytes, draft, account)
    async with store.write() as unit:
        account_id = await unit.ensure_account(account.name, account.email)
    return await Operations(store).save_draft(account_id, raw, replace_uid)


_INFO = re.compile(r"^\s*([a-z_]+)\s*(?:;\s*source=(<[^<>\s]+>))?", re.IGNORECASE)
_KINDS: Final[dict[str, ReplyKind]] = {
    "new": "new",
    "reply": "reply",
    "reply_all": "reply_all",
    "forward": "forward",
    "forward_attachment": "forward_attachment",
}


def draft_from_raw(raw: bytes, account: AccountConfig) -> Draft:
    """Read a message from a Drafts folder (ours or another client's) back into a ``Draft``:
    addresses, subject, threading, the text body, and every attachment carried along."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)

    def addresses(name: str) -> tuple[str, ...]:
        found: list[str] = []
        for value in headers.get_all(name, []):
            for address in getattr(value, "addresses", ()):
                if isinstance(address, Address) and address.addr_spec:
                    found.append(format_address(address))
        return tuple(found)

    parsed = parse_message(raw)
    senders = addresses("From")
    in_reply_to = re.findall(r"<[^<>\s]+>", str(headers.get("In-Reply-To", "")))
    references = tuple(re.findall(r"<[^<>\s]+>", str(headers.get("References", ""))))
    kind: ReplyKind = "reply" if in_reply_to else "new"
    source = in_reply_to[0] if in_reply_to else None
    match = _INFO.match(str(headers.get(DRAFT_INFO_HEADER, "")))
    if match and match.group(1).lower() in _KINDS:
        kind = _KINDS[match.group(1).lower()]
        source = match.group(2) or source
    return Draft(
        from_=senders[0] if senders else "",
        to=addresses("To"),
        cc=addresses("Cc"),
        bcc=addresses("Bcc"),
        reply_to=addresses("Reply-To"),
        subject=" ".join(str(headers.get("Subject", "")).split()),
        body=parsed.body.text,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        reply_kind=kind,
        carried=tuple(
            CarriedPart(item.filename or item.safe_name, item.content_type, item.payload())
            for item in parsed.attachments
        ),
        source_message_id=source,
    )


async def resume_draft(
    store: Store,
    account: AccountConfig,
    folder_id: int,
    uid: int,
    *,
    fetch: Callable[[FolderRow, int], Awaitable[bytes | None]] | None = None,
) -> tuple[bytes, Draft]:
    """The raw draft at (folder, UID) and the ``Draft`` to edit, also for a draft made on
    another device. Its body comes from the store, else from ``fetch`` (the UI's
    ``BodyFetcher.fetch``); raises ``DraftNotAvailable`` when neither has it. Edit the
    ``Draft``, then ``save_draft(..., replace_uid=uid)`` or ``queue_message(...,
    draft_uid=uid)``."""
    raw = await store.body(folder_id, uid)
    if raw is None and fetch is not None:
        folder = await store.folder(folder_id)
        if folder is not None:
            raw = await fetch(folder, uid)
    if raw is None:
        raise DraftNotAvailable(f"the draft {uid} is not stored here yet (offline?)")
    return raw, draft_from_raw(raw, account)
