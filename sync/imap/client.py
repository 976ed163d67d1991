"""A small asyncio IMAP4rev1 client: one connection, commands serialised, nothing dropped.

One reader task owns the socket's read side: it feeds bytes to the pure
:class:`~sync.imap.lexer.ResponseAssembler`, parses complete responses with
:func:`~sync.imap.parser.parse_responses` and routes them: a tagged completion resolves the
command with that tag, every untagged response goes to the command in flight, and
unsolicited kinds (EXISTS, EXPUNGE, VANISHED, FETCH that nobody asked for, FLAGS, OK with a
response code, BYE) are also published on :attr:`ImapClient.unsolicited`.

Commands run one at a time (an asyncio lock), so untagged data is never attributed to the
wrong command. A command waiting on a server that sends nothing for ``timeout`` seconds, a
closed connection, or a BYE fails every pending command with :class:`ImapDisconnected`.
Arguments are never logged: only command names and tags.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import re
import ssl
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Container,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from sync.events import EventBus, Subscription
from sync.imap.errors import (
    ImapCommandError,
    ImapDisconnected,
    ImapError,
    ImapParseError,
    ImapSecurityError,
    ImapTimeout,
)
from sync.imap.lexer import RawResponse, ResponseAssembler
from sync.imap.parser import (
    parse_appenduid,
    parse_code_list,
    parse_copyuid,
    parse_response,
    parse_responses,
)
from sync.imap.types import (
    AppendUid,
    Bye,
    Capability,
    Continuation,
    CopyUid,
    Disconnected,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    FetchResult,
    FlagsUpdate,
    IdResponse,
    ListEntry,
    MailboxStatus,
    NamespaceResponse,
    QresyncParams,
    Recent,
    Response,
    ResponseCode,
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
from sync.tlsconfig import PinMismatch, client_context, verify_pin

__all__ = ["IdleSession", "ImapClient", "Security"]

T = TypeVar("T")  # the rows of a caller's own FETCH parser (ImapClient.uid_fetch_rows)

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]

_READ_SIZE = 256 * 1024
# Response codes worth telling subscribers about when they arrive untagged.
_PUBLISHED_CODES = frozenset(
    {
        "HIGHESTMODSEQ",
        "COPYUID",
        "APPENDUID",
        "ALERT",
        "UIDVALIDITY",
        "UIDNEXT",
        "NOMODSEQ",
        "CLOSED",
    }
)
# Fetch items that never change for a message: a response to a FETCH that asked for one of
# them but lacks it is a flag-change notification, not the answer (RFC 3501 §7.4.2).
_STATIC_ITEMS = ("ENVELOPE", "BODYSTRUCTURE", "INTERNALDATE", "RFC822.SIZE", "BODY", "BINARY")
_ATOM_SAFE = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~*\\]+\Z")
_FLAG = re.compile(r"\\?[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+\Z")
_FETCH_ITEM = re.compile(r"[^\r\n\x00]+\Z")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _Literal:
    """An argument sent as a literal (RFC 3501 §4.3) because of its bytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Raw:
    """An argument sent exactly as given (atoms, lists, sequence sets we built ourselves)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_Arg = _Raw | _Literal | bytes


def _astring(value: str | bytes, *, utf8: bool = False) -> _Arg:
    """Quote ``value`` or make it a literal, as its bytes require (RFC 3501 §4.3, §9)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    plain = b"\r" not in data and b"\n" not in data and b"\x00" not in data
    if len(data) < 1024 and plain and (utf8 or data.isascii()):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return _Literal(data)


def _flag_list(flags: Iterable[str]) -> _Raw:
    checked = []
    for flag in flags:
        if not _FLAG.match(flag):
            raise ValueError(f"not a valid IMAP flag: {flag!r}")
        checked.append(flag)
    return _Raw("(" + " ".join(checked) + ")")


def _uid_arg(uids: UidSet | Iterable[int] | str) -> _Raw:
    if isinstance(uids, str):
        uidset = UidSet.parse(uids)
    elif isinstance(uids, UidSet):
        uidset = uids
    else:
        uidset = UidSet.of(uids)
    if not uidset:
        raise ValueError("empty UID set")
    return _Raw(str(uidset))


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


