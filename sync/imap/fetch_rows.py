"""The fast FETCH path: a caller's own row parser on the raw responses of one UID FETCH.

A bulk FETCH (the sync engine's first sync) needs no typed result per message: a parser made
for its items (``sync.engine.convert.header_row``) builds what the caller stores, at a
fraction of the cost. :class:`RowTaker` sits in front of the ordinary parser for one
command; :func:`stream_rows` runs that command and yields what both paths made.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Container, Sequence
from typing import Generic, TypeVar

from sync.imap.connection import Arg, Command, ImapConnection
from sync.imap.lexer import RawResponse
from sync.imap.types import FetchResult, UidSet

__all__ = ["RowParser", "RowTaker", "stream_rows"]

T = TypeVar("T")  # the rows of a caller's own FETCH parser (ImapClient.uid_fetch_rows)

RowParser = Callable[[RawResponse], tuple[int, T] | None]


class RowTaker(Generic[T]):
    """The intercept of one UID FETCH: gives each response to the row parser first."""

    __slots__ = ("command", "completion", "members", "parse")

    def __init__(self, command: Command, parse: RowParser[T], uidset: UidSet) -> None:
        self.command = command
        self.parse = parse
        self.completion = command.tag.encode() + b" "
        self.members: Container[int]
        try:
            # A set lookup per response (UidSet's own test walks its ranges).
            self.members = frozenset(uidset) if len(uidset.ranges) > 4 else uidset
        except ValueError:  # a range with "*": keep the set's own test
            self.members = uidset

    def __call__(self, raws: list[RawResponse]) -> list[RawResponse]:
        """Give the responses of the command to its row parser; return the rest (its
        completion, what the parser did not take, and answers to UIDs not asked for, which
        are someone else's news) for the ordinary path."""
        parse = self.parse
        members = self.members
        command = self.command
        rows = command.rows
        completion = self.completion
        rest: list[RawResponse] = []
        for index, raw in enumerate(raws):
            if raw.text.startswith(completion):
                rest += raws[index:]  # the command ends here: nothing after is its data
                break
            found = parse(raw)
            if found is not None and found[0] in members:
                rows.append(found[1])
            else:
                rest.append(raw)
        if len(rest) < len(raws) and command.event is not None:
            command.event.set()
        return rest


async def stream_rows(
    connection: ImapConnection,
    args: Sequence[Arg],
    uidset: UidSet,
    static_item: str | None,
    row_parser: RowParser[T],
) -> AsyncGenerator[tuple[list[T], list[FetchResult]], None]:
    """Run the UID FETCH of ``args`` with ``row_parser`` in front; yield ``(rows, results)``
    as they arrive (see :meth:`sync.imap.client.ImapClient.uid_fetch_rows`)."""
    async with connection.command(
        "UID FETCH",
        args,
        fetch_mode="filter",
        uids=uidset,
        static_item=static_item,
        streaming=True,
    ) as command:
        command.intercept = RowTaker(command, row_parser, uidset)
        async with contextlib.aclosing(connection.stream(command)) as stream:
            async for _ in stream:
                rows: list[T] = command.rows
                results = command.fetch_results
                command.rows = []
                command.fetch_results = []
                yield rows, results
        tagged = command.future.result()
    connection.finish(command, tagged, True)
