"""Turn a draft into an RFC 5322 message with the stdlib ``email`` package, and back to bytes.

Headers go through ``email.policy.default``: non-ASCII display names and subjects become
RFC 2047 encoded-words, non-ASCII attachment names RFC 2231 parameters. The text body is
sent 7-bit clean (quoted-printable or base64, whichever is shorter, RFC 2045 §6), so the
same bytes go to any server and into the Sent folder. Attachments are base64, byte-exact.

The built message keeps its ``Bcc`` header: it belongs in the sender's own copy (Sent,
the outbox). :func:`wire_bytes` removes it for the SMTP transaction, where the Bcc
recipients are only in the envelope (RFC 5322 §3.6.3).
"""

from __future__ import annotations

import binascii
import email.generator
import email.parser
import email.policy
import io
import mimetypes
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from sync.compose.addresses import AddressError, parse_address_list, unique_addresses
from sync.compose.draft import CarriedPart, Draft
from sync.compose.reply import account_address
from sync.config import AccountConfig

__all__ = [
    "ComposeError",
    "build_message",
    "envelope",
    "make_message_id",
    "message_bytes",
    "wire_bytes",
]

# RFC 5322 §2.1.1: a line must not exceed 998 characters (without CRLF).
_MAX_LINE = 998
_LINE_END = re.compile(rb"\r?\n")


class ComposeError(ValueError):
    """The draft cannot become a message (no recipient, bad address, unreadable file)."""


def make_message_id(sender: str) -> str:
    """A new ``<random@domain>`` id (RFC 5322 §3.6.4), the domain taken from ``sender``.

    128 random bits: unique without the time or the process id that ``make_msgid`` leaks.
    """
    domain = sender.rpartition("@")[2].strip().strip(">") or "localhost.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


def _addresses(field: str, values: Iterable[str]) -> tuple[Address, ...]:
    found: list[Address] = []
    for value in values:
        try:
            found.extend(parse_address_list(value))
        except AddressError as exc:
            raise ComposeError(f"{field}: {exc}") from None
    return unique_addresses(found)


def _text_encoding(body: str) -> str:
    """7bit when ASCII with short lines; else the shorter of quoted-printable and base64."""
    if body.isascii() and all(len(line) <= _MAX_LINE for line in body.split("\n")):
        return "7bit"
    data = body.encode("utf-8")
    qp_size = len(binascii.b2a_qp(data))
    base64_size = (len(data) + 2) // 3 * 4 * 77 // 76
    return "quoted-printable" if qp_size <= base64_size else "base64"


def _content_type(name: str) -> tuple[str, str]:
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None or encoding is not None:  # "x.tar.gz" is gzip data, not a tar
        guessed = "application/octet-stream"
    maintype, _, subtype = guessed.partition("/")
    return maintype, subtype


def _attach_message(message: EmailMessage, part: CarriedPart) -> None:
    # RFC 2046 §5.2.1: message/rfc822 takes no base64; the original goes in unchanged, 8bit
    # when it has 8-bit bytes. Its own headers and encoding stay as its sender wrote them.
    attachment = EmailMessage(policy=email.policy.default)
    attachment["Content-Type"] = "message/rfc822"
    attachment["Content-Disposition"] = "attachment"
    attachment.set_param("filename", part.filename, header="Content-Disposition")
    attachment["Content-Transfer-Encoding"] = "7bit" if part.data.isascii() else "8bit"
    # Bytes ride through the generator as surrogate escapes; line ends become CRLF later.
    attachment.set_payload(_LINE_END.sub(b"\n", part.data).decode("ascii", "surrogateescape"))
    message.attach(attachment)


