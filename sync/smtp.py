"""Sending mail by SMTP submission (RFC 6409) with aiosmtplib.

One call, one connection: connect (implicit TLS, RFC 8314 §3.3; STARTTLS, RFC 3207; or
clear text, which the config allows only for loopback or with ``allow_insecure``), check
the certificate as the IMAP side does (system store or ``ca_file``, optional SHA-256 pin),
authenticate with the account's secret (PLAIN, else LOGIN, else CRAM-MD5; XOAUTH2 when the
secret is an OAuth2 token), then one mail transaction.

The transaction is all or nothing: when the server refuses any recipient the message is
not sent to the others (RSET before DATA), so the outbox can keep the message, show the
server's words and resend to everyone once the user has fixed the address. Every failure
is a :class:`SendError` with a kind, the server's reply (cleaned for display) and whether
retrying without the user's help could work (``permanent`` is False for 4xx replies and
network trouble, RFC 5321 §4.2.1).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final, Literal

import aiosmtplib

from sync.clean import clean_text
from sync.compose.build import ComposeError, envelope, message_bytes, wire_bytes
from sync.config import AccountConfig
from sync.credentials import CredentialError, resolve_secret
from sync.tlsconfig import PinMismatch, client_context, verify_pin

__all__ = [
    "DEFAULT_TIMEOUT",
    "RefusedRecipient",
    "SendError",
    "SendErrorKind",
    "SendResult",
    "send_message",
]

DEFAULT_TIMEOUT: Final = 60.0
_SHOWN: Final = 500  # characters of a server reply kept in an error message

SendErrorKind = Literal["auth", "recipients", "connection", "tls", "other"]


@dataclass(frozen=True, slots=True)
class RefusedRecipient:
    """A recipient the server refused: the address, the reply code and the server's text."""

    address: str
    code: int
    text: str


