"""A deterministic corpus of realistic mail, and a fast way to put it into a Maildir.

``make_message(i)`` always returns the same bytes for the same ``i`` (seeded per index, no clock,
no hash randomisation) and looks like a real mailbox: varied senders (some with non-ASCII names),
subjects (some RFC 2047 encoded, some long), sizes mostly 2-20 KB, multipart/alternative
newsletters, multipart/mixed messages with attachments, and replies threaded with In-Reply-To /
References (RFC 5322 3.6.4). Messages are RFC 5322 with CRLF line ends.

``seed_maildir`` writes messages straight into a user's Maildir (no IMAP), so benchmarks can
seed 100k messages in seconds; Dovecot assigns UIDs, in file order, on the next access.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
import os
import random
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from sync.dovecot import DovecotServer
from sync.imap import encode_mailbox

__all__ = [
    "DEFAULT_TO",
    "folder_path",
    "make_message",
    "message_id_for",
    "seed_maildir",
    "subject_for",
]

DEFAULT_TO = "Alex Example <alex@example.org>"
_EPOCH = datetime(2025, 1, 6, 7, 30, tzinfo=UTC)
_SPACING = timedelta(minutes=23)  # > the jitter below, so dates rise with the index

_PEOPLE = [
    ("Maria Schmidt", "maria.schmidt@example.de"),
    ("James O'Brien", "jobrien@example.ie"),
    ("Zoë Martin", "zoe@example.fr"),
    ("José García", "jgarcia@example.es"),
    ("山田 太郎", "taro.yamada@example.jp"),
    ("Мария Иванова", "m.ivanova@example.ru"),
    ("Priya Natarajan", "priya@example.in"),
    ("Chen Wei", "chen.wei@example.cn"),
    ("Ola Nordmann", "ola@example.no"),
    ("Fatima Al-Sayed", "fatima@example.ae"),
    ("", "noreply@notifications.example.com"),
    ("GitHub", "notifications@github.example"),
    ("The Weekly Digest", "digest@news.example.com"),
    ("Bank of Example", "alerts@bank.example"),
    ("Sam Taylor", "sam@example.org"),
    ("Léa Dubois", "lea.dubois@example.fr"),
    ("Kwame Mensah", "kwame@example.gh"),
    ("Anna Kowalska", "anna.k@example.pl"),
    ("Ops Alerts", "ops+alerts@monitoring.example.net"),
    ('Dr. Eleanor "Nell" Park', "epark@university.example.edu"),
]

_SUBJECTS = [
    "Quarterly report draft",
    "Lunch on Thursday?",
    "Your invoice #{n} is ready",
    "[dev] Proposal: drop support for Python 3.9",
    "Re: flight times",
    "Meeting notes {n}",
    "Build failed: main ({n})",
    "Weekly digest: 12 new posts in your groups",
    "Reminder: dentist appointment tomorrow",
    "Photos from the weekend",
    "Überweisung bestätigt",
    "Réunion de l'équipe — ordre du jour",
    "Contrato de alquiler — versión final",
    "会議の議事録",
    "Отчёт за квартал",
    "🎉 Your order has shipped",
    "Security alert: new sign-in from Linux",
    "Can you review PR #{n}?",
    "Invitation: Design review @ Wed 10:00 - 11:00 (CET)",
    "A rather long subject line that goes on for a while so that it has to be folded "
    "across more than one header line when the message is written out",
]

_WORD_TEXT = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no what "
    "up out about who its more some into time only new could other people than then now may "
    "these also first any after well should because over most through where much before our "
    "between must being under never same while last might great since against right three "
    "project release deadline budget review meeting server backup invoice schedule draft team "
    "customer proposal feedback update migration weekend travel contract payment design issue"
)
_WORDS = _WORD_TEXT.split()

_ATTACHMENTS = [
    ("application/pdf", "report-Q{n}.pdf", b"%PDF-1.7\n"),
    ("image/jpeg", "IMG_{n}.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
    ("image/png", "screenshot-{n}.png", b"\x89PNG\r\n\x1a\n"),
    ("application/zip", "logs-{n}.zip", b"PK\x03\x04"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "Vertrag_Änderungen_{n}.docx",
        b"PK\x03\x04",
    ),
    ("text/calendar", "invite-{n}.ics", b"BEGIN:VCALENDAR\r\n"),
]


@functools.cache
def _paragraphs() -> tuple[str, ...]:
    """256 wrapped ASCII paragraphs, made once (cheap bodies for 100k messages)."""
    rng = random.Random(20261129)
    out = []
    for _ in range(256):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(30, 160))]
        words[0] = words[0].capitalize()
        out.append(_wrap(" ".join(words) + "."))
    return tuple(out)


@functools.cache
def _prose() -> tuple[str, list[int]]:
    """The paragraphs twice over as one text, and where each paragraph starts in it.

    A body is then one slice from a paragraph start to a later one: no per-paragraph work.
    """
    paragraphs = _paragraphs() * 2
    starts = []
    position = 0
    for paragraph in paragraphs:
        starts.append(position)
        position += len(paragraph) + 4  # the CRLF CRLF after it
    return "\r\n\r\n".join(paragraphs) + "\r\n\r\n", [*starts, position]


@functools.cache
def _noise() -> bytes:
    """1 MiB of deterministic noise for attachment contents."""
    return random.Random(7).randbytes(1 << 20)


def _wrap(text: str, width: int = 72) -> str:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n".join(lines)


def _rng(index: int, salt: int = 0) -> random.Random:
    return random.Random(index * 1_000_003 + salt)


_MASK64 = (1 << 64) - 1


def _mix(index: int, salt: int) -> int:
    """A 64-bit hash of (index, salt) (splitmix64): cheap per-index choices without a Random."""
    z = (index * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _unit(index: int, salt: int) -> float:
    """A float in [0, 1) fixed by (index, salt)."""
    return _mix(index, salt) / 2.0**64


def _encode_word(text: str) -> str:
    """RFC 2047 encoded-words for non-ASCII text (B encoding, each word < 76 chars)."""
    if text.isascii():
        return text
    words = []
    chunk = ""
    for char in text:
        # 45 bytes of UTF-8 base64-encode to 60 characters: well inside the 75-char limit.
        if len((chunk + char).encode()) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return " ".join(
        "=?utf-8?b?" + base64.b64encode(w.encode()).decode("ascii") + "?=" for w in words
    )


def _address(name: str, addr: str) -> str:
    if not name:
        return addr
    if not name.isascii():
        return f"{_encode_word(name)} <{addr}>"
    if any(c in name for c in '()<>[]:;@\\,."'):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{addr}>'
    return f"{name} <{addr}>"


def _fold(name: str, value: str) -> str:
    """A header field folded at whitespace to lines of at most 78 characters (RFC 5322 2.2.3)."""
    if len(name) + len(value) <= 76:
        return f"{name}: {value}"
    line = f"{name}: "
    lines: list[str] = []
    for word in value.split(" "):
        if len(line) + len(word) > 78 and line.strip() and not line.endswith(": "):
            lines.append(line.rstrip(" "))
            line = " "
        line += word + " "
    lines.append(line.rstrip(" "))
    return "\r\n".join(lines)


def _person(index: int) -> tuple[str, str]:
    return _PEOPLE[_mix(index, 1) % len(_PEOPLE)]


def _thread_parent(index: int) -> int | None:
    """The earlier message this one replies to, or None (about a quarter are replies)."""
    if index < 2:
        return None
    if _unit(index, 2) >= 0.25:
        return None
    return max(0, index - 1 - _mix(index, 3) % 40)


def subject_for(index: int) -> str:
    """The (decoded) subject ``make_message(index)`` uses by default."""
    parent = _thread_parent(index)
    if parent is not None:
        base = subject_for(parent)
        return base if base.startswith("Re: ") else "Re: " + base
    return _SUBJECTS[_mix(index, 4) % len(_SUBJECTS)].format(n=1000 + index)


def message_id_for(index: int) -> str:
    """The Message-ID ``make_message(index)`` uses by default."""
    token = binascii.crc32(index.to_bytes(8, "big"))
    domain = _person(index)[1].rsplit("@", 1)[1]
    return f"<{index}.{token:08x}.mailtui@{domain}>"


_ZONES = [timezone(timedelta(hours=h)) for h in (0, 1, 2, -5, -8, 9, 5.5)]


def _date_for(index: int) -> datetime:
    moment = _EPOCH + index * _SPACING + timedelta(seconds=_mix(index, 5) % 600)
    return moment.astimezone(_ZONES[_mix(index, 6) % len(_ZONES)])


def _text(rng: random.Random, size: int) -> str:
    """About ``size`` bytes of CRLF text: a greeting, paragraphs, a signature."""
    prose, starts = _prose()
    first = rng.randrange(len(_paragraphs()))
    # The first paragraph boundary at least ``size`` further on (capped at the prose's end).
    last = min(bisect.bisect_left(starts, starts[first] + size), len(starts) - 1)
    last = max(last, first + 1)
    return (
        "Hi,\r\n\r\n"
        + prose[starts[first] : starts[last]]
        + "Best regards,\r\n-- \r\nSent from mailtui's test corpus\r\n"
    )


def _filler(size: int) -> str:
    """Exactly ``size`` bytes of CRLF-terminated ASCII lines (``size`` >= 2 or 0)."""
    if size <= 0:
        return ""
    line = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor inc"
    lines = []
    remaining = size
    while remaining > 0:
        take = min(remaining, 74)
        if remaining - take == 1:  # never leave a single byte: it cannot hold a CRLF
            take -= 1
        lines.append(line[: take - 2] + "\r\n")
        remaining -= take
    return "".join(lines)


def _html(text: str) -> str:
    # The text's lines are already short, so the part is valid 7bit (RFC 5322 2.1.1).
    body = "".join(f"<p>{p}</p>\r\n" for p in text.split("\r\n\r\n"))
    return (
        '<!DOCTYPE html>\r\n<html><head><meta charset="utf-8"><style>p{margin:0 0 1em}'
        '</style></head>\r\n<body>\r\n<table role="presentation" width="100%"><tr><td>\r\n'
        + body
        + '</td></tr></table>\r\n<div style="display:none">preheader text</div>\r\n'
        + '<p><a href="https://news.example.com/unsubscribe?u=1">Unsubscribe</a></p>\r\n'
        + "</body></html>\r\n"
    )


_B64_LINE = 57  # raw bytes per 76-character base64 line (RFC 2045 6.8)


@functools.cache
def _encoded_noise() -> bytes:
    """The noise, base64-encoded once as CRLF-terminated 76-character lines."""
    noise = _noise()
    return b"".join(
        binascii.b2a_base64(noise[i : i + _B64_LINE], newline=False) + b"\r\n"
        for i in range(0, len(noise) - _B64_LINE + 1, _B64_LINE)
    )


def _attachment(index: int, size: int) -> tuple[str, str, str]:
    """(content type, filename, base64 body) of an attachment of about ``size`` raw bytes.

    The first line carries the file type's magic bytes; the rest are whole lines sliced from
    noise encoded once, so a 200 KB attachment costs a slice, not an encoding.
    """
    content_type, pattern, magic = _ATTACHMENTS[_mix(index, 7) % len(_ATTACHMENTS)]
    first = binascii.b2a_base64((magic + _noise()[:_B64_LINE])[:_B64_LINE], newline=False)
    encoded = _encoded_noise()
    line_bytes = 78
    total_lines = len(encoded) // line_bytes
    lines = min(max(0, size // _B64_LINE - 1), total_lines)
    start = _mix(index, 8) % (total_lines - lines + 1)
    body = first + b"\r\n" + encoded[start * line_bytes : (start + lines) * line_bytes]
    return content_type, pattern.format(n=index), body.decode("ascii")


def _filename_params(filename: str) -> str:
    if filename.isascii():
        return f'filename="{filename}"'
    # RFC 2231 section 4: charset''percent-encoded value.
    quoted = "".join(
        chr(b) if chr(b).isalnum() or chr(b) in "-._" else f"%{b:02X}" for b in filename.encode()
    )
    return f"filename*=utf-8''{quoted}"


def make_message(
    index: int,
    *,
    subject: str | None = None,
    sender: str | None = None,
    to: str = DEFAULT_TO,
    date: datetime | None = None,
    body: str | None = None,
    size: int | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    message_id: str | None = None,
) -> bytes:
    """A realistic RFC 5322 message, the same bytes for the same arguments.

    Defaults depend only on ``index``. ``subject``/``sender``/``body`` are plain text (encoded
    here as needed); ``size`` makes the message exactly that many bytes when it can (it is a
    lower bound: a message is never cut below its headers); ``body`` makes it text/plain.
    """
    rng = _rng(index)
    kind_roll = rng.random()
    parent = _thread_parent(index)
    if parent is not None and in_reply_to is None and not references:
        in_reply_to = message_id_for(parent)
        grandparent = _thread_parent(parent)
        references = [message_id_for(grandparent)] if grandparent is not None else []
        references = [*references, in_reply_to]
    if sender is None:
        sender = _address(*_person(index))
    elif not sender.isascii():
        sender = _encode_word(sender)
    subject_text = subject_for(index) if subject is None else subject
    when = _date_for(index) if date is None else date
    message_id = message_id or message_id_for(index)

    headers = [
        f"Return-Path: <{_person(index)[1]}>",
        _fold(
            "Received",
            f"from mx.example.net (mx.example.net [192.0.2.{index % 250 + 1}]) "
            f"by imap.example.org with ESMTPS id {index:08x}; {format_datetime(when)}",
        ),
        f"Date: {format_datetime(when)}",
        _fold("From", sender),
        _fold("To", to),
        _fold("Subject", _encode_word(subject_text)),
        f"Message-ID: {message_id}",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(_fold("References", " ".join(references)))
    headers.append("MIME-Version: 1.0")

    if body is not None or parent is not None or kind_roll < 0.55:
        kind = "plain"
    elif kind_roll < 0.80:
        kind = "alternative"
    elif kind_roll < 0.88:
        kind = "mixed"
    else:
        kind = "short"

    if body is not None:
        text = body.replace("\r\n", "\n").replace("\n", "\r\n")
        if not text.endswith("\r\n"):
            text += "\r\n"
    elif kind == "short" or parent is not None:
        text = _text(rng, int(rng.uniform(200, 1500)))
    else:
        # Log-uniform 1.5-18 KB of text: most real mail sits at 2-20 KB once headers are on.
        text = _text(rng, int(1500 * (12 ** rng.random())))
    charset = "us-ascii" if text.isascii() else "utf-8"
    cte = "7bit" if text.isascii() else "8bit"

    boundary = f"=_mailtui_{index:x}_{rng.getrandbits(48):012x}"
    head = "\r\n".join(headers) + "\r\n"

    def build(text_part: str, html_source: str, attachment_size: int) -> str:
        if kind == "alternative":
            return (
                head
                + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
                + "This is a multi-part message in MIME format.\r\n"
                + f"--{boundary}\r\nContent-Type: text/plain; charset={charset}\r\n"
                + f"Content-Transfer-Encoding: {cte}\r\n\r\n{text_part}"
                + f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Transfer-Encoding: 7bit\r\n\r\n{_html(html_source)}"
                + f"--{boundary}--\r\n"
            )
        if kind == "mixed":
            content_type, filename, encoded = _attachment(index, attachment_size)
            params = _filename_params(filename)
            return (
                head
                + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                + f"--{boundary}\r\nContent-Type: text/plain; charset={charset}\r\n"
                + f"Content-Transfer-Encoding: {cte}\r\n\r\n{text_part}"
                + f"--{boundary}\r\nContent-Type: {content_type};\r\n"
                + f' name="{_encode_word(filename)}"\r\n'
                + f"Content-Disposition: attachment; {params}\r\n"
                + f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
                + f"--{boundary}--\r\n"
            )
        return (
            head
            + f"Content-Type: text/plain; charset={charset}\r\n"
            + f"Content-Transfer-Encoding: {cte}\r\n\r\n{text_part}"
        )

    # Attachments: log-uniform 15-250 KB raw (base64 adds a third).
    attachment_size = int(15_000 * (16 ** rng.random()))
    if size is None:
        return build(text, text, attachment_size).encode("utf-8")
    # Exact size: a fixed skeleton (a short HTML part, a smaller attachment) and the given body,
    # then the text part filled up to make the difference. The filler is ASCII: it works with
    # either charset, and the byte count is the character count.
    given = text if body is not None else ""
    html_source = given or "Hi,\r\n\r\n" + _paragraphs()[index % 64] + "\r\n"
    if kind == "mixed":
        # About half of what the skeleton leaves goes to the attachment (base64 adds a third).
        budget = size - len(build(given, html_source, 0).encode("utf-8"))
        attachment_size = min(attachment_size, max(0, budget * 3 // 8))
    missing = size - len(build(given, html_source, attachment_size).encode("utf-8"))
    if missing == 1:
        missing = 2  # a CRLF is the smallest text; one byte over is the closest we get
    return build(given + _filler(missing), html_source, attachment_size).encode("utf-8")


# ------------------------------------------------------------------------------- Maildir seeding

_sequence = itertools.count()
_WRITERS = 4
_LF = b"\n"
_CRLF = b"\r\n"
_HOSTNAME = socket.gethostname().replace("/", "_").replace(":", "_") or "localhost"
_DATE_RE = re.compile(rb"^Date:[ \t]*([^\r\n]*)", re.MULTILINE | re.IGNORECASE)


def folder_path(server: DovecotServer, username: str, folder: str) -> Path:
    """The Maildir directory of ``folder``, named with the server's hierarchy separator.

    INBOX is the root; names are modified UTF-7 on disk. With LAYOUT=fs ("/") a folder is a
    subdirectory per level, with Maildir++ (".") one directory ``.Parent.Child`` in the root.
    """
    root = server.maildir(username)
    if folder.upper() == "INBOX":
        return root
    parts = [encode_mailbox(part) for part in folder.split(server.separator)]
    if any(part in ("", ".", "..", "cur", "new", "tmp") or "/" in part for part in parts):
        raise ValueError(f"cannot seed folder {folder!r}")
    if server.separator == ".":
        return root / ("." + ".".join(parts))
    return root.joinpath(*parts)


def _received(raw: bytes) -> float | None:
    header_end = raw.find(b"\r\n\r\n")
    match = _DATE_RE.search(raw, 0, header_end if header_end >= 0 else len(raw))
    if match is None:
        return None
    try:
        return parsedate_to_datetime(match.group(1).decode("ascii", "replace")).timestamp()
    except (TypeError, ValueError):
        return None


def seed_maildir(
    server: DovecotServer,
    username: str,
    folder: str,
    messages: Iterable[bytes],
    flags_for: Callable[[int], str] | None = None,
) -> int:
    """Write ``messages`` straight into ``folder``'s Maildir (``cur/``); return how many.

    ``flags_for(i)`` gives the Maildir info flags of the i-th message ("S" seen, "F" flagged,
    "R" answered, "D" draft, "T" deleted). Files are owned by the mail user; each file's mtime
    (Dovecot's INTERNALDATE) is the message's Date. File names rise with the order given, and
    Dovecot gives new files UIDs in file-name order, so UIDs follow the order of ``messages``.
    A folder that does not exist yet is created through ``doveadm`` (not subscribed).
    """
    server.ensure_maildir(username)
    directory = folder_path(server, username, folder)
    if not (directory / "cur").is_dir():
        # Created by Dovecot, not by mkdir: once a user's mailbox list index exists, Dovecot
        # does not notice folders that appear on disk behind its back.
        server.create_mailbox(username, folder, subscribe=False)
        if not (directory / "cur").is_dir():
            raise RuntimeError(f"Dovecot did not create {folder!r} at {directory}")
    owner = server.mail_owner
    cur = os.fspath(directory / "cur")
    pid = os.getpid()
    count = 0
    # File creation is syscall-bound and releases the GIL: a few threads write in parallel.
    # Names are fixed here, in order, so the thread schedule cannot change the UID order.
    with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="seed") as pool:
        pending: list[Future[None]] = []
        for position, raw in enumerate(messages):
            seq = next(_sequence)
            # Maildir names: <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<CRLF size>:2,<flags>.
            # Dovecot orders new files by secs and usecs, so they count up with ``seq``. The
            # bytes are stored as given: Dovecot reads CRLF and LF Maildir files alike. W= is
            # the size with every bare LF made CRLF, which is what IMAP reports as RFC822.SIZE.
            virtual = len(raw) + raw.count(_LF) - raw.count(_CRLF)
            flags = "".join(sorted(set(flags_for(position)))) if flags_for else ""
            name = f"{1_700_000_000 + seq // 1_000_000}.M{seq % 1_000_000}P{pid}Q{seq}.{_HOSTNAME}"
            path = f"{cur}/{name},S={len(raw)},W={virtual}:2,{flags}"
            pending.append(pool.submit(_write_message, path, raw, owner))
            count += 1
            if len(pending) >= 256:  # bound the bytes held in flight
                for future in pending:
                    future.result()
                pending.clear()
        for future in pending:
            future.result()
    return count


def _write_message(path: str, raw: bytes, owner: tuple[int, int]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        os.fchown(fd, *owner)
        received = _received(raw)
        if received is not None:
            # A Maildir file's mtime is its INTERNALDATE (RFC 3501 2.3.3): make it the Date.
            os.utime(fd, (received, received))
    finally:
        os.close(fd)