class _Command:
    """One command in flight: its tag, what came back, and how to treat FETCH responses."""

    __slots__ = (
        "continuations",
        "error",
        "event",
        "fetch_mode",
        "fetch_results",
        "future",
        "members",
        "name",
        "row_parser",
        "rows",
        "static_item",
        "tag",
        "uids",
        "untagged",
    )

    def __init__(
        self,
        tag: str,
        name: str,
        future: asyncio.Future[Tagged],
        fetch_mode: Literal["publish", "collect", "filter"],
    ) -> None:
        self.tag = tag
        self.name = name
        self.future = future
        self.fetch_mode = fetch_mode
        self.untagged: list[Response] = []
        self.fetch_results: list[FetchResult] = []
        self.event: asyncio.Event | None = None
        self.uids: UidSet | None = None
        self.static_item: str | None = None
        self.error: ImapError | None = None
        self.continuations: list[str] = []  # "+" texts not yet consumed (RFC 3501 §7.5)
        # uid_fetch_rows: the caller's parser, what it took, and the UIDs asked for.
        self.row_parser: Callable[[RawResponse], tuple[int, Any] | None] | None = None
        self.rows: list[Any] = []
        self.members: Container[int] = ()

    def solicited(self, result: FetchResult) -> bool:
        """Is this FETCH response the answer to this command (not someone else's change)?"""
        if self.fetch_mode == "collect":
            return True
        if self.fetch_mode == "publish":
            return False
        if self.uids is not None and (result.uid is None or result.uid not in self.uids):
            return False
        item = self.static_item
        if item is None:
            return True
        if item == "ENVELOPE":
            return result.envelope is not None
        if item == "BODYSTRUCTURE":
            return result.bodystructure is not None
        if item == "INTERNALDATE":
            return result.internaldate is not None
        if item == "RFC822.SIZE":
            return result.size is not None
        return bool(result.sections)


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

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        host: str,
        port: int,
        timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.host = host
        self.port = port
        self.timeout = timeout
        self.capabilities: frozenset[str] = frozenset()
        self.enabled: frozenset[str] = frozenset()
        self.unsolicited: EventBus[Unsolicited] = EventBus()
        self.selected: str | None = None
        self.greeting: UntaggedStatus | None = None
        self._assembler = ResponseAssembler()
        self._early: list[Response] = []  # responses read before the reader task runs
        self._lock = asyncio.Lock()
        self._tag_number = 0
        self._current: _Command | None = None
        self._continuation: asyncio.Future[str] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._failure: ImapDisconnected | None = None
        self._loop = asyncio.get_running_loop()
        self._last_activity = self._loop.time()
        self._decompressor: zlib._Decompress | None = None
        self._compressor: zlib._Compress | None = None
        self._idling = False

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
        context: ssl.SSLContext | None = None
        if security != "none":
            context = ssl_context or client_context(ca_file, fingerprint)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=context if security == "tls" else None,
                    server_hostname=host if security == "tls" else None,
                    limit=_READ_SIZE,
                )
        except TimeoutError:
            raise ImapTimeout(f"could not connect to {host}:{port} within {timeout} s") from None
        except ssl.SSLError as exc:
            raise ImapSecurityError(f"TLS handshake with {host}:{port} failed: {exc}") from None
        except OSError as exc:
            raise ImapDisconnected(f"could not connect to {host}:{port}: {exc}") from None
        client = cls(reader, writer, host=host, port=port, timeout=timeout)
        try:
            await client._set_up(security, context, fingerprint)
        except BaseException:
            await client.close()
            raise
        return client

    async def _set_up(
        self, security: Security, context: ssl.SSLContext | None, fingerprint: str | None
    ) -> None:
        greeting = await self._read_early()
        if not isinstance(greeting, UntaggedStatus) or greeting.status not in ("OK", "PREAUTH"):
            text = greeting.text if isinstance(greeting, UntaggedStatus) else repr(greeting)
            raise ImapDisconnected(f"server refused the connection: {text}")
        self.greeting = greeting
        if security == "tls" and fingerprint:
            self._check_fingerprint(fingerprint)
        if greeting.code == "CAPABILITY" and greeting.code_value:
            self.capabilities = frozenset(greeting.code_value.upper().split())
        if security == "starttls":
            if greeting.status == "PREAUTH":
                raise ImapSecurityError("server pre-authenticated the connection: no STARTTLS")
            if not self.capabilities:
                await self._early_command("CAPABILITY")
            if "STARTTLS" not in self.capabilities:
                raise ImapSecurityError("server does not offer STARTTLS")
            tagged = await self._early_command("STARTTLS", check=False)
            if tagged.status != "OK":
                raise ImapSecurityError(f"STARTTLS refused: {tagged.text}")
            if self._assembler.pending or self._early:
                # RFC 3501 §6.2.1 / CVE-2011-0411 style injection: nothing may follow the OK.
                raise ImapSecurityError("data received after STARTTLS before the handshake")
            assert context is not None
            try:
                async with asyncio.timeout(self.timeout):
                    await self._writer.start_tls(context, server_hostname=self.host)
            except ssl.SSLError as exc:
                raise ImapSecurityError(f"TLS handshake failed: {exc}") from None
            if fingerprint:
                self._check_fingerprint(fingerprint)
            self.capabilities = frozenset()  # RFC 3501 §6.2.1: discard what we learned
        if not self.capabilities:
            await self._early_command("CAPABILITY")
        self._reader_task = asyncio.create_task(self._read_loop(), name="imap-reader")

    def _check_fingerprint(self, fingerprint: str) -> None:
        try:
            verify_pin(self._writer.get_extra_info("ssl_object"), fingerprint)
        except PinMismatch as exc:
            raise ImapSecurityError(str(exc)) from None

    async def _read_early(self) -> Response:
        """Read one response before the reader task exists (greeting, STARTTLS)."""
        try:
            async with asyncio.timeout(self.timeout):
                while not self._early:
                    data = await self._reader.read(_READ_SIZE)
                    if not data:
                        raise ImapDisconnected("connection closed by server")
                    for raw in self._assembler.feed(data):
                        self._early.append(parse_response(raw))
        except TimeoutError:
            raise ImapTimeout(f"server sent nothing for {self.timeout} s") from None
        except OSError as exc:
            raise ImapDisconnected(f"connection lost: {exc}") from None
        return self._early.pop(0)

    async def _early_command(self, name: str, *, check: bool = True) -> Tagged:
        tag = self._next_tag()
        self._writer.write(f"{tag} {name}\r\n".encode())
        while True:
            response = await self._read_early()
            if isinstance(response, Capability):
                self.capabilities = response.capabilities
            elif isinstance(response, Tagged) and response.tag == tag:
                if check and response.status != "OK":
                    raise ImapCommandError(name, response.status, response.text, response.code)
                if response.code == "CAPABILITY" and response.code_value:
                    self.capabilities = frozenset(response.code_value.upper().split())
                return response
            elif isinstance(response, UntaggedStatus) and response.status == "BYE":
                raise ImapDisconnected(f"server said BYE: {response.text}")

    # --- the reader task ---

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    raise ImapDisconnected("connection closed by server")
                self._last_activity = self._loop.time()
                if self._decompressor is not None:
                    data = self._decompressor.decompress(data)
                raws = self._assembler.feed(data)
                if raws:
                    self._dispatch(raws)
        except asyncio.CancelledError:
            raise
        except ImapDisconnected as exc:
            self._fail(exc)
        except ImapParseError as exc:  # the framing itself is broken: nothing can follow
            self._fail(ImapDisconnected(f"unreadable data from server: {exc}"))
        except (OSError, EOFError, zlib.error) as exc:
            self._fail(ImapDisconnected(f"connection lost: {exc}"))
        except Exception as exc:  # a bug of ours: never leave commands waiting on a dead reader
            log.exception("IMAP reader failed")
            self._fail(ImapDisconnected(f"internal error in the IMAP reader: {exc!r}"))

    def _dispatch(self, raws: list[RawResponse]) -> None:
        current = self._current
        if current is not None and current.row_parser is not None and not current.future.done():
            raws = self._take_rows(current, raws)
            if not raws:
                return
        utf8 = "UTF8=ACCEPT" in self.enabled
        try:
            responses: list[Response | ImapParseError] = list(
                parse_responses(raws, utf8_names=utf8)
            )
        except ImapParseError:
            responses = []
            for raw in raws:  # find the bad one; keep every good one
                try:
                    responses.append(parse_response(raw, utf8_names=utf8))
                except ImapParseError as exc:
                    responses.append(exc)
        command = self._current
        if command is not None and command.future.done():
            # Completed, but its coroutine has not resumed yet: what follows is unsolicited.
            command = None
        publish = self.unsolicited.publish
        for response in responses:
            kind = type(response)
            if kind is FetchResult:
                assert isinstance(response, FetchResult)
                if command is not None and command.solicited(response):
                    command.fetch_results.append(response)
                    if command.event is not None:
                        command.event.set()
                else:
                    if command is not None:
                        command.untagged.append(response)
                    publish(response)
                continue
            if kind is Tagged:
                assert isinstance(response, Tagged)
                if command is not None and response.tag == command.tag:
                    if command.name == "COMPRESS" and response.status == "OK":
                        self._decompressor = zlib.decompressobj(-15)
                    if not command.future.done():
                        command.future.set_result(response)
                    if command.event is not None:
                        command.event.set()
                    command = None
                else:
                    log.warning("IMAP: completion for unknown tag %s", response.tag[:20])
                continue
            if kind is Continuation:
                assert isinstance(response, Continuation)
                if command is not None:
                    command.continuations.append(response.text)
                    if command.event is not None:
                        command.event.set()
                    waiter = self._continuation
                    if waiter is not None and not waiter.done():
                        waiter.set_result(response.text)
                else:
                    log.warning("IMAP: unexpected continuation request")
                continue
            if isinstance(response, ImapParseError):
                log.warning("IMAP: unparsable response: %s", response)
                if command is not None and command.error is None:
                    command.error = response
                continue
            if command is not None:
                command.untagged.append(response)
            self._route_untagged(response, command, publish)

    @staticmethod
    def _take_rows(command: _Command, raws: list[RawResponse]) -> list[RawResponse]:
        """Give the responses of ``command`` to its row parser; return the rest (its
        completion, what the parser did not take, and answers to UIDs not asked for, which
        are someone else's news) for the ordinary path."""
        parse = command.row_parser
        assert parse is not None
        members = command.members
        rows = command.rows
        completion = command.tag.encode() + b" "
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

    def _route_untagged(
        self,
        response: Response,
        command: _Command | None,
        publish: Callable[[Unsolicited], None],
    ) -> None:
        if isinstance(response, Exists | Expunge | Vanished | FlagsUpdate):
            publish(response)
        elif isinstance(response, UntaggedStatus):
            if response.status == "BYE":
                publish(Bye(response.text))
                if command is None or command.name != "LOGOUT":
                    self._fail(ImapDisconnected(f"server said BYE: {response.text}"))
            elif response.code is not None and (
                response.code in _PUBLISHED_CODES or response.status != "OK"
            ):
                publish(
                    ResponseCode(response.code, response.code_value, response.text, response.status)
                )
        elif isinstance(response, Capability):
            self.capabilities = response.capabilities
        elif isinstance(response, MailboxStatus | ListEntry) and (
            command is None or command.name not in ("LIST", "STATUS", "LSUB")
        ):
            publish(response)  # NOTIFY (RFC 5465 §5) reports other mailboxes this way

    def _fail(self, error: ImapDisconnected) -> None:
        """The connection is unusable: fail everything pending, tell subscribers, close."""
        if self._failure is not None:
            return
        self._failure = error
        log.info("IMAP connection to %s:%s lost: %s", self.host, self.port, error.reason)
        command = self._current
        if command is not None:
            if not command.future.done():
                command.future.set_exception(error)
                command.future.exception()  # retrieved here; the waiter re-raises it
            if command.event is not None:
                command.event.set()
        waiter = self._continuation
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
            waiter.exception()
        self.unsolicited.publish(Disconnected(error.reason))
        transport = self._writer.transport
        if transport is not None:
            transport.abort()
        task = self._reader_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

    # --- sending commands ---

    def _next_tag(self) -> str:
        self._tag_number += 1
        return f"M{self._tag_number}"

    def _write(self, data: bytes) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._writer.write(data)

    async def _wait(self, future: asyncio.Future[Any]) -> None:
        """Wait for ``future``; fail the connection when the server goes silent."""
        while not future.done():
            remaining = self._last_activity + self.timeout - self._loop.time()
            if remaining <= 0:
                self._fail(ImapTimeout(f"server sent nothing for {self.timeout} s"))
                break
            await asyncio.wait([future], timeout=remaining)

    def _check_open(self) -> None:
        if self._failure is not None:
            raise ImapDisconnected(self._failure.reason)
        if self._reader_task is None:
            raise ImapDisconnected("not connected")

    def _literal_plus(self, size: int) -> bool:
        caps = self.capabilities
        return "LITERAL+" in caps or ("LITERAL-" in caps and size <= 4096)

    async def _send(self, command: _Command, args: Sequence[_Arg]) -> None:
        pieces = [command.tag.encode(), b" ", command.name.encode()]
        for arg in args:
            pieces.append(b" ")
            if isinstance(arg, bytes):
                pieces.append(arg)
            elif isinstance(arg, _Raw):
                pieces.append(arg.text.encode())
            else:
                size = len(arg.data)
                if self._literal_plus(size):  # RFC 7888: no round trip
                    pieces.append(b"{%d+}\r\n" % size)
                    pieces.append(arg.data)
                    continue
                pieces.append(b"{%d}\r\n" % size)
                self._write(b"".join(pieces))
                pieces = []
                await self._continue(command)
                pieces.append(arg.data)
        pieces.append(b"\r\n")
        self._write(b"".join(pieces))
        self._last_activity = self._loop.time()
        await self._writer.drain()

    async def _next_continuation(self, command: _Command) -> str | None:
        """The next ``+`` for ``command`` (RFC 3501 §7.5), or None when the command completed
        (or failed) instead. Continuations that arrived earlier are kept, so none is missed."""
        await self._writer.drain()
        self._last_activity = self._loop.time()
        while not command.continuations and not command.future.done():
            waiter: asyncio.Future[str] = self._loop.create_future()
            self._continuation = waiter
            try:
                remaining = self._last_activity + self.timeout - self._loop.time()
                if remaining <= 0:
                    self._fail(ImapTimeout(f"server sent nothing for {self.timeout} s"))
                    break
                waitables: list[asyncio.Future[Tagged] | asyncio.Future[str]] = [
                    waiter,
                    command.future,
                ]
                await asyncio.wait(
                    waitables, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                self._continuation = None
        if command.continuations:
            return command.continuations.pop(0)
        return None

    async def _continue(self, command: _Command) -> str:
        """Like :meth:`_next_continuation`, but a completion instead of ``+`` is an error."""
        text = await self._next_continuation(command)
        if text is None:
            tagged = command.future.result()  # raises ImapDisconnected if the link died
            raise ImapCommandError(command.name, tagged.status, tagged.text, tagged.code)
        return text

    @contextlib.asynccontextmanager
    async def _command(
        self,
        name: str,
        args: Sequence[_Arg] = (),
        *,
        fetch_mode: Literal["publish", "collect", "filter"] = "publish",
        uids: UidSet | None = None,
        static_item: str | None = None,
        streaming: bool = False,
    ) -> AsyncIterator[_Command]:
        """Hold the connection for one command: send it, yield it while it runs."""
        async with self._lock:
            self._check_open()
            command = _Command(self._next_tag(), name, self._loop.create_future(), fetch_mode)
            command.uids = uids
            command.static_item = static_item
            if streaming:
                command.event = asyncio.Event()
            self._current = command
            log.debug("IMAP > %s %s", command.tag, name)
            try:
                await self._send(command, args)
                yield command
            except (OSError, ConnectionError) as exc:
                self._fail(ImapDisconnected(f"connection lost: {exc}"))
                raise ImapDisconnected(f"connection lost: {exc}") from None
            except GeneratorExit:
                # A caller stopped reading a streaming command early: let it finish so its
                # remaining responses are not taken for the next command's.
                if not command.future.done() and self._failure is None:
                    await self._wait(command.future)
                raise
            except BaseException:
                if not command.future.done():
                    # Cancelled or failed half way (a literal half sent?): the protocol state
                    # is unknown, so the connection cannot be trusted any more.
                    self._fail(ImapDisconnected(f"{name} abandoned; connection closed"))
                raise
            finally:
                if self._current is command:
                    self._current = None

    async def _run(
        self,
        name: str,
        args: Sequence[_Arg] = (),
        *,
        check: bool = True,
        fetch_mode: Literal["publish", "collect", "filter"] = "publish",
        uids: UidSet | None = None,
        static_item: str | None = None,
    ) -> tuple[Tagged, _Command]:
        """Run one command to completion; raise on NO/BAD unless ``check`` is false."""
        async with self._command(
            name, args, fetch_mode=fetch_mode, uids=uids, static_item=static_item
        ) as command:
            await self._wait(command.future)
            tagged = command.future.result()
        return self._finish(command, tagged, check)

    def _finish(self, command: _Command, tagged: Tagged, check: bool) -> tuple[Tagged, _Command]:
        if command.error is not None:
            raise command.error
        if check and tagged.status != "OK":
            raise ImapCommandError(command.name, tagged.status, tagged.text, tagged.code)
        if tagged.code == "CAPABILITY" and tagged.code_value:
            self.capabilities = frozenset(tagged.code_value.upper().split())
        return tagged, command

    def _mailbox(self, name: str) -> _Arg:
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
        args: list[_Arg] = [_Raw(mechanism)]
        if initial:
            args.append(encoded or b"=")
        async with self._command("AUTHENTICATE", args) as command:
            if not initial:
                await self._continue(command)
                self._write(encoded + b"\r\n")
            # A further "+" carries the server's error (XOAUTH2, OAUTHBEARER): acknowledge it
            # so that the tagged NO follows.
            while await self._next_continuation(command) is not None:
                self._write(base64.b64encode(error_reply) + b"\r\n")
            await self._wait(command.future)
            tagged = command.future.result()
        self._finish(command, tagged, True)
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
        _, command = await self._run("ENABLE", [_Raw(cap) for cap in wanted])
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
            arg: _Arg = b"(" + b" ".join(parts) + b")"
        else:
            arg = _Raw("NIL")
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
        args: list[_Arg] = [self._mailbox(reference), self._mailbox(pattern)]
        if returns:
            args.append(_Raw(f"RETURN ({' '.join(returns)})"))
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
        _, command = await self._run("STATUS", [self._mailbox(mailbox), _Raw(f"({wanted})")])
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
        args: list[_Arg] = [self._mailbox(mailbox)]
        if qresync is not None:
            if "QRESYNC" not in self.enabled:
                raise ImapError("QRESYNC must be enabled first (RFC 7162 §3.2.3)")
            known = f" {qresync.known_uids}" if qresync.known_uids else ""
            args.append(_Raw(f"(QRESYNC ({qresync.uidvalidity} {qresync.modseq}{known}))"))
        elif condstore and "CONDSTORE" in self.capabilities:
            args.append(_Raw("(CONDSTORE)"))
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
    ) -> tuple[list[_Arg], UidSet, str | None]:
        uid_arg = _uid_arg(uids)
        wanted = [item.strip() for item in items]
        for item in wanted:
            if not _FETCH_ITEM.match(item):
                raise ValueError(f"bad FETCH item {item!r}")
        if "UID" not in (item.upper() for item in wanted):
            wanted.insert(0, "UID")
        args: list[_Arg] = [uid_arg, _Raw("(" + " ".join(wanted) + ")")]
        if changedsince is not None:
            modifier = f"CHANGEDSINCE {int(changedsince)}"
            if vanished:
                modifier += " VANISHED"  # RFC 7162 §3.2.6
            args.append(_Raw(f"({modifier})"))
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
        async with self._command(
            "UID FETCH", args, fetch_mode="filter", uids=uidset, static_item=static, streaming=True
        ) as command:
            async with contextlib.aclosing(self._stream(command)) as stream:
                async for _ in stream:
                    batch = command.fetch_results
                    command.fetch_results = []
                    yield batch
            tagged = command.future.result()
        self._finish(command, tagged, True)

    async def uid_fetch_rows(
        self,
        uids: UidSet | Iterable[int],
        items: Sequence[str],
        row_parser: Callable[[RawResponse], tuple[int, T] | None],
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
        async with self._command(
            "UID FETCH", args, fetch_mode="filter", uids=uidset, static_item=static, streaming=True
        ) as command:
            try:
                # A set lookup per response (UidSet's own test walks its ranges).
                command.members = frozenset(uidset) if len(uidset.ranges) > 4 else uidset
            except ValueError:  # a range with "*": keep the set's own test
                command.members = uidset
            command.row_parser = row_parser
            async with contextlib.aclosing(self._stream(command)) as stream:
                async for _ in stream:
                    rows: list[T] = command.rows
                    results = command.fetch_results
                    command.rows = []
                    command.fetch_results = []
                    yield rows, results
            tagged = command.future.result()
        self._finish(command, tagged, True)

    async def _stream(self, command: _Command) -> AsyncGenerator[None, None]:
        """Yield each time a streaming command has rows or results waiting, until it ends."""
        event = command.event
        assert event is not None
        while True:
            if not command.fetch_results and not command.rows and not command.future.done():
                event.clear()
                waiter = asyncio.ensure_future(event.wait())
                try:
                    await self._wait(waiter)
                finally:
                    waiter.cancel()
            if command.fetch_results or command.rows:
                yield
                continue
            if command.future.done():
                break

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
        args: list[_Arg] = [_uid_arg(uids)]
        if unchangedsince is not None:
            args.append(_Raw(f"(UNCHANGEDSINCE {int(unchangedsince)})"))
        args.append(_Raw(f"{mode}FLAGS{'.SILENT' if silent else ''}"))
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
        args: list[_Arg] = []
        if "ESEARCH" in self.capabilities:
            args.append(_Raw("RETURN (ALL)"))
        if any(not criterion.isascii() for criterion in criteria):
            args.append(_Raw("CHARSET UTF-8"))
        for criterion in criteria:
            if _ATOM_SAFE.match(criterion):
                args.append(_Raw(criterion))
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
        args: list[_Arg] = [self._mailbox(mailbox)]
        flag_arg = _flag_list(flags)
        if flag_arg.text != "()":
            args.append(flag_arg)
        if internaldate is not None:
            args.append(_date_time(internaldate))
        args.append(_Literal(message))
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
            async with self._command("IDLE") as command:
                await self._continue(command)
                try:
                    yield IdleSession(subscription)
                finally:
                    if self._failure is None and not command.future.done():
                        self._write(b"DONE\r\n")
                        self._last_activity = self._loop.time()
                        with contextlib.suppress(OSError):
                            await self._writer.drain()
                    await self._wait(command.future)
                    tagged = command.future.result()
            self._finish(command, tagged, True)
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
        await self._run("NOTIFY", [_Raw("NONE" if spec is None else f"SET {spec}")])

    async def compress(self) -> bool:
        """COMPRESS DEFLATE (RFC 4978); returns False when the server does not offer it.
        The reader switches to inflating the moment it sees the OK (§3: compression starts
        right after it); we deflate everything we send after that."""
        if "COMPRESS=DEFLATE" not in self.capabilities or self._compressor is not None:
            return False
        await self._run("COMPRESS", [_Raw("DEFLATE")])
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        return True

    # --- ending ---

    async def logout(self) -> None:
        """LOGOUT (RFC 3501 §6.1.3), then close. Never raises for a dead connection."""
        if self._failure is None and self._reader_task is not None:
            with contextlib.suppress(ImapError, OSError):
                await self._run("LOGOUT", check=False)
        await self.close()

    async def close(self) -> None:
        """Close the connection now; pending commands fail with :class:`ImapDisconnected`."""
        if self._failure is None:
            self._fail(ImapDisconnected("connection closed by client"))
        task = self._reader_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            self._writer.close()
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()

    @property
    def closed(self) -> bool:
        """True once the connection failed or was closed."""
        return self._failure is not None

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


def _arg_bytes(arg: _Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, _Raw):
        return arg.text.encode()
    raise ValueError("this argument cannot be a literal")


def _with(entry: ListEntry, **changes: object) -> ListEntry:
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


def _copyuid(tagged: Tagged, command: _Command) -> CopyUid | None:
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
