"""A proxy that holds a client to what the server advertises: an unadvertised command gets
``BAD`` and never reaches the server.

Dovecot's ``imap_capability`` changes what Dovecot *advertises*, not what it accepts (see
``sync/dovecot.py``), so a client that sends IDLE to a server that never offered it would pass
against the bare test server and fail against a real IMAP4rev1 one. In front of the server,
this proxy plays the real one: it reads the client's commands (tag, name, and for UID the
subcommand; literals are passed through uninterpreted), refuses every command and argument
form that needs a capability not in ``capabilities``, and records what it refused and how many
logins it saw. Bytes from the server go back untouched.

Threads, not asyncio: subprocesses (``mailtui sync``) connect to it as well as in-process
clients. One accept thread, two threads per connection; all are daemons and ``close()``
stops them.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterable
from typing import Self

__all__ = ["StrictProxy"]

# RFC 3501 §6: what every IMAP4rev1 server accepts.
_BASE_COMMANDS = frozenset(
    [
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "AUTHENTICATE",
        "LOGIN",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "STATUS",
        "APPEND",
        "CHECK",
        "CLOSE",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "UID",
    ]
)
_BASE_UID_COMMANDS = frozenset({"COPY", "FETCH", "STORE", "SEARCH"})
# A command or UID subcommand that an extension adds, and the capability that offers it.
_EXTENSION_COMMANDS = {
    "IDLE": "IDLE",
    "NOTIFY": "NOTIFY",
    "MOVE": "MOVE",
    "ENABLE": "ENABLE",
    "ID": "ID",
    "NAMESPACE": "NAMESPACE",
    "UNSELECT": "UNSELECT",
    "COMPRESS": "COMPRESS=DEFLATE",
}
_EXTENSION_UID_COMMANDS = {"MOVE": "MOVE", "EXPUNGE": "UIDPLUS"}
# Argument forms that need an extension (checked on the command line outside literals).
_EXTENSION_ARGUMENTS = (
    (re.compile(rb"\bCHANGEDSINCE\b", re.I), "CONDSTORE"),
    (re.compile(rb"\bUNCHANGEDSINCE\b", re.I), "CONDSTORE"),
    (re.compile(rb"\bMODSEQ\b", re.I), "CONDSTORE"),
    (re.compile(rb"\(CONDSTORE\)", re.I), "CONDSTORE"),
    (re.compile(rb"\bQRESYNC\b", re.I), "QRESYNC"),
    (re.compile(rb"\bVANISHED\b", re.I), "QRESYNC"),
    (re.compile(rb"^SEARCH\s+RETURN\b", re.I), "ESEARCH"),
    (re.compile(rb"\bRETURN\s*\(.*STATUS", re.I), "LIST-STATUS"),
    (re.compile(rb"^LIST\s*\(", re.I), "LIST-EXTENDED"),
    (re.compile(rb"\bRETURN\s*\(", re.I), "LIST-EXTENDED"),
    (re.compile(rb"\bX-GM-", re.I), "X-GM-EXT-1"),
)
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_LOGIN = frozenset({"LOGIN", "AUTHENTICATE"})
# Commands always allowed before the login: the client learns the capabilities here.
_PRE_LOGIN_ANY = frozenset({"CAPABILITY", "STARTTLS", "AUTHENTICATE", "LOGIN", "LOGOUT", "NOOP"})


class StrictProxy:
    """A proxy on 127.0.0.1 that refuses what ``capabilities`` does not offer."""

    def __init__(self, target_host: str, target_port: int, capabilities: Iterable[str]) -> None:
        self.capabilities = frozenset(c.upper() for c in capabilities)
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._refused: list[str] = []
        self._logins = 0
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="strict-proxy", daemon=True).start()

    @property
    def refused(self) -> list[str]:
        """The command lines refused so far (tag dropped, literals left out)."""
        with self._lock:
            return list(self._refused)

    @property
    def logins(self) -> int:
        """How many LOGIN/AUTHENTICATE commands clients sent through the proxy."""
        with self._lock:
            return self._logins

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := upstream.recv(65536):
                client.sendall(chunk)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        reader = client.makefile("rb")
        with contextlib.suppress(OSError, ValueError):
            while line := reader.readline():
                parts = [line]
                text = line.rstrip(b"\r\n")
                # A line ending in a literal: the literal's bytes, then the rest of the command.
                while (literal := _LITERAL.search(parts[-1].rstrip(b"\r\n"))) is not None:
                    parts.append(reader.read(int(literal.group(1))))
                    parts.append(reader.readline())
                refusal = self._check(text)
                if refusal is None:
                    upstream.sendall(b"".join(parts))
                    continue
                tag = text.split(b" ", 1)[0]
                with self._lock:
                    self._refused.append(text.split(b" ", 1)[-1].decode("ascii", "replace"))
                client.sendall(tag + b" BAD " + refusal.encode("ascii") + b"\r\n")
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _check(self, line: bytes) -> str | None:
        """Why ``line`` must be refused, or None to pass it on."""
        fields = line.split(b" ", 2)
        if len(fields) < 2:
            return None  # DONE after IDLE, a SASL response line: not a command
        name = fields[1].decode("ascii", "replace").upper()
        rest = fields[2] if len(fields) > 2 else b""
        if name in _LOGIN:
            with self._lock:
                self._logins += 1
        if name in _PRE_LOGIN_ANY:
            return None
        needed: str | None = None
        if name == "UID":
            sub = rest.split(b" ", 1)[0].decode("ascii", "replace").upper()
            if sub not in _BASE_UID_COMMANDS:
                needed = _EXTENSION_UID_COMMANDS.get(sub, f"(unknown UID {sub})")
            rest = rest.split(b" ", 1)[-1]
            arguments = b" ".join([sub.encode(), rest])
        else:
            if name not in _BASE_COMMANDS:
                needed = _EXTENSION_COMMANDS.get(name, f"(unknown command {name})")
            arguments = b" ".join([name.encode(), rest])
        if needed is None:
            for pattern, capability in _EXTENSION_ARGUMENTS:
                if pattern.search(arguments) and capability not in self.capabilities:
                    needed = capability
                    break
        if needed is None or needed in self.capabilities:
            return None
        return f"{name} needs {needed}, which this server does not advertise"
