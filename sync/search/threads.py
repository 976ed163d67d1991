"""Threading a folder: Jamie Zawinski's algorithm (https://www.jwz.org/doc/threading.html),
as RFC 5256 §2.2 (REFERENCES) describes it, as a pure function over plain rows.

Links come from Message-ID, References and In-Reply-To (RFC 5322 §3.6.4). Where they are
broken the algorithm degrades rather than guesses: a reference to a message we do not have
becomes an empty placeholder that still holds its replies together; a link that would make
a loop is not made; duplicate Message-IDs get a container each. Subjects are used only where
references are missing: a root message without References and In-Reply-To whose subject is
a reply ("Re: x") joins the thread whose root is the original ("x"), not earlier than it.
JWZ's step 5 would also merge unrelated messages that share a subject ("Weekly digest");
we do not.

Everything is iterative (a 100k-deep reply chain does not hit the recursion limit). Output
is one flat list in display order: threads by their newest message, newest first; inside a
thread depth-first, siblings oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["ThreadInput", "Threaded", "build_threads", "message_ids", "thread_order"]

# msg-id (RFC 5322 §3.6.4): "<" id-left "@" id-right ">"; anything in angle brackets is taken.
_MSG_ID = re.compile(r"<([^<>\s]+)>")


class ThreadInput(NamedTuple):
    """What threading reads of one message (``date``: the list's sort value)."""

    uid: int
    message_id: str | None
    in_reply_to: str | None
    references: str | None
    subject: str
    date: int


class Threaded(NamedTuple):
    """One message placed in the thread view.

    ``thread_id`` is the smallest UID in the thread; ``thread_sort`` its newest ``date``;
    ``position`` the message's place in the thread (0 first); ``size`` the thread's length.
    """

    uid: int
    thread_id: int
    thread_sort: int
    position: int
    depth: int
    size: int


def message_ids(header: str | None) -> list[str]:
    """The msg-ids in a Message-ID, In-Reply-To or References value, in order, without
    brackets. A bare id without brackets (a broken client) counts when it is the whole value."""
    if not header:
        return []
    found = _MSG_ID.findall(header)
    if found:
        return list(found)
    bare = header.strip()
    return [bare] if bare and " " not in bare else []


class _Container:
    __slots__ = ("children", "date", "has_refs", "parent", "subject", "uid")

    def __init__(self) -> None:
        self.uid: int | None = None
        self.date = 0
        self.subject = ""
        self.has_refs = False
        self.parent: _Container | None = None
        self.children: list[_Container] = []


def _is_ancestor(candidate: _Container, node: _Container) -> bool:
    """Whether ``candidate`` is ``node`` or one of its ancestors."""
    current: _Container | None = node
    while current is not None:
        if current is candidate:
            return True
        current = current.parent
    return False


def _link(parent: _Container, child: _Container) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def build_threads(messages: Iterable[ThreadInput]) -> list[Threaded]:
    """Thread ``messages`` (one folder); return every message once, in display order."""
    return [Threaded(*row) for row in thread_order(messages)]


def _own_id(value: str | None) -> str | None:
    # The common case without a regex: exactly one "<id>".
    if value and value[0] == "<" and value[-1] == ">" and value.count("<") == 1:
        return value[1:-1].strip() or None
    ids = message_ids(value)
    return ids[0] if ids else None


def thread_order(
    messages: Iterable[tuple[int, str | None, str | None, str | None, str, int]],
) -> list[tuple[int, int, int, int, int, int]]:
    """:func:`build_threads` on plain tuples, returning plain tuples in ``Threaded`` field
    order (what the store reads and writes: no per-message objects beyond the algorithm's)."""
    table: dict[str, _Container] = {}
    containers: list[_Container] = []

    def container_for(message_id: str) -> _Container:
        found = table.get(message_id)
        if found is None:
            found = table[message_id] = _Container()
            containers.append(found)
        return found

    for uid, message_id, in_reply_to, refs, subject, date in messages:
        own_id = _own_id(message_id)
        # Step 1A: the message's container; a duplicate Message-ID gets one of its own.
        if own_id is not None and (c := table.get(own_id)) is not None and c.uid is None:
            this = c
        else:
            this = _Container()
            containers.append(this)
            if own_id is not None and own_id not in table:
                table[own_id] = this
        this.uid = uid
        this.date = date
        this.subject = subject
        if not refs and not in_reply_to:
            continue  # most mail: nothing to link
        references = message_ids(refs)
        reply_to = message_ids(in_reply_to)
        # In-Reply-To names the parent when References is missing or was cut short.
        if reply_to and (not references or references[-1] != reply_to[0]):
            references.append(reply_to[0])
        references = [ref for ref in references if ref != own_id]
        this.has_refs = bool(references)
        # Step 1B: link the referenced messages in order, keeping links already made and
        # never making a loop.
        previous: _Container | None = None
        for ref in references:
            current = container_for(ref)
            if (
                previous is not None
                and current.parent is None
                and not _is_ancestor(current, previous)
            ):
                _link(previous, current)
            previous = current
        # Step 1C: the last reference is this message's parent, replacing a presumed one.
        if previous is not None and not _is_ancestor(this, previous):
            _link(previous, this)

    roots = [c for c in containers if c.parent is None]
    roots = _prune(roots, [c for c in containers if c.uid is None])
    roots = _join_by_subject(roots)
    return _flatten(roots)


def _prune(roots: list[_Container], empties: list[_Container]) -> list[_Container]:
    """Step 4: drop empty containers, promoting their children (an empty root with several
    children stays, holding its thread together). Only the trees holding an empty container
    are walked."""
    if not empties:
        return roots
    affected: dict[int, _Container] = {}
    for empty in empties:
        top = empty
        while top.parent is not None:
            top = top.parent
        affected[id(top)] = top
    order: list[_Container] = []
    stack = list(affected.values())
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    kept_roots = {id(root): root for root in roots}
    for node in reversed(order):  # children before their parents
        if node.uid is not None:
            continue
        parent = node.parent
        if parent is not None:
            index = parent.children.index(node)
            for child in node.children:
                child.parent = parent
            parent.children[index : index + 1] = node.children
            node.children = []
        elif not node.children:
            kept_roots.pop(id(node), None)
        elif len(node.children) == 1:
            child = node.children[0]
            child.parent = None
            node.children = []
            kept_roots.pop(id(node), None)
            kept_roots[id(child)] = child
    return list(kept_roots.values())


def _join_by_subject(roots: list[_Container]) -> list[_Container]:
    """Attach reply roots that have no references to the thread of their original."""
    # Imported here: importing sync.search (and so the store) must not load sync.compose.
    from sync.compose.subjects import base_subject

    # Reply roots: a message without references whose subject loses something to
    # base_subject (a "Re:"/"Fwd:" prefix). Only their base subjects are looked for.
    wanted: dict[str, list[_Container]] = {}
    bases: dict[str, str] = {}  # subjects repeat a lot (notifications, lists): once each
    for root in roots:
        subject = root.subject
        if root.uid is None or root.has_refs or not (":" in subject or "：" in subject):
            continue
        base = bases.get(subject)
        if base is None:
            normal = " ".join(subject.split())
            found = base_subject(normal)
            base = bases[subject] = found.casefold() if found and found != normal else ""
        if base:
            wanted.setdefault(base, []).append(root)
    if not wanted:
        return roots
    # The original of a base subject: the oldest root without references whose subject is
    # exactly it (a base subject never starts with a prefix, so a match is not a reply).
    originals: dict[str, _Container] = {}
    for root in roots:
        if root.uid is None or root.has_refs:
            continue
        key = root.subject.strip().casefold()
        if key not in wanted and ("  " in key or "\t" in key or "\n" in key):
            key = " ".join(key.split())
        if key in wanted:
            known = originals.get(key)
            if known is None or (known.date, known.uid or 0) > (root.date, root.uid):
                originals[key] = root
    attached: set[int] = set()
    for key, replies in wanted.items():
        target = originals.get(key)
        if target is None:
            continue
        for reply in replies:
            if target.date <= reply.date:
                _link(target, reply)
                attached.add(id(reply))
    return [root for root in roots if id(root) not in attached] if attached else roots


def _flatten(roots: list[_Container]) -> list[tuple[int, int, int, int, int, int]]:
    threads: list[tuple[int, int, list[tuple[int, int]]]] = []
    for root in roots:
        if not root.children:  # most threads: one message
            if root.uid is not None:
                threads.append((root.date, root.uid, [(root.uid, 0)]))
            continue
        rows: list[tuple[int, int]] = []  # (uid, depth)
        newest = 0
        smallest: int | None = None
        # An empty root (placeholder for a missing parent) is not shown: its children are
        # the thread's top level.
        start = [(root, 0)] if root.uid is not None else [(c, 0) for c in root.children]
        stack = sorted(start, key=lambda item: (item[0].date, item[0].uid or 0), reverse=True)
        first = True
        while stack:
            node, depth = stack.pop()
            assert node.uid is not None
            rows.append((node.uid, depth))
            newest = node.date if first else max(newest, node.date)
            first = False
            smallest = node.uid if smallest is None else min(smallest, node.uid)
            children = sorted(node.children, key=lambda c: (c.date, c.uid or 0), reverse=True)
            stack.extend((child, depth + 1) for child in children)
        if smallest is not None:
            threads.append((newest, smallest, rows))
    # (newest, smallest UID) is unique per thread: the row lists are never compared.
    threads.sort(reverse=True)
    out: list[tuple[int, int, int, int, int, int]] = []
    for newest, smallest, rows in threads:
        if len(rows) == 1:
            out.append((rows[0][0], smallest, newest, 0, 0, 1))
            continue
        size = len(rows)
        out.extend(
            (uid, smallest, newest, position, depth, size)
            for position, (uid, depth) in enumerate(rows)
        )
    return out
