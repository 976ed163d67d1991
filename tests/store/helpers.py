"""Builders shared by the store tests."""

from __future__ import annotations

from dataclasses import replace

from sync.store import MessageRecord, Store

BASE_TIME = 1_700_000_000


def record(uid: int, *, internaldate: int | None = None, **changes: object) -> MessageRecord:
    """A plausible message row for ``uid``; keyword arguments override fields."""
    base = MessageRecord(
        uid=uid,
        message_id=f"<{uid}@test.example>",
        subject=f"Subject {uid}",
        from_name=f"Sender {uid}",
        from_addr=f"sender{uid}@test.example",
        to="Reader <reader@test.example>",
        cc="",
        date=BASE_TIME + uid,
        internaldate=BASE_TIME + uid if internaldate is None else internaldate,
        size=1000 + uid,
        flags=(),
        modseq=uid,
        has_attachment=False,
        in_reply_to=None,
        references=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def make_folder(store: Store, name: str = "INBOX", account: str = "acct") -> int:
    """Create an account (if needed) and a folder; return the folder id."""
    async with store.write() as w:
        account_id = await w.ensure_account(account, f"{account}@test.example")
        return await w.upsert_folder(
            account_id, name, display_name=name, delimiter="/", special_use=None
        )
