"""The server phase of a search: the same query as IMAP ``UID SEARCH`` (RFC 3501 §6.4.4,
RFC 9051 §6.4.4), for mail whose bodies are not cached here.

Translation, term by term:

============================  ===========================================================
query                         search key
============================  ===========================================================
``word``, ``"a phrase"``      ``TEXT`` (header or body contains it)
``subject:``/``from:``/       ``SUBJECT``/``FROM``/``CC``/``BODY``; ``to:`` is
``cc:``/``body:``             ``OR TO x CC x`` (locally it searches To and Cc)
``is:unread`` ...             ``UNSEEN``/``SEEN``/``FLAGGED``/``UNFLAGGED``/``ANSWERED``/
                              ``UNANSWERED``/``DRAFT``/``UNDRAFT``
``has:attachment``            ``OR HEADER Content-Type multipart/mixed HEADER
                              Content-Type multipart/related`` (IMAP has no attachment
                              key; an approximation)
``before:``/``after:``        ``SENTBEFORE``/``SENTSINCE`` (Date header, day granularity)
``folder:``                   decided per folder before sending: the query is simplified
                              with each ``folder:`` term true or false for that folder
``-x``, ``a OR b``            ``NOT x``, ``OR a b``
============================  ===========================================================

IMAP matches substrings, FTS5 whole words, so the server may find a little more. Groups are
written without parentheses (our client quotes them): ``NOT`` and ``OR`` are prefix
operators taking one key each, so ``a AND b`` inside them becomes ``NOT OR NOT a NOT b``
(De Morgan). Values that are not UTF-8-safe atoms are quoted or sent as literals by
``ImapClient.uid_search``, with ``CHARSET UTF-8`` when not ASCII; characters that the client
would send bare but that IMAP forbids in atoms (``*``, ``\\``, ``]``, ``[``) are dropped.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Final, Protocol

from sync.search.query import (
    And,
    DateBound,
    FlagTest,
    Folder,
    HasAttachment,
    Not,
    Or,
    Query,
    Text,
    folder_matches,
)

if TYPE_CHECKING:
    from sync.imap import ImapClient

__all__ = ["NamedFolder", "for_folder", "imap_criteria", "server_search"]

_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_FIELD_KEYS: Final = {
    "text": "TEXT",
    "subject": "SUBJECT",
    "from": "FROM",
    "cc": "CC",
    "body": "BODY",
}
_FLAG_KEYS: Final = {
    ("seen", True): "SEEN",
    ("seen", False): "UNSEEN",
    ("flagged", True): "FLAGGED",
    ("flagged", False): "UNFLAGGED",
    ("answered", True): "ANSWERED",
    ("answered", False): "UNANSWERED",
    ("draft", True): "DRAFT",
    ("draft", False): "UNDRAFT",
}
_UNSENDABLE = re.compile(r"[*\\\[\]\x00-\x1f\x7f]+")

# Partial evaluation results: a query, or a constant.
_Simple = Query | bool


class NamedFolder(Protocol):
    """What deciding ``folder:`` terms needs of a folder (the store's ``FolderRow`` is one):
    a protocol, so that ``sync.search`` imports nothing of the store."""

    @property
    def name(self) -> str:
        """The folder's name on the server (modified UTF-7)."""
        ...

    @property
    def display_name(self) -> str:
        """The folder's name as shown."""
        ...

    @property
    def delimiter(self) -> str | None:
        """The hierarchy delimiter, or None for a flat namespace."""
        ...


def for_folder(query: Query, folder: NamedFolder) -> _Simple:
    """``query`` with its ``folder:`` terms decided for ``folder`` and simplified: True (the
    query matches every message there), False (none), or what is left to ask the server."""
    return _simplify(query, folder)


def _simplify(query: Query, folder: NamedFolder) -> _Simple:
    # Post-order without recursion.
    done: dict[int, _Simple] = {}
    stack: list[tuple[Query, bool]] = [(query, False)]
    while stack:
        node, expanded = stack.pop()
        children: tuple[Query, ...] = ()
        if isinstance(node, Not):
            children = (node.operand,)
        elif isinstance(node, And | Or):
            children = node.operands
        if children and not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children)
            continue
        parts = [done[id(child)] for child in children]
        result: _Simple
        if isinstance(node, Folder):
            result = folder_matches(node.name, folder.name, folder.display_name, folder.delimiter)
        elif isinstance(node, Not):
            inner = parts[0]
            result = (not inner) if isinstance(inner, bool) else Not(inner)
        elif isinstance(node, And):
            if False in parts:
                result = False
            else:
                rest = [part for part in parts if not isinstance(part, bool)]
                result = True if not rest else rest[0] if len(rest) == 1 else And(tuple(rest))
        elif isinstance(node, Or):
            if True in parts:
                result = True
            else:
                rest = [part for part in parts if not isinstance(part, bool)]
                result = False if not rest else rest[0] if len(rest) == 1 else Or(tuple(rest))
        else:
            result = node
        done[id(node)] = result
    return done[id(query)]


