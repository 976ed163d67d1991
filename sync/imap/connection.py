"""One IMAP connection: the stream, the reader task, and the routing of what comes back.

One reader task owns the socket's read side: it feeds bytes to the pure
:class:`~sync.imap.lexer.ResponseAssembler`, parses complete responses with
:func:`~sync.imap.parser.parse_responses` and routes them: a tagged completion resolves the
command with that tag, every untagged response goes to the command in flight, and
unsolicited kinds (EXISTS, EXPUNGE, VANISHED, FETCH that nobody asked for, FLAGS, OK with a
response code, BYE) are also published on :attr:`ImapConnection.unsolicited`.

Commands run one at a time (an asyncio lock), so untagged data is never attributed to the
wrong command. A command waiting on a server that sends nothing for ``timeout`` seconds, a
closed connection, or a BYE fails every pending command with :class:`ImapDisconnected`.
Arguments are never logged: only command names and tags.

What each command means is :class:`~sync.imap.client.ImapClient`'s business; this module
knows how to send one and collect its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from sync.events import EventBus
from sync.imap.errors import (
    ImapCommandError,
    ImapDisconnected,
    ImapError,
    ImapParseError,
    ImapSecurityError,
    ImapTimeout,
)
from sync.imap.lexer import RawResponse, ResponseAssembler
from sync.imap.parser import parse_response, parse_responses
from sync.imap.types import (
    Bye,
    Capability,
    Continuation,
    Disconnected,
    Exists,
    Expunge,
    FetchResult,
    FlagsUpdate,
    ListEntry,
    MailboxStatus,
    Response,
    ResponseCode,
    Tagged,
    UidSet,
    Unsolicited,
    UntaggedStatus,
    Vanished,
)
from sync.tlsconfig import PinMismatch, client_context, verify_pin

__all__ = ["Arg", "Command", "FetchMode", "ImapConnection", "LiteralArg", "RawArg", "Security"]

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]
FetchMode = Literal["publish", "collect", "filter"]

READ_SIZE = 256 * 1024
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


class LiteralArg:
    """An argument sent as a literal (RFC 3501 §4.3) because of its bytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class RawArg:
    """An argument sent exactly as given (atoms, lists, sequence sets we built ourselves)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


Arg = RawArg | LiteralArg | bytes


class Command:
    """One command in flight: its tag, what came back, and how to treat FETCH responses."""

    __slots__ = (
        "continuations",
        "error",
        "event",
        "fetch_mode",
        "fetch_results",
        "future",
        "intercept",
        "name",
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
        fetch_mode: FetchMode,
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
        # uid_fetch_rows (sync.imap.fetch_rows): sees the raw responses before they are
        # parsed, keeps rows of its own in ``rows`` and returns what it leaves.
        self.intercept: Callable[[list[RawResponse]], list[RawResponse]] | None = None
        self.rows: list[Any] = []

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


class ImapConnection:
    """The wire of one IMAP session: open it with :meth:`open`, run commands through
    :meth:`command` or :meth:`run`, end it with :meth:`close`."""

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
        self.greeting: UntaggedStatus | None = None
        self._assembler = ResponseAssembler()
        self._early: list[Response] = []  # responses read before the reader task runs
        self._lock = asyncio.Lock()
        self._tag_number = 0
        self._current: Command | None = None
        self._continuation: asyncio.Future[str] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._failure: ImapDisconnected | None = None
        self._loop = asyncio.get_running_loop()
        self._last_activity = self._loop.time()
        self._decompressor: zlib._Decompress | None = None
        self._compressor: zlib._Compress | None = None

    # --- connection set-up ---

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        security: Security,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: Path | None = None,
        fingerprint: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 - the contract; also the inactivity limit
    ) -> ImapConnection:
        """Connect, read the greeting, set up TLS as asked and learn the capabilities (the
        work behind :meth:`sync.imap.client.ImapClient.connect`, which documents the
        arguments)."""
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
                    limit=READ_SIZE,
                )
        except TimeoutError:
            raise ImapTimeout(f"could not connect to {host}:{port} within {timeout} s") from None
        except ssl.SSLError as exc:
            raise ImapSecurityError(f"TLS handshake with {host}:{port} failed: {exc}") from None
        except OSError as exc:
            raise ImapDisconnected(f"could not connect to {host}:{port}: {exc}") from None
        connection = cls(reader, writer, host=host, port=port, timeout=timeout)
        try:
            await connection._set_up(security, context, fingerprint)
        except BaseException:
            await connection.close()
            raise
        return connection

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
                    data = await self._reader.read(READ_SIZE)
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
                data = await self._reader.read(READ_SIZE)
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
        if current is not None and current.intercept is not None and not current.future.done():
            raws = current.intercept(raws)
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

    def _route_untagged(
        self,
        response: Response,
        command: Command | None,
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

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the server (deflated once COMPRESS is on)."""
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._writer.write(data)

    async def wait(self, future: asyncio.Future[Any]) -> None:
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

    async def _send(self, command: Command, args: Sequence[Arg]) -> None:
        pieces = [command.tag.encode(), b" ", command.name.encode()]
        for arg in args:
            pieces.append(b" ")
            if isinstance(arg, bytes):
                pieces.append(arg)
            elif isinstance(arg, RawArg):
                pieces.append(arg.text.encode())
            else:
                size = len(arg.data)
                if self._literal_plus(size):  # RFC 7888: no round trip
                    pieces.append(b"{%d+}\r\n" % size)
                    pieces.append(arg.data)
                    continue
                pieces.append(b"{%d}\r\n" % size)
                self.write(b"".join(pieces))
                pieces = []
                await self.expect_continuation(command)
                pieces.append(arg.data)
        pieces.append(b"\r\n")
        self.write(b"".join(pieces))
        self._last_activity = self._loop.time()
        await self._writer.drain()

    async def next_continuation(self, command: Command) -> str | None:
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

    async def expect_continuation(self, command: Command) -> str:
        """Like :meth:`next_continuation`, but a completion instead of ``+`` is an error."""
        text = await self.next_continuation(command)
        if text is None:
            tagged = command.future.result()  # raises ImapDisconnected if the link died
            raise ImapCommandError(command.name, tagged.status, tagged.text, tagged.code)
        return text

    @contextlib.asynccontextmanager
    async def command(
        self,
        name: str,
        args: Sequence[Arg] = (),
        *,
        fetch_mode: FetchMode = "publish",
        uids: UidSet | None = None,
        static_item: str | None = None,
        streaming: bool = False,
    ) -> AsyncIterator[Command]:
        """Hold the connection for one command: send it, yield it while it runs."""
        async with self._lock:
            self._check_open()
            command = Command(self._next_tag(), name, self._loop.create_future(), fetch_mode)
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
                    await self.wait(command.future)
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

    async def run(
        self,
        name: str,
        args: Sequence[Arg] = (),
        *,
        check: bool = True,
        fetch_mode: FetchMode = "publish",
        uids: UidSet | None = None,
        static_item: str | None = None,
    ) -> tuple[Tagged, Command]:
        """Run one command to completion; raise on NO/BAD unless ``check`` is false."""
        async with self.command(
            name, args, fetch_mode=fetch_mode, uids=uids, static_item=static_item
        ) as command:
            await self.wait(command.future)
            tagged = command.future.result()
        return self.finish(command, tagged, check)

    def finish(self, command: Command, tagged: Tagged, check: bool) -> tuple[Tagged, Command]:
        """Settle a completed command: raise what it ran into (a bad response, or NO/BAD when
        ``check``), learn capabilities from the completion's response code."""
        if command.error is not None:
            raise command.error
        if check and tagged.status != "OK":
            raise ImapCommandError(command.name, tagged.status, tagged.text, tagged.code)
        if tagged.code == "CAPABILITY" and tagged.code_value:
            self.capabilities = frozenset(tagged.code_value.upper().split())
        return tagged, command

    async def stream(self, command: Command) -> AsyncGenerator[None, None]:
        """Yield each time a streaming command has rows or results waiting, until it ends."""
        event = command.event
        assert event is not None
        while True:
            if not command.fetch_results and not command.rows and not command.future.done():
                event.clear()
                waiter = asyncio.ensure_future(event.wait())
                try:
                    await self.wait(waiter)
                finally:
                    waiter.cancel()
            if command.fetch_results or command.rows:
                yield
                continue
            if command.future.done():
                break

    async def send_line(self, line: bytes, command: Command) -> None:
        """Send ``line`` inside ``command`` (IDLE's DONE) unless the command already ended or
        the connection died; a write error is left for the wait that follows to report."""
        if self._failure is None and not command.future.done():
            self.write(line)
            self._last_activity = self._loop.time()
            with contextlib.suppress(OSError):
                await self._writer.drain()

    # --- COMPRESS (RFC 4978) ---

    @property
    def compressing(self) -> bool:
        """True once we deflate what we send."""
        return self._compressor is not None

    def start_compression(self) -> None:
        """Deflate everything sent from now on (the reader inflates from the server's OK)."""
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)

    # --- ending ---

    @property
    def usable(self) -> bool:
        """True while commands can be sent: set up, and neither failed nor closed."""
        return self._failure is None and self._reader_task is not None

    @property
    def closed(self) -> bool:
        """True once the connection failed or was closed."""
        return self._failure is not None

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
