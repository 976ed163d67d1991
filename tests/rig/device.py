"""'Another device': a second IMAP client on stdlib ``imaplib`` that changes the mailbox behind
the back of the client under test, and reads back what the server holds.

It is deliberately independent of ``sync.imap`` (its own modified UTF-7, its own response
parsing), so a bug there cannot hide itself here. Every message operation uses UID commands
(RFC 3501 6.4.8); MOVE (RFC 6851) and UID EXPUNGE (RFC 4315) are used only when the server
advertises them, with COPY + \\Deleted + EXPUNGE as the fallback.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Self, TypeVar

from sync.cyrus import CyrusUser
from sync.dovecot import MailUser

__all__ = ["Device", "DeviceError", "decode_mailbox_name", "encode_mailbox_name"]

UidsArg = int | Iterable[int]
_T = TypeVar("_T")


class DeviceError(RuntimeError):
    """The server answered NO or BAD, or said something the device cannot read."""


# ------------------------------------------------------------------ modified UTF-7 (RFC 3501 5.1.3)


def _b64_utf16(text: str) -> str:
    return base64.b64encode(text.encode("utf-16-be")).decode("ascii").rstrip("=").replace("/", ",")


def encode_mailbox_name(name: str) -> str:
    """Encode a mailbox name in modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []
    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            if pending:
                out.append("&" + _b64_utf16("".join(pending)) + "-")
                pending.clear()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    if pending:
        out.append("&" + _b64_utf16("".join(pending)) + "-")
    return "".join(out)


