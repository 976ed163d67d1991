"""A small asyncio IMAP4rev1 client: the commands, typed, over one connection.

:class:`ImapClient` turns each command (RFC 3501 and the extensions we use) into arguments
and its answer into typed results; :class:`~sync.imap.connection.ImapConnection` underneath
owns the socket, the reader task, tags, routing and timeouts. Commands run one at a time, so
untagged data is never attributed to the wrong command. Arguments are never logged: only
command names and tags.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, TypeVar

from sync.events import EventBus, Subscription
from sync.imap.connection import (
    Arg,
    Command,
    FetchMode,
    ImapConnection,
    LiteralArg,
    RawArg,
    Security,
)
from sync.imap.errors import ImapDisconnected, ImapError, ImapParseError, ImapSecurityError
from sync.imap.fetch_rows import RowParser, stream_rows
from sync.imap.parser import parse_appenduid, parse_code_list, parse_copyuid
from sync.imap.types import (
    AppendUid,
    CopyUid,
    Disconnected,
    Enabled,
    ESearch,
    Exists,
    FetchResult,
    FlagsUpdate,
    IdResponse,
    ListEntry,
    MailboxStatus,
    NamespaceResponse,
    QresyncParams,
    Recent,
    Response,
    SearchResponse,
    SelectResult,
    StoreResult,
    Tagged,
    UidSet,
    Unsolicited,
    UntaggedStatus,
    Vanished,
)
from sync.imap.utf7 import encode_mailbox

__all__ = ["IdleSession", "ImapClient", "Security"]

T = TypeVar("T")  # the rows of a caller's own FETCH parser (ImapClient.uid_fetch_rows)

# Fetch items that never change for a message: a response to a FETCH that asked for one of
# them but lacks it is a flag-change notification, not the answer (RFC 3501 §7.4.2).
_STATIC_ITEMS = ("ENVELOPE", "BODYSTRUCTURE", "INTERNALDATE", "RFC822.SIZE", "BODY", "BINARY")
_ATOM_SAFE = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~*\\]+\Z")
_FLAG = re.compile(r"\\?[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+\Z")
_FETCH_ITEM = re.compile(r"[^\r\n\x00]+\Z")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _astring(value: str | bytes, *, utf8: bool = False) -> Arg:
    """Quote ``value`` or make it a literal, as its bytes require (RFC 3501 §4.3, §9)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    plain = b"\r" not in data and b"\n" not in data and b"\x00" not in data
    if len(data) < 1024 and plain and (utf8 or data.isascii()):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return LiteralArg(data)


def _flag_list(flags: Iterable[str]) -> RawArg:
    checked = []
    for flag in flags:
        if not _FLAG.match(flag):
            raise ValueError(f"not a valid IMAP flag: {flag!r}")
        checked.append(flag)
    return RawArg("(" + " ".join(checked) + ")")


def _uid_arg(uids: UidSet | Iterable[int] | str) -> RawArg:
    if isinstance(uids, str):
        uidset = UidSet.parse(uids)
    elif isinstance(uids, UidSet):
        uidset = uids
    else:
        uidset = UidSet.of(uids)
    if not uidset:
        raise ValueError("empty UID set")
    return RawArg(str(uidset))


def _date_time(value: datetime) -> bytes:
    """``"17-Jul-1996 02:44:25 -0700"`` (RFC 3501 §9 date-time); naive means local time."""
    aware = value if value.tzinfo is not None else value.astimezone()
    offset = aware.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f'"{aware.day:2d}-{_MONTH_NAMES[aware.month - 1]}-{aware.year:04d} '
        f'{aware:%H:%M:%S} {sign}{minutes // 60:02d}{minutes % 60:02d}"'
    ).encode()


