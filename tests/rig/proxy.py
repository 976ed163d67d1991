"""A loopback TCP proxy that injects network faults between a client and a real server.

One daemon thread runs a ``selectors`` loop over every socket, so the proxy serves in-process
asyncio clients and subprocesses alike, and latency is pipelined (each chunk is held for the
delay, chunks are not serialised behind each other). Controls, callable from any thread:

- ``cut()``: drop every open connection now (FIN, or RST with ``reset=True``);
- ``refuse(True)``: accept new connections and close them at once, without contacting the server;
- ``stall(True)``: stop moving bytes in both directions but keep the sockets open (a dead link
  that TCP has not noticed yet); ``stall(False)`` delivers what was held;
- ``set_latency(s)``: hold every chunk ``s`` seconds in each direction (a round trip costs 2 s).

``bytes_down`` counts what the server sent, for measuring what a download costs.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

__all__ = ["FaultProxy"]

_CHUNK = 65536
# Stop reading from a side while this much is queued for the other: the sender then feels
# back-pressure through TCP instead of the proxy buffering without bound.
_MAX_QUEUED = 4 * 1024 * 1024
_COMMAND_TIMEOUT = 5.0


@dataclass(eq=False)
class _Pipe:
    """One direction of a proxied connection: bytes read from ``src`` wait here for ``dst``."""

    src: socket.socket
    dst: socket.socket
    queue: deque[tuple[float, bytes | None]] = field(default_factory=deque)  # None = EOF
    queued: int = 0
    read_eof: bool = False
    write_done: bool = False
    blocked: bool = False  # dst's send buffer is full: wait for EVENT_WRITE


@dataclass(eq=False)
class _Connection:
    client: socket.socket
    upstream: socket.socket
    up: _Pipe
    down: _Pipe


class FaultProxy:
    """A threaded TCP proxy on 127.0.0.1 in front of ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._commands: deque[tuple[Callable[[], None], threading.Event]] = deque()
        self._connections: list[_Connection] = []
        self._interest: dict[socket.socket, int] = {}
        self._latency = 0.0
        self._stalled = False
        self._refusing = False
        self._closing = False
        self.accepted = 0  # connections accepted since start (also refused ones)
        self.bytes_down = 0  # bytes read from the server since start (what a link pays)
        self._thread = threading.Thread(
            target=self._run, name=f"FaultProxy:{self.port}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------------ public controls

    @property
    def connections(self) -> int:
        """How many proxied connections are open now."""
        with self._lock:
            return len(self._connections)

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` connections are open; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections >= count:
                return True
            time.sleep(0.005)
        return self.connections >= count

    def cut(self, *, reset: bool = False) -> None:
        """Drop every open connection now: FIN to both sides, or RST when ``reset``."""
        self._call(lambda: self._cut_all(reset))

    def refuse(self, on: bool) -> None:
        """While on, new connections are accepted and closed at once (the server is not asked)."""
        self._call(lambda: setattr(self, "_refusing", on))

    def stall(self, on: bool) -> None:
        """While on, no byte moves in either direction; sockets stay open."""
        self._call(lambda: setattr(self, "_stalled", on))

    def set_latency(self, seconds: float) -> None:
        """Hold each chunk ``seconds`` before forwarding it, in each direction."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._call(lambda: setattr(self, "_latency", float(seconds)))

    def close(self) -> None:
        """Close every connection and the listener, and end the thread; idempotent."""
        if self._thread.is_alive():
            with contextlib.suppress(TimeoutError):
                self._call(self._shutdown)
            self._thread.join(_COMMAND_TIMEOUT)
        for sock in (self._wake_r, self._wake_w, self._listener):
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------- the loop

    def _call(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the proxy thread and wait until it has run (so effects are now)."""
        if not self._thread.is_alive():
            raise RuntimeError("the proxy is closed")
        done = threading.Event()
        with self._lock:
            self._commands.append((action, done))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if not done.wait(_COMMAND_TIMEOUT):
            raise TimeoutError("the proxy thread did not answer")

    def _run(self) -> None:
        try:
            while not self._closing:
                self._update_interest()
                timeout = self._next_due()
                for key, mask in self._selector.select(timeout):
                    sock = key.fileobj
                    if sock is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif sock is self._listener:
                        self._accept()
                    else:
                        self._on_ready(key.data, sock, mask)  # type: ignore[arg-type]
                self._run_commands()
                self._deliver_due()
        finally:
            self._shutdown()
            self._run_commands()  # release anyone waiting
            self._selector.close()

    def _run_commands(self) -> None:
        while True:
            with self._lock:
                if not self._commands:
                    return
                action, done = self._commands.popleft()
            try:
                action()
            finally:
                done.set()

    def _shutdown(self) -> None:
        self._closing = True
        self._cut_all(reset=False)

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.accepted += 1
            if self._refusing or self._closing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=_COMMAND_TIMEOUT)
            except OSError:
                client.close()  # the server is down: the client sees the connection end
                continue
            for sock in (client, upstream):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(
                client=client,
                upstream=upstream,
                up=_Pipe(src=client, dst=upstream),
                down=_Pipe(src=upstream, dst=client),
            )
            with self._lock:
                self._connections.append(conn)
            for sock in (client, upstream):
                self._selector.register(sock, selectors.EVENT_READ, conn)
                self._interest[sock] = selectors.EVENT_READ

    def _on_ready(self, conn: _Connection, sock: socket.socket, mask: int) -> None:
        if conn not in self._connections:
            return
        if mask & selectors.EVENT_WRITE:
            for pipe in (conn.up, conn.down):
                if pipe.dst is sock:
                    pipe.blocked = False
        if mask & selectors.EVENT_READ and not self._stalled:
            pipe = conn.up if sock is conn.client else conn.down
            try:
                data = sock.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(conn, reset=True)
                return
            due = time.monotonic() + self._latency
            if data:
                if pipe is conn.down:
                    self.bytes_down += len(data)
                pipe.queue.append((due, data))
                pipe.queued += len(data)
            else:
                pipe.read_eof = True
                pipe.queue.append((due, None))

    def _deliver_due(self) -> None:
        if self._stalled:
            return
        now = time.monotonic()
        for conn in list(self._connections):
            for pipe in (conn.up, conn.down):
                if not self._deliver(conn, pipe, now):
                    break
            if conn in self._connections and conn.up.write_done and conn.down.write_done:
                self._drop(conn, reset=False)

    def _deliver(self, conn: _Connection, pipe: _Pipe, now: float) -> bool:
        """Send what is due on ``pipe``; False when the connection was dropped."""
        while pipe.queue and not pipe.blocked and pipe.queue[0][0] <= now:
            due, data = pipe.queue[0]
            if data is None:
                pipe.queue.popleft()
                pipe.write_done = True
                with contextlib.suppress(OSError):
                    pipe.dst.shutdown(socket.SHUT_WR)
                continue
            try:
                sent = pipe.dst.send(data)
            except (BlockingIOError, InterruptedError):
                pipe.blocked = True
                return True
            except OSError:
                self._drop(conn, reset=True)
                return False
            pipe.queued -= sent
            if sent < len(data):
                pipe.queue[0] = (due, data[sent:])
                pipe.blocked = True
            else:
                pipe.queue.popleft()
        return True

    def _next_due(self) -> float | None:
        if self._stalled:
            return None
        heads = [
            pipe.queue[0][0]
            for conn in self._connections
            for pipe in (conn.up, conn.down)
            if pipe.queue and not pipe.blocked
        ]
        if not heads:
            return None
        return max(0.0, min(heads) - time.monotonic())

    def _update_interest(self) -> None:
        for conn in self._connections:
            for sock, reading, writing in (
                (conn.client, conn.up, conn.down),
                (conn.upstream, conn.down, conn.up),
            ):
                want = 0
                if not self._stalled and not reading.read_eof and reading.queued < _MAX_QUEUED:
                    want |= selectors.EVENT_READ
                if writing.blocked:
                    want |= selectors.EVENT_WRITE
                if self._interest.get(sock) == want:
                    continue
                if want == 0:
                    if self._interest.get(sock):
                        self._selector.unregister(sock)
                elif self._interest.get(sock):
                    self._selector.modify(sock, want, conn)
                else:
                    self._selector.register(sock, want, conn)
                self._interest[sock] = want

    def _drop(self, conn: _Connection, *, reset: bool) -> None:
        with self._lock:
            if conn not in self._connections:
                return
            self._connections.remove(conn)
        for sock in (conn.client, conn.upstream):
            if self._interest.pop(sock, 0):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
            if reset:
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _cut_all(self, reset: bool) -> None:
        for conn in list(self._connections):
            self._drop(conn, reset=reset)