def decode_mailbox_name(encoded: str) -> str:
    """Decode a modified UTF-7 mailbox name (RFC 3501 5.1.3)."""

    def replace(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        data = chunk.replace(",", "/")
        data += "=" * (-len(data) % 4)
        return base64.b64decode(data).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", replace, encoded)


def _quote(value: str) -> str:
    """An IMAP quoted string (RFC 3501 4.3); imaplib sends arguments verbatim."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mailbox(name: str) -> str:
    return _quote(encode_mailbox_name(name))


def _uid_set(uids: UidsArg) -> str:
    values = [uids] if isinstance(uids, int) else sorted(set(uids))
    if not values:
        raise ValueError("no UIDs given")
    return ",".join(str(uid) for uid in values)


def _flag_list(flags: Iterable[str] | str) -> str:
    items = [flags] if isinstance(flags, str) else list(flags)
    return "(" + " ".join(items) + ")"


_UID_RE = re.compile(rb"\bUID (\d+)")
_FLAGS_RE = re.compile(rb"\bFLAGS \(([^)]*)\)")
_INTERNALDATE_RE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_SIZE_RE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<rest>.*)$')


def _fetch_items(data: list[object]) -> Iterator[tuple[bytes, bytes | None]]:
    """(response text, literal or None) for each FETCH response imaplib collected.

    imaplib returns a literal as a ``(prefix, literal)`` tuple followed by the bytes that came
    after the literal (usually ``b")"``).
    """
    index = 0
    while index < len(data):
        item = data[index]
        if isinstance(item, tuple):
            prefix, literal = item
            suffix = data[index + 1] if index + 1 < len(data) else b""
            tail = suffix if isinstance(suffix, bytes) else b""
            yield bytes(prefix) + b" " + tail, bytes(literal)
            index += 2
        elif isinstance(item, bytes):
            yield item, None
            index += 1
        else:
            index += 1


def _decode_header_value(raw: bytes) -> str:
    """The value of the single header field in ``raw``, unfolded and RFC 2047 decoded."""
    message = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = list(message.values())
    if not values:
        return ""
    # Unfold (RFC 5322 2.2.3: drop the CRLF before whitespace), then decode RFC 2047 words.
    value = re.sub(r"\r?\n(?=[ \t])", "", str(values[0]))
    try:
        return str(make_header(decode_header(value))).strip()
    except (ValueError, LookupError):
        return value.strip()


def _login(user: MailUser | CyrusUser, timeout: float) -> imaplib.IMAP4:
    server = user.server
    conn = imaplib.IMAP4(server.host, server.imap_port, timeout=timeout)
    # Without TCP_NODELAY, Nagle + delayed ACK stall every APPEND literal by ~40 ms.
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        conn.login(user.username, user.password)
    except BaseException:
        conn.shutdown()
        raise
    return conn


class Device:
    """A second, independent IMAP client logged in as one user (plain IMAP, loopback)."""

    def __init__(self, conn: imaplib.IMAP4, user: MailUser | CyrusUser) -> None:
        self._conn = conn
        self.user = user
        self.capabilities = self._read_capabilities()
        self._closed = False
        self.delimiter = self._read_delimiter()

    @classmethod
    def connect(cls, user: MailUser | CyrusUser, *, timeout: float = 30.0) -> Device:
        """Connect to the user's server over plain IMAP and log in."""
        return cls(_login(user, timeout), user)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out (best effort) and close the connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.logout()
        except (imaplib.IMAP4.error, OSError):
            self._conn.shutdown()

    # ------------------------------------------------------------------------------ plumbing

    def _call(self, call: Callable[[], _T]) -> _T:
        """Run the first imaplib call of an operation. When a folder was selected and the
        server dropped the session (Cyrus does, at the next command, when another session
        DELETEs the selected folder), log in again and run it once more."""
        was_selected = self._conn.state == "SELECTED"
        try:
            return call()
        except imaplib.IMAP4.abort:
            if not was_selected:
                raise
            self._reconnect()
            return call()

    def _reconnect(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.shutdown()
        self._conn = _login(self.user, 30.0)

    def _read_capabilities(self) -> frozenset[str]:
        # imaplib keeps the pre-login list; the post-login one is what counts (RFC 3501 6.2.3).
        typ, data = self._conn.capability()
        self._check(typ, data, "CAPABILITY")
        words: set[str] = set()
        for line in data:
            if isinstance(line, bytes):
                words.update(line.decode("ascii", "replace").upper().split())
        return frozenset(words)

    def _read_delimiter(self) -> str:
        """The hierarchy delimiter: ``LIST "" ""`` names it (RFC 3501 6.3.8)."""
        data = self._simple("LIST", "LIST", '""', '""')
        for item in self._conn._untagged_response("OK", data, "LIST")[1]:
            match = _LIST_RE.match(item if isinstance(item, bytes) else b"")
            if match and match.group("delim"):
                return match.group("delim").decode()
        return "/"

    def has(self, capability: str) -> bool:
        """True when the server advertised ``capability`` after login."""
        return capability.upper() in self.capabilities

    @staticmethod
    def _check(typ: str, data: Sequence[object], what: str) -> None:
        if typ != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise DeviceError(f"{what} failed: {typ} {detail}")

    def _run(self, what: str, typ_data: tuple[str, list[object]]) -> list[object]:
        typ, data = typ_data
        self._check(typ, data, what)
        return data

    def _uid(self, command: str, *args: str) -> list[object]:
        # imaplib keeps untagged responses across commands; a stale unsolicited FETCH from
        # another folder must not be read as part of this command's answer.
        self._conn.untagged_responses.clear()
        try:
            return self._run(f"UID {command}", self._conn.uid(command, *args))
        except imaplib.IMAP4.error as exc:
            raise DeviceError(f"UID {command} failed: {exc}") from exc

    def _select(self, folder: str, *, readonly: bool = False) -> int:
        """SELECT/EXAMINE ``folder`` afresh (so the device sees the latest state); return EXISTS."""
        self._conn.untagged_responses.clear()
        try:
            typ, data = self._call(lambda: self._conn.select(_mailbox(folder), readonly=readonly))
        except imaplib.IMAP4.error as exc:
            raise DeviceError(f"SELECT {folder!r} failed: {exc}") from exc
        self._check(typ, data, f"SELECT {folder!r}")
        return int(data[0]) if data and isinstance(data[0], bytes) and data[0].isdigit() else 0

    def _leave_selected(self) -> None:
        """Leave the selected folder without expunging (CLOSE would expunge, RFC 3501 6.4.2)."""
        if self._conn.state != "SELECTED":
            return
        if self.has("UNSELECT"):
            try:
                self._run("UNSELECT", self._conn.unselect())
            except imaplib.IMAP4.abort:
                self._reconnect()  # dropped with the folder (see _call): nothing selected now
        else:
            # Without UNSELECT (RFC 3691) a failing SELECT leaves no mailbox selected
            # (RFC 3501 6.3.1), and unlike CLOSE it expunges nothing.
            self._conn.untagged_responses.clear()
            with contextlib.suppress(imaplib.IMAP4.error):
                self._conn.select(_quote(f"mailtui-no-such-folder-{os.getpid()}"), readonly=True)
            self._conn.state = "AUTH"

    def _simple(self, what: str, command: str, *args: str) -> list[object]:
        self._conn.untagged_responses.clear()
        try:
            return self._run(what, self._call(lambda: self._conn._simple_command(command, *args)))
        except imaplib.IMAP4.error as exc:
            raise DeviceError(f"{what} failed: {exc}") from exc

    # -------------------------------------------------------------------------------- writes

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        date: datetime | None = None,
    ) -> int:
        """APPEND ``raw`` to ``folder`` and return the UID the server assigned.

        Uses APPENDUID (RFC 4315) when advertised; otherwise finds the new message among the UIDs
        at or above the UIDNEXT read before the APPEND.
        """
        uidnext_before = None if self.has("UIDPLUS") else self.status(folder)["UIDNEXT"]
        flag_text = _flag_list(flags) if flags else None
        when = imaplib.Time2Internaldate(date) if date is not None else None
        try:
            typ, data = self._call(
                lambda: self._conn.append(_mailbox(folder), flag_text, when, raw)
            )
        except imaplib.IMAP4.error as exc:
            raise DeviceError(f"APPEND to {folder!r} failed: {exc}") from exc
        self._check(typ, data, f"APPEND to {folder!r}")
        if uidnext_before is None:
            for line in data:
                match = re.search(
                    rb"\[APPENDUID \d+ (\d+)\]", line if isinstance(line, bytes) else b""
                )
                if match:
                    return int(match.group(1))
            raise DeviceError(f"APPEND answered without APPENDUID: {data!r}")
        new = [uid for uid in self.uids(folder) if uid >= uidnext_before]
        if not new:
            raise DeviceError("the appended message is not in the folder")
        return max(new)

    def _store(self, folder: str, uids: UidsArg, mode: str, flags: Iterable[str] | str) -> None:
        self._select(folder)
        self._uid("STORE", _uid_set(uids), f"{mode}FLAGS.SILENT", _flag_list(flags))

    def add_flags(self, folder: str, uids: UidsArg, flags: Iterable[str] | str) -> None:
        """Add ``flags`` to the messages (UID STORE +FLAGS.SILENT)."""
        self._store(folder, uids, "+", flags)

    def remove_flags(self, folder: str, uids: UidsArg, flags: Iterable[str] | str) -> None:
        """Remove ``flags`` from the messages (UID STORE -FLAGS.SILENT)."""
        self._store(folder, uids, "-", flags)

    def set_flags(self, folder: str, uids: UidsArg, flags: Iterable[str] | str) -> None:
        """Replace the messages' flags with ``flags`` (UID STORE FLAGS.SILENT)."""
        self._store(folder, uids, "", flags)

    def copy(self, folder: str, uids: UidsArg, dest: str) -> None:
        """UID COPY the messages to ``dest``."""
        self._select(folder)
        self._uid("COPY", _uid_set(uids), _mailbox(dest))

    def move(self, folder: str, uids: UidsArg, dest: str) -> None:
        """Move the messages: UID MOVE (RFC 6851) when advertised, else COPY + expunge."""
        self._select(folder)
        if self.has("MOVE"):
            self._uid("MOVE", _uid_set(uids), _mailbox(dest))
            return
        self._uid("COPY", _uid_set(uids), _mailbox(dest))
        self._expunge_selected(uids)

    def expunge(self, folder: str, uids: UidsArg) -> None:
        """Delete the messages for good (UID EXPUNGE semantics, RFC 4315 2.1).

        Without UIDPLUS the fallback is \\Deleted + EXPUNGE, which also removes any other
        message already marked \\Deleted in the folder.
        """
        self._select(folder)
        self._expunge_selected(uids)

    def _expunge_selected(self, uids: UidsArg) -> None:
        uid_set = _uid_set(uids)
        self._uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        if self.has("UIDPLUS"):
            self._uid("EXPUNGE", uid_set)
        else:
            self._simple("EXPUNGE", "EXPUNGE")

    def create_folder(self, name: str, *, subscribe: bool = True) -> None:
        """CREATE ``name`` (and SUBSCRIBE to it, as a mail app would)."""
        self._simple(f"CREATE {name!r}", "CREATE", _mailbox(name))
        if subscribe:
            self._simple(f"SUBSCRIBE {name!r}", "SUBSCRIBE", _mailbox(name))

    def rename_folder(self, old: str, new: str) -> None:
        """RENAME ``old`` to ``new`` and move the subscription with it."""
        self._leave_selected()
        self._simple(f"RENAME {old!r}", "RENAME", _mailbox(old), _mailbox(new))
        self._simple(f"UNSUBSCRIBE {old!r}", "UNSUBSCRIBE", _mailbox(old))
        self._simple(f"SUBSCRIBE {new!r}", "SUBSCRIBE", _mailbox(new))

    def delete_folder(self, name: str) -> None:
        """DELETE ``name`` and drop its subscription."""
        self._leave_selected()
        self._simple(f"DELETE {name!r}", "DELETE", _mailbox(name))
        self._simple(f"UNSUBSCRIBE {name!r}", "UNSUBSCRIBE", _mailbox(name))

    # --------------------------------------------------------------------------------- reads

    def list_entries(self) -> dict[str, frozenset[str]]:
        """Every folder (decoded name) with its LIST attributes (RFC 3501 7.2.2, RFC 6154)."""
        data = self._simple("LIST", "LIST", '""', '"*"')
        return self._parse_list(self._conn._untagged_response("OK", data, "LIST")[1])

    def _parse_list(self, data: Sequence[object]) -> dict[str, frozenset[str]]:
        result: dict[str, frozenset[str]] = {}
        for item in data:
            if isinstance(item, tuple):  # the name came as a literal
                head, literal = item
                match = _LIST_RE.match(bytes(head))
                name_bytes = bytes(literal)
            elif isinstance(item, bytes):
                match = _LIST_RE.match(item)
                name_bytes = match.group("rest") if match else b""
            else:
                continue
            if match is None:
                raise DeviceError(f"cannot read LIST response {item!r}")
            if match.group("delim"):
                self.delimiter = match.group("delim").decode()
            name = name_bytes.decode("ascii", "replace")
            if name.startswith('"') and name.endswith('"'):
                name = re.sub(r"\\(.)", r"\1", name[1:-1])
            attrs = frozenset(match.group("attrs").decode("ascii", "replace").split())
            result[decode_mailbox_name(name)] = attrs
        return result

    def subscribed(self) -> list[str]:
        """The subscribed folder names (decoded), sorted (LSUB, RFC 3501 6.3.9)."""
        data = self._simple("LSUB", "LSUB", '""', '"*"')
        data = self._conn._untagged_response("OK", data, "LSUB")[1]
        return sorted(self._parse_list(data))

    def folders(self) -> list[str]:
        """All folder names (decoded), sorted."""
        return sorted(self.list_entries())

    def uids(self, folder: str) -> list[int]:
        """The UIDs in ``folder``, ascending."""
        if self._select(folder, readonly=True) == 0:
            return []
        data = self._uid("SEARCH", "ALL")
        words = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted(int(w) for w in words)

    def _fetch(self, folder: str, uids: str, items: str) -> list[tuple[int, bytes, bytes | None]]:
        if self._select(folder, readonly=True) == 0:
            return []
        out: list[tuple[int, bytes, bytes | None]] = []
        for text, literal in _fetch_items(self._uid("FETCH", uids, items)):
            match = _UID_RE.search(text)
            if match:  # unsolicited FETCHes (another session's flag change) may lack a UID
                out.append((int(match.group(1)), text, literal))
        return out

    def flags(self, folder: str) -> dict[int, frozenset[str]]:
        """UID -> flags of every message in ``folder``, without \\Recent.

        \\Recent belongs to one session and cannot be stored (RFC 3501 2.3.2), so it is left out
        to keep comparisons with a client's view meaningful.
        """
        result: dict[int, frozenset[str]] = {}
        for uid, text, _literal in self._fetch(folder, "1:*", "(UID FLAGS)"):
            match = _FLAGS_RE.search(text)
            if match:
                words = match.group(1).decode("ascii", "replace").split()
                result[uid] = frozenset(w for w in words if w.lower() != "\\recent")
        return result

    def _header_field(self, folder: str, field: str) -> dict[int, str]:
        items = f"(UID BODY.PEEK[HEADER.FIELDS ({field})])"
        return {
            uid: _decode_header_value(literal or b"")
            for uid, _text, literal in self._fetch(folder, "1:*", items)
        }

    def subjects(self, folder: str) -> dict[int, str]:
        """UID -> Subject (RFC 2047 decoded, unfolded) of every message in ``folder``."""
        return self._header_field(folder, "SUBJECT")

    def message_ids(self, folder: str) -> dict[int, str]:
        """UID -> Message-ID of every message in ``folder``."""
        return self._header_field(folder, "MESSAGE-ID")

    def status(self, folder: str) -> dict[str, int]:
        """STATUS of ``folder``: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN (+HIGHESTMODSEQ)."""
        # STATUS of the selected mailbox answers from this session's view, which only moves
        # at a sync point; leave it so the answer is the server's current state.
        self._leave_selected()
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"]
        if self.has("CONDSTORE"):
            items.append("HIGHESTMODSEQ")
        data = self._simple("STATUS", "STATUS", _mailbox(folder), "(" + " ".join(items) + ")")
        data = self._conn._untagged_response("OK", data, "STATUS")[1]
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and b"(" in line:
                inner = line[line.rindex(b"(") + 1 : line.rindex(b")")].split()
                return {inner[i].decode(): int(inner[i + 1]) for i in range(0, len(inner) - 1, 2)}
        raise DeviceError(f"no STATUS response for {folder!r}: {data!r}")

    def internaldates(self, folder: str) -> dict[int, datetime]:
        """UID -> INTERNALDATE (the server's arrival time, RFC 3501 2.3.3) in ``folder``."""
        result: dict[int, datetime] = {}
        for uid, text, _literal in self._fetch(folder, "1:*", "(UID INTERNALDATE)"):
            match = _INTERNALDATE_RE.search(text)
            if match:
                result[uid] = datetime.strptime(match.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
        return result

    def sizes(self, folder: str) -> dict[int, int]:
        """UID -> RFC822.SIZE in ``folder``."""
        result: dict[int, int] = {}
        for uid, text, _literal in self._fetch(folder, "1:*", "(UID RFC822.SIZE)"):
            match = _SIZE_RE.search(text)
            if match:
                result[uid] = int(match.group(1))
        return result

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        """The whole message ``uid`` as the server holds it (BODY.PEEK[], not setting \\Seen)."""
        for got, _text, literal in self._fetch(folder, str(uid), "(UID BODY.PEEK[])"):
            if got == uid and literal is not None:
                return literal
        raise DeviceError(f"UID {uid} is not in {folder!r}")