class IdleSession:
    """An IDLE in progress (RFC 2177); get it from :meth:`ImapClient.idle`."""

    def __init__(self, subscription: Subscription[Unsolicited]) -> None:
        self._subscription = subscription

    async def wait(self, timeout: float | None = None) -> list[Unsolicited]:  # noqa: ASYNC109
        """Wait until the server reports something; return the events that arrived (also
        published to every subscriber), or ``[]`` after ``timeout`` seconds.

        Raises :class:`ImapDisconnected` when the connection dies (BYE, reset, close).
        """
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that lands as the event arrives.
            async with asyncio.timeout(timeout):
                first = await self._subscription.get()
        except TimeoutError:
            return []
        except StopAsyncIteration:
            raise ImapDisconnected("connection closed during IDLE") from None
        events = [first]
        while (event := self._subscription.get_nowait()) is not None:
            events.append(event)
        for event in events:
            if isinstance(event, Disconnected):
                raise ImapDisconnected(event.reason)
        return events


class ImapClient:
    """An IMAP connection. Create it with :meth:`connect`; close it with :meth:`logout` or
    :meth:`close` (or ``async with``)."""

    def __init__(self, connection: ImapConnection) -> None:
        self._connection = connection
        self.selected: str | None = None

    # --- what the connection knows ---

    @property
    def host(self) -> str:
        """The server's host name, as given to :meth:`connect`."""
        return self._connection.host

    @property
    def port(self) -> int:
        """The server's port."""
        return self._connection.port

    @property
    def timeout(self) -> float:
        """Seconds of server silence after which a waiting command fails."""
        return self._connection.timeout

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server offers (RFC 3501 §6.1.1), kept current from its responses."""
        return self._connection.capabilities

    @capabilities.setter
    def capabilities(self, value: frozenset[str]) -> None:
        self._connection.capabilities = value

    @property
    def enabled(self) -> frozenset[str]:
        """What ENABLE (RFC 5161) turned on."""
        return self._connection.enabled

    @enabled.setter
    def enabled(self, value: frozenset[str]) -> None:
        self._connection.enabled = value

    @property
    def unsolicited(self) -> EventBus[Unsolicited]:
        """Where unsolicited responses (and the connection's end) are published."""
        return self._connection.unsolicited

    @property
    def greeting(self) -> UntaggedStatus | None:
        """The server's greeting."""
        return self._connection.greeting

    # --- connection set-up ---

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        security: Security,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: Path | None = None,
        fingerprint: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 - the contract; also the inactivity limit
    ) -> ImapClient:
        """Connect, read the greeting, set up TLS as asked and learn the capabilities.

        ``security``: ``"tls"`` (implicit TLS, RFC 8314), ``"starttls"`` (RFC 3501 §6.2.1;
        fails with :class:`ImapSecurityError` rather than continue in clear text), or
        ``"none"``. Certificates are verified against the system store, or ``ca_file``;
        ``fingerprint`` (SHA-256 of the server certificate, hex, colons allowed) pins the
        certificate: given alone it replaces CA verification, given with ``ca_file`` both
        must pass.
        """
        connection = await ImapConnection.open(
            host,
            port,
            security=security,
            ssl_context=ssl_context,
            ca_file=ca_file,
            fingerprint=fingerprint,
            timeout=timeout,
        )
        return cls(connection)

    # --- commands, through the connection ---

    async def _run(
        self,
        name: str,
        args: Sequence[Arg] = (),
        *,
        check: bool = True,
        fetch_mode: FetchMode = "publish",
        uids: UidSet | None = None,
        static_item: str | None = None,
    ) -> tuple[Tagged, Command]:
        return await self._connection.run(
            name, args, check=check, fetch_mode=fetch_mode, uids=uids, static_item=static_item
        )

    def _mailbox(self, name: str) -> Arg:
        utf8 = "UTF8=ACCEPT" in self.enabled
        return _astring(name if utf8 else encode_mailbox(name), utf8=utf8)

    # --- authentication (RFC 3501 §6.2, RFC 4959, RFC 4616, RFC 7628) ---

    async def login(self, username: str, password: str) -> None:
        """LOGIN (RFC 3501 §6.2.3). The password is never logged."""
        if "LOGINDISABLED" in self.capabilities:
            raise ImapSecurityError("server disabled LOGIN on this connection (use TLS)")
        tagged, _ = await self._run("LOGIN", [_astring(username), _astring(password)])
        await self._after_auth(tagged)

    async def authenticate_plain(self, username: str, password: str, authzid: str = "") -> None:
        """AUTHENTICATE PLAIN (RFC 4616), in one round trip with SASL-IR (RFC 4959)."""
        payload = f"{authzid}\x00{username}\x00{password}".encode()
        await self._authenticate("PLAIN", payload, b"")

    async def authenticate_xoauth2(self, username: str, token: str) -> None:
        """AUTHENTICATE XOAUTH2 (Google/Microsoft). The token is never logged."""
        payload = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
        await self._authenticate("XOAUTH2", payload, b"")

    async def authenticate_oauthbearer(self, username: str, token: str) -> None:
        """AUTHENTICATE OAUTHBEARER (RFC 7628 §3.1); on failure the server's error is
        acknowledged with ``%x01`` as §3.2.3 asks."""
        payload = (
            f"n,a={username},\x01host={self.host}\x01port={self.port}\x01"
            f"auth=Bearer {token}\x01\x01"
        ).encode()
        await self._authenticate("OAUTHBEARER", payload, b"\x01")

    async def _authenticate(self, mechanism: str, payload: bytes, error_reply: bytes) -> None:
        if f"AUTH={mechanism}" not in self.capabilities:
            raise ImapError(f"server does not offer AUTH={mechanism}")
        encoded = base64.b64encode(payload)
        initial = "SASL-IR" in self.capabilities
        args: list[Arg] = [RawArg(mechanism)]
        if initial:
            args.append(encoded or b"=")
        async with self._connection.command("AUTHENTICATE", args) as command:
            if not initial:
                await self._connection.expect_continuation(command)
                self._connection.write(encoded + b"\r\n")
            # A further "+" carries the server's error (XOAUTH2, OAUTHBEARER): acknowledge it
            # so that the tagged NO follows.
            while await self._connection.next_continuation(command) is not None:
                self._connection.write(base64.b64encode(error_reply) + b"\r\n")
            await self._connection.wait(command.future)
            tagged = command.future.result()
        self._connection.finish(command, tagged, True)
        await self._after_auth(tagged)

    async def _after_auth(self, tagged: Tagged) -> None:
        # RFC 3501 §6.2.2/§6.2.3: capabilities may change after authentication; a server
        # that sends them in the OK's response code saves us the round trip.
        if tagged.code != "CAPABILITY":
            await self.capability()

    async def capability(self) -> frozenset[str]:
        """CAPABILITY (RFC 3501 §6.1.1): refresh and return :attr:`capabilities`."""
        await self._run("CAPABILITY")
        return self.capabilities

    # --- session commands ---

    async def enable(self, *capabilities: str) -> frozenset[str]:
        """ENABLE (RFC 5161): returns what the server enabled (it may be fewer)."""
        wanted = [cap.upper() for cap in capabilities if cap.upper() in self.capabilities]
        if "ENABLE" not in self.capabilities or not wanted:
            return frozenset()
        _, command = await self._run("ENABLE", [RawArg(cap) for cap in wanted])
        enabled: set[str] = set()
        for response in command.untagged:
            if isinstance(response, Enabled):
                enabled |= response.capabilities
        self.enabled = self.enabled | enabled
        return frozenset(enabled)

    async def id_(self, fields: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """ID (RFC 2971): send ours, return the server's."""
        if "ID" not in self.capabilities:
            return {}
        if fields:
            parts = []
            for key, value in fields.items():
                parts.append(_arg_bytes(_astring(key)) + b" " + _arg_bytes(_astring(value)))
            arg: Arg = b"(" + b" ".join(parts) + b")"
        else:
            arg = RawArg("NIL")
        _, command = await self._run("ID", [arg])
        for response in command.untagged:
            if isinstance(response, IdResponse):
                return dict(response.fields)
        return {}

    async def namespace(self) -> NamespaceResponse | None:
        """NAMESPACE (RFC 2342), or None when the server lacks it."""
        if "NAMESPACE" not in self.capabilities:
            return None
        _, command = await self._run("NAMESPACE")
        for response in command.untagged:
            if isinstance(response, NamespaceResponse):
                return response
        raise ImapParseError("NAMESPACE without a NAMESPACE response")

    async def list_mailboxes(
        self,
        pattern: str = "*",
        *,
        reference: str = "",
        special_use: bool = True,
        subscribed: bool = True,
        status_items: Sequence[str] = (),
    ) -> list[ListEntry]:
        """LIST (RFC 3501 §6.3.8) with RFC 5258 return options when offered: SPECIAL-USE
        (RFC 6154), SUBSCRIBED, and STATUS (RFC 5819). Without LIST-STATUS, STATUS is asked
        per selectable mailbox, so ``status`` is filled either way."""
        caps = self.capabilities
        returns: list[str] = []
        extended = "LIST-EXTENDED" in caps
        if extended and subscribed:
            returns.append("SUBSCRIBED")
        if special_use and "SPECIAL-USE" in caps and extended:
            returns.append("SPECIAL-USE")
        items = [item.upper() for item in status_items]
        for item in items:
            if not re.fullmatch(r"[A-Z0-9.-]+", item):
                raise ValueError(f"bad STATUS item {item!r}")
        if items and "LIST-STATUS" in caps:
            returns.append(f"STATUS ({' '.join(items)})")
        args: list[Arg] = [self._mailbox(reference), self._mailbox(pattern)]
        if returns:
            args.append(RawArg(f"RETURN ({' '.join(returns)})"))
        _, command = await self._run("LIST", args)
        entries: list[ListEntry] = []
        statuses: dict[str, MailboxStatus] = {}
        for response in command.untagged:
            if isinstance(response, ListEntry):
                entries.append(response)
            elif isinstance(response, MailboxStatus):
                statuses[response.mailbox] = response
        if items and "LIST-STATUS" not in caps:
            for entry in entries:
                if entry.selectable:
                    statuses[entry.name] = await self.status(entry.name, items)
        if subscribed and not extended:
            _, lsub = await self._run("LSUB", [self._mailbox(reference), self._mailbox(pattern)])
            names = {r.name for r in lsub.untagged if isinstance(r, ListEntry)}
            entries = [
                _with(entry, attributes=entry.attributes | {"\\Subscribed"})
                if entry.name in names
                else entry
                for entry in entries
            ]
        return [
            _with(entry, status=statuses[entry.name]) if entry.name in statuses else entry
            for entry in entries
        ]

    async def status(self, mailbox: str, items: Sequence[str]) -> MailboxStatus:
        """STATUS (RFC 3501 §6.3.10), e.g. ``("MESSAGES", "UIDNEXT", "HIGHESTMODSEQ")``."""
        wanted = " ".join(item.upper() for item in items)
        if not re.fullmatch(r"[A-Z0-9. -]+", wanted):
            raise ValueError(f"bad STATUS items {items!r}")
        _, command = await self._run("STATUS", [self._mailbox(mailbox), RawArg(f"({wanted})")])
        for response in command.untagged:
            if isinstance(response, MailboxStatus):
                return response
        raise ImapParseError("STATUS without a STATUS response")

    async def select(
        self,
        mailbox: str,
        *,
        readonly: bool = False,
        condstore: bool = False,
        qresync: QresyncParams | None = None,
    ) -> SelectResult:
        """SELECT or EXAMINE (RFC 3501 §6.3.1), with ``(CONDSTORE)`` (RFC 7162 §3.1.8) or
        ``(QRESYNC (...))`` (§3.2.5; ENABLE QRESYNC first). VANISHED (EARLIER) and FETCH
        responses of a QRESYNC select land in ``vanished`` and ``changes``."""
        args: list[Arg] = [self._mailbox(mailbox)]
        if qresync is not None:
            if "QRESYNC" not in self.enabled:
                raise ImapError("QRESYNC must be enabled first (RFC 7162 §3.2.3)")
            known = f" {qresync.known_uids}" if qresync.known_uids else ""
            args.append(RawArg(f"(QRESYNC ({qresync.uidvalidity} {qresync.modseq}{known}))"))
        elif condstore and "CONDSTORE" in self.capabilities:
            args.append(RawArg("(CONDSTORE)"))
        self.selected = None
        tagged, command = await self._run(
            "EXAMINE" if readonly else "SELECT", args, fetch_mode="collect"
        )
        result = SelectResult(mailbox, readonly=readonly or tagged.code == "READ-ONLY")
        vanished: list[UidSet] = []
        untagged = command.untagged
        for index, response in enumerate(untagged):  # RFC 7162 §3.2.11: only after [CLOSED]
            if isinstance(response, UntaggedStatus) and response.code == "CLOSED":
                untagged = untagged[index + 1 :]
        for response in untagged:
            if isinstance(response, Exists):
                result.exists = response.count
            elif isinstance(response, Recent):
                result.recent = response.count
            elif isinstance(response, FlagsUpdate):
                result.flags = response.flags
            elif isinstance(response, Vanished):
                vanished.append(response.uids)
            elif isinstance(response, UntaggedStatus) and response.code:
                _select_code(result, response.code, response.code_value)
        result.changes = command.fetch_results
        if vanished:
            result.vanished = UidSet(tuple(r for uids in vanished for r in uids.ranges))
        self.selected = mailbox
        return result

    async def unselect(self) -> None:
        """UNSELECT (RFC 3691); without it, EXAMINE of a name that cannot exist, which
        leaves no mailbox selected and, unlike CLOSE, expunges nothing (RFC 3501 §6.3.1)."""
        if "UNSELECT" in self.capabilities:
            await self._run("UNSELECT")
        else:
            await self._run("EXAMINE", [_astring("\x7fmailtui-none")], check=False)
        self.selected = None

    # --- messages ---

    def _fetch_args(
        self,
        uids: UidSet | Iterable[int] | str,
        items: Sequence[str],
        changedsince: int | None,
        vanished: bool,
    ) -> tuple[list[Arg], UidSet, str | None]:
        uid_arg = _uid_arg(uids)
        wanted = [item.strip() for item in items]
        for item in wanted:
            if not _FETCH_ITEM.match(item):
                raise ValueError(f"bad FETCH item {item!r}")
        if "UID" not in (item.upper() for item in wanted):
            wanted.insert(0, "UID")
        args: list[Arg] = [uid_arg, RawArg("(" + " ".join(wanted) + ")")]
        if changedsince is not None:
            modifier = f"CHANGEDSINCE {int(changedsince)}"
            if vanished:
                modifier += " VANISHED"  # RFC 7162 §3.2.6
            args.append(RawArg(f"({modifier})"))
        static = None
        for item in wanted:
            upper = item.upper()
            for candidate in _STATIC_ITEMS:
                if upper.startswith(candidate):
                    static = (
                        candidate
                        if candidate in ("ENVELOPE", "BODYSTRUCTURE", "INTERNALDATE", "RFC822.SIZE")
                        else "SECTION"
                    )
                    break
            if static is not None:
                break
        return args, UidSet.parse(uid_arg.text), static

    async def uid_fetch(
        self,
        uids: UidSet | Iterable[int] | str,
        items: Sequence[str],
        *,
        changedsince: int | None = None,
        vanished: bool = False,
    ) -> list[FetchResult]:
        """UID FETCH (RFC 3501 §6.4.8) with optional CHANGEDSINCE / VANISHED (RFC 7162).
        VANISHED responses go to :attr:`unsolicited` subscribers."""
        results: list[FetchResult] = []
        async for batch in self.uid_fetch_iter(
            uids, items, changedsince=changedsince, vanished=vanished
        ):
            results.extend(batch)
        return results

    async def uid_fetch_iter(
        self,
        uids: UidSet | Iterable[int] | str,
        items: Sequence[str],
        *,
        changedsince: int | None = None,
        vanished: bool = False,
    ) -> AsyncGenerator[list[FetchResult], None]:
        """Like :meth:`uid_fetch`, yielding results in batches as they arrive, so the caller
        can commit while the rest is on its way. Close it (``contextlib.aclosing``) if you
        stop early: the connection stays busy until the command completes."""
        args, uidset, static = self._fetch_args(uids, items, changedsince, vanished)
        async with self._connection.command(
            "UID FETCH", args, fetch_mode="filter", uids=uidset, static_item=static, streaming=True
        ) as command:
            async with contextlib.aclosing(self._connection.stream(command)) as stream:
                async for _ in stream:
                    batch = command.fetch_results
                    command.fetch_results = []
                    yield batch
            tagged = command.future.result()
        self._connection.finish(command, tagged, True)

    async def uid_fetch_rows(
        self,
        uids: UidSet | Iterable[int],
        items: Sequence[str],
        row_parser: RowParser[T],
    ) -> AsyncGenerator[tuple[list[T], list[FetchResult]], None]:
        """Like :meth:`uid_fetch_iter`, with the caller's own parser tried first on each
        response as it arrives: it returns ``(uid, row)`` for the responses it takes (any
        shape it does not know it leaves, returning None). Yields ``(rows, results)``:
        the rows it made, and the typed results of the responses it left (for the caller's
        exact path). A row counts only for a UID asked for; other responses take the
        ordinary path (and are published when unsolicited). The parser runs in the reader
        task, once per response: it must be quick and must not raise.

        A bulk FETCH (the sync engine's first sync) needs no typed result per message: a
        parser made for its items builds what the caller stores, at a fraction of the cost.
        """
        uidset = uids if isinstance(uids, UidSet) else UidSet.of(uids)
        args, uidset, static = self._fetch_args(uidset, items, None, False)
        rows = stream_rows(self._connection, args, uidset, static, row_parser)
        async with contextlib.aclosing(rows) as stream:
            async for batch in stream:
                yield batch

    async def uid_store(
        self,
        uids: UidSet | Iterable[int] | str,
        mode: Literal["+", "-", ""],
        flags: Iterable[str],
        *,
        silent: bool = True,
        unchangedsince: int | None = None,
    ) -> StoreResult:
        """UID STORE (RFC 3501 §6.4.6); ``unchangedsince`` (RFC 7162 §3.1.3) makes it
        conditional: refused UIDs come back in ``modified``."""
        if mode not in ("+", "-", ""):
            raise ValueError(f"bad STORE mode {mode!r}")
        args: list[Arg] = [_uid_arg(uids)]
        if unchangedsince is not None:
            args.append(RawArg(f"(UNCHANGEDSINCE {int(unchangedsince)})"))
        args.append(RawArg(f"{mode}FLAGS{'.SILENT' if silent else ''}"))
        args.append(_flag_list(flags))
        tagged, command = await self._run(
            "UID STORE", args, fetch_mode="collect" if not silent else "publish"
        )
        result = StoreResult(fetched=command.fetch_results)
        if tagged.code == "MODIFIED" and tagged.code_value:
            result.modified = UidSet.parse(tagged.code_value)
        return result

    async def uid_copy(
        self, uids: UidSet | Iterable[int] | str, destination: str
    ) -> CopyUid | None:
        """UID COPY; returns COPYUID (RFC 4315) when the server has UIDPLUS."""
        tagged, command = await self._run("UID COPY", [_uid_arg(uids), self._mailbox(destination)])
        return _copyuid(tagged, command)

    async def uid_move(
        self, uids: UidSet | Iterable[int] | str, destination: str
    ) -> CopyUid | None:
        """UID MOVE (RFC 6851); COPYUID may come untagged before the expunges (§4.3).
        Without MOVE: UID COPY, ``\\Deleted``, then UID EXPUNGE (UIDPLUS) or EXPUNGE."""
        if "MOVE" in self.capabilities:
            tagged, command = await self._run(
                "UID MOVE", [_uid_arg(uids), self._mailbox(destination)]
            )
            return _copyuid(tagged, command)
        copied = await self.uid_copy(uids, destination)
        await self.uid_store(uids, "+", ["\\Deleted"])
        if "UIDPLUS" in self.capabilities:
            await self.uid_expunge(uids)
        else:
            await self.expunge()
        return copied

    async def uid_expunge(self, uids: UidSet | Iterable[int] | str) -> None:
        """UID EXPUNGE (RFC 4315 §2.1): expunge only these \\Deleted messages."""
        if "UIDPLUS" not in self.capabilities:
            raise ImapError("server lacks UIDPLUS: UID EXPUNGE unavailable")
        await self._run("UID EXPUNGE", [_uid_arg(uids)])

    async def expunge(self) -> None:
        """EXPUNGE (RFC 3501 §6.4.3): every \\Deleted message of the selected mailbox."""
        await self._run("EXPUNGE")

    async def uid_search(self, *criteria: str) -> list[int]:
        """UID SEARCH (RFC 3501 §6.4.4), through ESEARCH (RFC 4731) when offered. Criteria
        that are atoms go as they are (``UNSEEN``, ``1:*``); anything else is quoted or sent
        as a literal, with ``CHARSET UTF-8`` when needed."""
        args: list[Arg] = []
        if "ESEARCH" in self.capabilities:
            args.append(RawArg("RETURN (ALL)"))
        if any(not criterion.isascii() for criterion in criteria):
            args.append(RawArg("CHARSET UTF-8"))
        for criterion in criteria:
            if _ATOM_SAFE.match(criterion):
                args.append(RawArg(criterion))
            else:
                args.append(_astring(criterion))
        _, command = await self._run("UID SEARCH", args)
        found: list[int] = []
        for response in command.untagged:
            if isinstance(response, ESearch) and response.all is not None:
                found.extend(response.all)
            elif isinstance(response, SearchResponse):
                found.extend(response.numbers)
        return found

    async def append(
        self,
        mailbox: str,
        message: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> AppendUid | None:
        """APPEND (RFC 3501 §6.3.11), one round trip with LITERAL+ (RFC 7888); returns
        APPENDUID (RFC 4315) when the server has UIDPLUS."""
        args: list[Arg] = [self._mailbox(mailbox)]
        flag_arg = _flag_list(flags)
        if flag_arg.text != "()":
            args.append(flag_arg)
        if internaldate is not None:
            args.append(_date_time(internaldate))
        args.append(LiteralArg(message))
        tagged, _ = await self._run("APPEND", args)
        if tagged.code == "APPENDUID" and tagged.code_value:
            return parse_appenduid(tagged.code_value)
        return None

    async def create(self, mailbox: str) -> None:
        """CREATE (RFC 3501 §6.3.3)."""
        await self._run("CREATE", [self._mailbox(mailbox)])

    async def rename(self, old: str, new: str) -> None:
        """RENAME (RFC 3501 §6.3.5)."""
        await self._run("RENAME", [self._mailbox(old), self._mailbox(new)])

    async def delete(self, mailbox: str) -> None:
        """DELETE (RFC 3501 §6.3.4)."""
        await self._run("DELETE", [self._mailbox(mailbox)])

    async def subscribe(self, mailbox: str) -> None:
        """SUBSCRIBE (RFC 3501 §6.3.6)."""
        await self._run("SUBSCRIBE", [self._mailbox(mailbox)])

    async def unsubscribe(self, mailbox: str) -> None:
        """UNSUBSCRIBE (RFC 3501 §6.3.7)."""
        await self._run("UNSUBSCRIBE", [self._mailbox(mailbox)])

    async def noop(self) -> list[Response]:
        """NOOP (RFC 3501 §6.1.2): lets the server report changes; returns what came."""
        _, command = await self._run("NOOP")
        return command.untagged + list(command.fetch_results)

    @contextlib.asynccontextmanager
    async def idle(self) -> AsyncIterator[IdleSession]:
        """IDLE (RFC 2177): ``async with client.idle() as idle: await idle.wait(60)``.
        DONE is sent on exit. Servers drop idlers after 30 minutes: re-enter within that."""
        if "IDLE" not in self.capabilities:
            raise ImapError("server lacks IDLE")
        subscription = self.unsolicited.subscribe()
        try:
            async with self._connection.command("IDLE") as command:
                await self._connection.expect_continuation(command)
                try:
                    yield IdleSession(subscription)
                finally:
                    await self._connection.send_line(b"DONE\r\n", command)
                    await self._connection.wait(command.future)
                    tagged = command.future.result()
            self._connection.finish(command, tagged, True)
        finally:
            subscription.close()

    async def notify(self, spec: str | None) -> None:
        """NOTIFY (RFC 5465): ``spec`` after ``NOTIFY SET``, e.g. ``"(SELECTED (MessageNew
        MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge MailboxName))"``;
        None sends ``NOTIFY NONE``. STATUS and LIST responses that follow are published."""
        if "NOTIFY" not in self.capabilities:
            raise ImapError("server lacks NOTIFY")
        if spec is not None and ("\r" in spec or "\n" in spec):
            raise ValueError("bad NOTIFY spec")
        await self._run("NOTIFY", [RawArg("NONE" if spec is None else f"SET {spec}")])

    async def compress(self) -> bool:
        """COMPRESS DEFLATE (RFC 4978); returns False when the server does not offer it.
        The reader switches to inflating the moment it sees the OK (§3: compression starts
        right after it); we deflate everything we send after that."""
        if "COMPRESS=DEFLATE" not in self.capabilities or self._connection.compressing:
            return False
        await self._run("COMPRESS", [RawArg("DEFLATE")])
        self._connection.start_compression()
        return True

    # --- ending ---

    async def logout(self) -> None:
        """LOGOUT (RFC 3501 §6.1.3), then close. Never raises for a dead connection."""
        if self._connection.usable:
            with contextlib.suppress(ImapError, OSError):
                await self._run("LOGOUT", check=False)
        await self.close()

    async def close(self) -> None:
        """Close the connection now; pending commands fail with :class:`ImapDisconnected`."""
        await self._connection.close()

    @property
    def closed(self) -> bool:
        """True once the connection failed or was closed."""
        return self._connection.closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.logout()
        else:
            await self.close()


# --- helpers ---


def _arg_bytes(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, RawArg):
        return arg.text.encode()
    raise ValueError("this argument cannot be a literal")


def _with(entry: ListEntry, **changes: object) -> ListEntry:
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


def _copyuid(tagged: Tagged, command: Command) -> CopyUid | None:
    if tagged.code == "COPYUID" and tagged.code_value:
        return parse_copyuid(tagged.code_value)
    for response in command.untagged:
        if (
            isinstance(response, UntaggedStatus)
            and response.code == "COPYUID"
            and response.code_value
        ):
            return parse_copyuid(response.code_value)
    return None


def _select_code(result: SelectResult, code: str, value: str | None) -> None:
    if code == "UIDVALIDITY" and value:
        result.uidvalidity = int(value)
    elif code == "UIDNEXT" and value:
        result.uidnext = int(value)
    elif code == "HIGHESTMODSEQ" and value:
        result.highestmodseq = int(value)
    elif code == "NOMODSEQ":
        result.nomodseq = True
    elif code == "UNSEEN" and value:
        result.unseen = int(value)
    elif code == "PERMANENTFLAGS":
        result.permanent_flags = parse_code_list(value)