def build_message(
    draft: Draft,
    account: AccountConfig,
    *,
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Build the message for ``draft``: headers, text body, attachments.

    Adds Date (``now``, default the current local time) and Message-ID (``message_id``, by
    default a new one on the sender's domain). Reads the attachment files (blocking: run it
    in a thread for big files). Raises :class:`ComposeError` when there is no recipient,
    an address is wrong, or a file cannot be read.
    """
    from_list = _addresses("From", [draft.from_ or account_address(account)])
    if len(from_list) != 1:
        raise ComposeError("From: must be exactly one address")
    to = _addresses("To", draft.to)
    cc = _addresses("Cc", draft.cc)
    bcc = _addresses("Bcc", draft.bcc)
    reply_to = _addresses("Reply-To", draft.reply_to)
    if not (to or cc or bcc):
        raise ComposeError("no recipient: fill in To, Cc or Bcc")

    when = (now or datetime.now()).astimezone()
    message = EmailMessage(policy=email.policy.default)
    message["Date"] = format_datetime(when)
    message["From"] = from_list
    if to:
        message["To"] = to
    if cc:
        message["Cc"] = cc
    if bcc:
        message["Bcc"] = bcc
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = " ".join(draft.subject.split())
    message["Message-ID"] = message_id or make_message_id(from_list[0].addr_spec)
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        message["References"] = " ".join(draft.references)

    body = draft.body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    message.set_content(body, subtype="plain", charset="utf-8", cte=_text_encoding(body))

    if not (draft.attachments or draft.carried):
        return message
    message.make_mixed()
    for path in draft.attachments:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ComposeError(f"cannot read attachment {path}: {exc.strerror or exc}") from None
        maintype, subtype = _content_type(path.name)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    for part in draft.carried:
        if part.content_type.lower() == "message/rfc822":
            _attach_message(message, part)
            continue
        maintype, _, subtype = part.content_type.lower().partition("/")
        if not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            part.data, maintype=maintype, subtype=subtype, filename=part.filename
        )
    return message


class _Generator(email.generator.BytesGenerator):
    """A BytesGenerator that writes a message/rfc822 payload held as a surrogate-escaped
    string back as its original bytes (the stdlib one only writes ASCII there)."""

    def _encode(self, s: str) -> bytes:
        return s.encode("ascii", "surrogateescape")


def _needs_utf8(message: EmailMessage) -> bool:
    for name in ("From", "To", "Cc", "Bcc", "Reply-To"):
        header = message.get(name)
        if header is not None and not all(
            a.addr_spec.isascii() for a in getattr(header, "addresses", ())
        ):
            return True
    return False


def message_bytes(message: EmailMessage) -> bytes:
    """The whole message as bytes with CRLF line ends, Bcc included (the sender's copy).

    Uses ``email.policy.SMTPUTF8`` only when an address has a non-ASCII local part
    (RFC 6532); otherwise every header is ASCII.
    """
    policy = email.policy.SMTPUTF8 if _needs_utf8(message) else email.policy.SMTP
    buffer = io.BytesIO()
    _Generator(buffer, policy=policy).flatten(message)
    # Parts carried verbatim (message/rfc822) keep their own line ends: make them all CRLF.
    return _LINE_END.sub(b"\r\n", buffer.getvalue())


def _header_end(raw: bytes) -> int:
    """Offset of the first byte after the header block's last line (before the blank line)."""
    match = re.search(rb"\r?\n\r?\n", raw)
    return match.start() + (2 if raw[match.start()] == 13 else 1) if match else len(raw)


def wire_bytes(raw: bytes) -> bytes:
    """``raw`` without its Bcc and Resent-Bcc fields (folded lines included), CRLF line ends.

    Only the top-level header block is touched; the rest stays byte for byte.
    """
    raw = _LINE_END.sub(b"\r\n", raw)
    end = _header_end(raw)
    kept: list[bytes] = []
    dropping = False
    for line in raw[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):  # RFC 5322 §2.2.3: a continuation of the field above
            if not dropping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        dropping = name in (b"bcc", b"resent-bcc")
        if not dropping:
            kept.append(line)
    return b"".join(kept) + raw[end:]


def envelope(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """The SMTP envelope of ``raw``: the From address and every To, Cc and Bcc address.

    Recipients are deduplicated ignoring case, in header order. Raises
    :class:`ComposeError` when From is not one address or there is no recipient.
    """
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    senders = [a for a in getattr(headers.get("From"), "addresses", ())]
    if len(senders) != 1 or not senders[0].addr_spec or "@" not in senders[0].addr_spec:
        raise ComposeError("the message needs exactly one From address")
    found: list[Address] = []
    for name in ("To", "Cc", "Bcc"):
        for value in headers.get_all(name, []):
            found.extend(a for a in getattr(value, "addresses", ()) if a.username and a.domain)
    recipients = tuple(a.addr_spec for a in unique_addresses(found))
    if not recipients:
        raise ComposeError("the message has no recipient")
    return senders[0].addr_spec, recipients
