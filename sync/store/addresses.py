"""Addresses the user has written to or heard from, for address completion when composing.

One ``(name, address)`` pair per sender and recipient of the newest messages of each of the
account's folders: the input ``sync.compose.complete_address`` ranks (an address seen more
often ranks higher). Each folder is read newest first along its keyset index, so the cost
is bounded by ``per_folder`` rows per folder, not by the size of the mailbox.
"""

from __future__ import annotations

from email.utils import getaddresses
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sync.store.store import Store

__all__ = ["address_pairs"]

_PER_FOLDER: Final = 2_000

# Walks messages_by_sort (folder_id, sort_value DESC, uid DESC): no scan, no OFFSET.
_NEWEST_SQL: Final = (
    "SELECT from_name, from_addr, to_addrs, cc_addrs FROM messages"
    " WHERE folder_id = ? ORDER BY sort_value DESC, uid DESC LIMIT ?"
)


async def address_pairs(
    store: Store, account_id: int, *, per_folder: int = _PER_FOLDER
) -> list[tuple[str, str]]:
    """``(display name, address)`` for the sender and every To/Cc recipient of the newest
    ``per_folder`` messages of each folder of the account (repeats kept: they count)."""
    pairs: list[tuple[str, str]] = []
    for folder in await store.folders(account_id):
        for from_name, from_addr, to_addrs, cc_addrs in await store.fetch_all(
            _NEWEST_SQL, (folder.id, per_folder)
        ):
            if from_addr:
                pairs.append((str(from_name or ""), str(from_addr)))
            # The stored To/Cc are decoded header text: split per RFC 5322 §3.4 address lists.
            for name, address in getaddresses([str(to_addrs or ""), str(cc_addrs or "")]):
                if "@" in address:
                    pairs.append((name, address))
    return pairs