def _imap_date(day: date) -> str:
    """RFC 3501 §9 ``date``: ``1-Feb-2025``."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year:04d}"


def _value(text: str) -> str:
    cleaned = " ".join(_UNSENDABLE.sub(" ", text).split())
    return cleaned or "\u2205"  # nothing sendable left: a string no message contains


def _key(node: Query) -> list[str]:
    """The tokens of exactly one search key for ``node``."""
    if isinstance(node, Text):
        value = _value(node.value)
        if node.field == "to":
            return ["OR", "TO", value, "CC", value]
        return [_FIELD_KEYS[node.field], value]
    if isinstance(node, FlagTest):
        return [_FLAG_KEYS[(node.name, node.present)]]
    if isinstance(node, HasAttachment):
        return [
            "OR",
            "HEADER",
            "Content-Type",
            "multipart/mixed",
            "HEADER",
            "Content-Type",
            "multipart/related",
        ]
    if isinstance(node, DateBound):
        return ["SENTBEFORE" if node.before else "SENTSINCE", _imap_date(node.day)]
    if isinstance(node, Not):
        inner = node.operand
        if isinstance(inner, Not):
            return _key(inner.operand)
        if isinstance(inner, And):
            # NOT (a b) = OR (NOT a) (NOT b)
            return _key(Or(tuple(Not(operand) for operand in inner.operands)))
        return ["NOT", *_key(inner)]
    if isinstance(node, Or):
        first, *rest = node.operands
        tail = rest[0] if len(rest) == 1 else Or(tuple(rest))
        return ["OR", *_key(first), *_key(tail)]
    if isinstance(node, And):
        # (a b) = NOT (OR (NOT a) (NOT b)): one key, no parentheses.
        return ["NOT", *_key(Or(tuple(Not(operand) for operand in node.operands)))]
    raise TypeError(f"cannot send {node!r} to the server")  # Folder: decided before


def imap_criteria(query: Query, folder: NamedFolder) -> list[str] | None:
    """The ``UID SEARCH`` criteria for ``query`` in ``folder``; None when the query cannot
    match anything there (no need to ask)."""
    simple = for_folder(query, folder)
    if simple is False:
        return None
    if simple is True:
        return ["ALL"]
    # The top level is an implicit AND (RFC 3501 §6.4.4): no grouping needed there.
    operands = simple.operands if isinstance(simple, And) else (simple,)
    criteria: list[str] = []
    for operand in operands:
        criteria += _key(operand)
    return criteria


async def server_search(client: ImapClient, folder: NamedFolder, query: Query) -> list[int]:
    """Run ``query`` on the server in ``folder``; return the matching UIDs, ascending.

    Selects the folder read-only (EXAMINE) unless it is already selected. Raises what the
    client raises (``ImapError``, ``ImapDisconnected``) for the caller to report.
    """
    criteria = imap_criteria(query, folder)
    if criteria is None:
        return []
    from sync.imap import decode_mailbox  # here: importing sync.search stays cheap

    mailbox = decode_mailbox(folder.name)
    if client.selected != mailbox:
        await client.select(mailbox, readonly=True)
    return sorted(set(await client.uid_search(*criteria)))