class SendError(Exception):
    """Sending failed. ``str()`` is ``message``: what failed, with the server's words.

    ``kind`` says what failed (``auth``, ``recipients``, ``connection``, ``tls``, ``other``);
    ``permanent`` is True when sending again unchanged cannot succeed (a 5xx reply, a bad
    certificate, a refused password) and False when a later retry may (4xx, network).
    ``code`` is the SMTP reply code when there was one; ``refused`` lists refused recipients.
    """

    def __init__(
        self,
        kind: SendErrorKind,
        message: str,
        permanent: bool,
        *,
        code: int | None = None,
        refused: tuple[RefusedRecipient, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind: SendErrorKind = kind
        self.message = message
        self.permanent = permanent
        self.code = code
        self.refused = refused

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"SendError({self.kind!r}, {self.message!r}, permanent={self.permanent})"


@dataclass(frozen=True, slots=True)
class SendResult:
    """A sent message: its Message-ID, the envelope, the server's reply to the data (often
    with its queue id) and ``raw``, the message with its Bcc header (for the Sent copy)."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    response: str
    raw: bytes = field(repr=False)


def _said(text: str) -> str:
    return clean_text(text, max_length=_SHOWN)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _check_pin(client: aiosmtplib.SMTP, fingerprint: str) -> None:
    try:
        verify_pin(client.get_transport_info("ssl_object"), fingerprint)
    except PinMismatch as exc:
        raise SendError("tls", str(exc), True) from None


def _ehlo_name(client: aiosmtplib.SMTP) -> str:
    """Our EHLO argument: the local address as an address literal (RFC 5321 §4.1.3).

    It avoids a DNS lookup of our own name (slow offline) and does not tell the server the
    machine's host name; submission servers accept literals.
    """
    sockname = client.get_transport_info("sockname")
    try:
        address = ipaddress.ip_address(sockname[0])
    except (TypeError, ValueError, IndexError):
        return "[127.0.0.1]"
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


def _tls_failure(exc: BaseException) -> SendError | None:
    """A TLS problem hidden in an aiosmtplib connection error, as a ``tls`` SendError."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return SendError(
                "tls", f"the server certificate was not accepted: {cause.verify_message}", True
            )
        if isinstance(cause, ssl.SSLError):
            return SendError("tls", f"the TLS handshake failed: {_said(str(cause))}", False)
        cause = cause.__cause__ or cause.__context__
    return None


def _translate(exc: Exception, host: str, port: int) -> SendError:
    """Map an aiosmtplib or OS error to a SendError that keeps the server's words."""
    where = f"{host}:{port}"
    if isinstance(exc, SendError):
        return exc
    tls = _tls_failure(exc)
    if tls is not None:
        return tls
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 421:
        # RFC 5321 §3.8: the service is closing the channel, whatever the command; try later.
        return SendError(
            "connection", f"{where} closed: {exc.code} {_said(exc.message)}", False, code=421
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # 454 (RFC 4954 §6) is a temporary failure; 535 and the rest need the user.
        return SendError(
            "auth",
            f"the server refused the login: {exc.code} {_said(exc.message)}",
            exc.code != 454,
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return _refused(
            [RefusedRecipient(r.recipient, r.code, _said(r.message)) for r in exc.recipients]
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        if exc.code == 530:  # RFC 4954 §6: authentication required
            return SendError(
                "auth",
                f"the server wants a login first: {exc.code} {_said(exc.message)}",
                True,
                code=exc.code,
            )
        return SendError(
            "other",
            f"the server refused the sender {exc.sender}: {exc.code} {_said(exc.message)}",
            _permanent(exc.code),
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return SendError(
            "connection",
            f"{where} refused the session: {exc.code} {_said(exc.message)}",
            False,
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SendError(
            "other",
            f"the server refused the message: {exc.code} {_said(exc.message)}",
            _permanent(exc.code),
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return SendError("connection", f"{where} did not answer in time", False)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError | OSError):
        return SendError("connection", f"cannot reach {where}: {_said(str(exc))}", False)
    if isinstance(exc, aiosmtplib.SMTPNotSupported | ValueError):
        # ValueError: aiosmtplib refuses an address it cannot put on a command line safely.
        return SendError("other", _said(str(exc)), True)
    return SendError("other", f"sending failed: {_said(str(exc))}", False)


def _refused(refused: list[RefusedRecipient]) -> SendError:
    listed = "; ".join(f"{r.address}: {r.code} {r.text}" for r in refused)
    return SendError(
        "recipients",
        f"the server refused {'a recipient' if len(refused) == 1 else 'recipients'}: {listed}",
        any(_permanent(r.code) for r in refused),
        code=refused[0].code,
        refused=tuple(refused),
    )


async def _authenticate(
    client: aiosmtplib.SMTP, account: AccountConfig, secret: str | None
) -> None:
    if not client.supports_extension("auth"):
        # Nothing to log in to (a local relay); a server that does want a login says 530
        # to MAIL FROM, which becomes an "auth" SendError.
        return
    offered = [method.lower() for method in client.server_auth_methods]
    if secret is None:
        try:
            secret = await resolve_secret(account.password_source)
        except CredentialError as exc:
            raise SendError("auth", str(exc), True) from None
    username = account.smtp_username
    if account.password_source.is_oauth2:
        if "xoauth2" not in offered:
            raise SendError(
                "auth",
                f"the server does not offer XOAUTH2 for an OAuth2 token "
                f"(it offers {', '.join(offered) or 'nothing'})",
                True,
            )
        await client.auth_xoauth2(username, secret)
    # One mechanism only: trying each in turn with a wrong password counts as several
    # failures and locks accounts on many providers.
    elif "plain" in offered:
        await client.auth_plain(username, secret)
    elif "login" in offered:
        await client.auth_login(username, secret)
    elif "cram-md5" in offered:
        await client.auth_crammd5(username, secret)
    else:
        raise SendError(
            "auth",
            f"no login method in common with the server (it offers {', '.join(offered)})",
            True,
        )


async def _connect(
    client: aiosmtplib.SMTP, account: AccountConfig, context: ssl.SSLContext | None
) -> None:
    await client.connect()
    # Set before any EHLO, including the one aiosmtplib repeats after STARTTLS.
    client.local_hostname = _ehlo_name(client)
    if account.smtp_security == "tls" and account.fingerprint:
        _check_pin(client, account.fingerprint)
    await client.ehlo()
    if account.smtp_security == "starttls":
        if not client.supports_extension("starttls"):
            # Never fall back to clear text (RFC 3207 §4, RFC 8314 §4.1).
            raise SendError("tls", "the server does not offer STARTTLS", True)
        try:
            await client.starttls(tls_context=context)
        except aiosmtplib.SMTPResponseException as exc:
            raise SendError(
                "tls",
                f"the server refused STARTTLS: {exc.code} {_said(exc.message)}",
                _permanent(exc.code),
                code=exc.code,
            ) from None
        if account.fingerprint:
            _check_pin(client, account.fingerprint)
        await client.ehlo()  # RFC 3207 §4.2: learn the extensions again


async def _transaction(
    client: aiosmtplib.SMTP, sender: str, recipients: tuple[str, ...], data: bytes
) -> str:
    addresses_ascii = sender.isascii() and all(r.isascii() for r in recipients)
    options: list[str] = []
    if not addresses_ascii or not data.isascii():
        needs = "smtputf8" if not addresses_ascii else "8bitmime"
        if not client.supports_extension(needs):
            raise SendError(
                "other",
                f"the message needs the server's {needs.upper()} extension, which it lacks",
                True,
            )
        options.append("BODY=8BITMIME")
        if not addresses_ascii:
            options.append("SMTPUTF8")
    if client.supports_extension("size"):
        options.insert(0, f"SIZE={len(data)}")  # RFC 1870
    encoding = "ascii" if addresses_ascii else "utf-8"
    await client.mail(sender, options=options, encoding=encoding)
    refused: list[RefusedRecipient] = []
    for recipient in recipients:
        try:
            await client.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            if exc.code == 421:  # not about this recipient: the server is going away
                raise
            refused.append(RefusedRecipient(recipient, exc.code, _said(exc.message)))
    if refused:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.rset()
        raise _refused(refused)
    response = await client.data(data)
    return _said(response.message)


async def send_message(
    message: EmailMessage | bytes,
    account: AccountConfig,
    *,
    secret: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - one bound for every step, as aiosmtplib takes it
) -> SendResult:
    """Send ``message`` (built, or its bytes as :func:`sync.compose.message_bytes` made them)
    through ``account``'s SMTP server.

    The envelope is the From address and every To, Cc and Bcc address; the Bcc header is
    not sent. ``secret`` is the password or OAuth2 token when the caller already has it;
    otherwise it is resolved from ``account.password_source`` if the server asks for a
    login. Raises :class:`SendError` for every failure, including a message with no
    recipient (kind ``other``, permanent).
    """
    raw = message_bytes(message) if isinstance(message, EmailMessage) else message
    try:
        sender, recipients = envelope(raw)
    except ComposeError as exc:
        raise SendError("other", str(exc), True) from None
    host = account.smtp_host
    if host is None:
        raise SendError("other", f"account {account.name!r} has no smtp_host configured", True)
    port = account.smtp_port
    data = wire_bytes(raw)
    context = (
        client_context(account.ca_file, account.fingerprint)
        if account.smtp_security != "none"
        else None
    )
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        use_tls=account.smtp_security == "tls",
        start_tls=False,  # done by hand in _connect: never a silent clear-text fallback
        tls_context=context,
        timeout=timeout,
        local_hostname="localhost",  # replaced by the address literal once connected
    )
    try:
        await _connect(client, account, context)
        await _authenticate(client, account, secret)
        response = await _transaction(client, sender, recipients, data)
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit()
    except (aiosmtplib.SMTPException, OSError, ValueError, SendError) as exc:
        raise _translate(exc, host, port) from None
    finally:
        client.close()
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    message_id = " ".join(str(headers.get("Message-ID", "")).split())
    return SendResult(message_id, sender, recipients, response, raw)
