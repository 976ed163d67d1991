"""Sending through a real SMTP server on loopback: aiosmtpd, in the test's own event loop.

Each test starts the server it needs (clear text, STARTTLS or implicit TLS, with an
authenticator checking the password), sends with ``sync.smtp.send_message`` and looks at
what the server received: envelope, headers, body.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email.parser
import email.policy
import hashlib
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from sync.compose import Draft, build_message
from sync.config import AccountConfig, PasswordSource, Secret, Security
from sync.smtp import SendError, send_message

USER = "me@example.org"
PASSWORD = "right password ünï"
TOKEN = "ya29.token-for-me"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None


@dataclass
class Handler:
    """aiosmtpd handler: refuses some recipients (550, 450, 421), records what arrives."""

    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bytes]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.endswith("@example.invalid"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.startswith("greylisted@"):
            return "450 4.2.0 Greylisted, try again in 5 minutes"
        if address.startswith("shutdown@"):
            return "421 4.3.2 Service shutting down"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                content,
                session.ssl is not None,
                getattr(session.auth_data, "login", None),
            )
        )
        return "250 2.0.0 Ok: queued as TEST123"

    async def auth_XOAUTH2(self, server: SMTPServer, args: list[str]) -> AuthResult:
        # The SASL XOAUTH2 initial response: "user=" u ^A "auth=Bearer " token ^A ^A.
        decoded = base64.b64decode(args[1]) if len(args) > 1 else b""
        self.logins.append(("XOAUTH2", decoded))
        wanted = f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()
        return AuthResult(success=decoded == wanted, handled=False)


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    """Accept USER with PASSWORD, for PLAIN and LOGIN."""
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=data)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is missing")
    directory = tmp_path_factory.mktemp("smtp-cert")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def _fingerprint(cert: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return hashlib.sha256(der).hexdigest()


@asynccontextmanager
async def smtp_server(
    security: Security,
    certificate: tuple[Path, Path] | None = None,
    *,
    exclude: Iterable[str] = (),
    offer_starttls: bool = True,
) -> AsyncIterator[tuple[Handler, int]]:
    """Run an aiosmtpd server on a free 127.0.0.1 port in this event loop."""
    handler = Handler()
    context: ssl.SSLContext | None = None
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
    starttls = security == "starttls" and offer_starttls

    def factory() -> SMTPServer:
        return SMTPServer(
            handler,
            hostname="mx.test",
            tls_context=context if starttls else None,
            require_starttls=starttls,
            authenticator=authenticator,
            auth_require_tls=starttls,  # implicit TLS is invisible to aiosmtpd's check
            auth_exclude_mechanism=list(exclude),
            enable_SMTPUTF8=True,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if security == "tls" else None
    )
    try:
        port = server.sockets[0].getsockname()[1]
        yield handler, port
    finally:
        server.close()
        await server.wait_closed()


def make_account(port: int, security: Security, **changes: Any) -> AccountConfig:
    account = AccountConfig(
        name="test",
        email=USER,
        display_name="Mé Myself",
        imap_host="127.0.0.1",
        imap_port=143,
        imap_security="none",
        username=USER,
        password_source=PasswordSource("password", account="test", secret=Secret(PASSWORD)),
        ca_file=None,
        fingerprint=None,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=security,
        smtp_username=USER,
        allow_insecure=False,
        archive_folder=None,
        save_sent=True,
    )
    return dataclasses.replace(account, **changes)


def make_draft(**changes: Any) -> Draft:
    draft = Draft(
        from_=f"Mé Myself <{USER}>",
        to=("Ana Øster <ana@example.com>",),
        cc=("bob@example.net",),
        bcc=("Hidden Person <hidden@example.org>",),
        subject="Grüße aus Köln",
        body="Hallo Ana,\nbis morgen.\n",
    )
    return dataclasses.replace(draft, **changes)


def _headers(content: bytes) -> email.message.EmailMessage:
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(content)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


async def test_send_in_clear_on_loopback_with_auth_plain() -> None:
    async with smtp_server("none") as (handler, port):
        account = make_account(port, "none")
        message = build_message(make_draft(), account)
        result = await send_message(message, account)

    assert len(handler.received) == 1
    got = handler.received[0]
    assert got.mail_from == USER
    # Bcc is in the envelope, not in the headers that were sent.
    assert got.rcpt_tos == ["ana@example.com", "bob@example.net", "hidden@example.org"]
    assert b"hidden@example.org" not in got.content
    assert b"\nBcc:" not in got.content and not got.content.startswith(b"Bcc:")
    assert got.login == USER.encode()
    assert not got.tls
    sent = _headers(got.content)
    assert sent["Subject"] == "Grüße aus Köln"
    assert sent["To"].addresses[0].display_name == "Ana Øster"
    assert sent["Message-ID"] == result.message_id == message["Message-ID"]
    assert sent.get_content().replace("\r\n", "\n") == "Hallo Ana,\nbis morgen.\n"
    assert "queued as TEST123" in result.response
    # The sender's own copy keeps the Bcc.
    assert b"hidden@example.org" in result.raw


async def test_send_bytes_with_starttls_auth_login_and_pinned_ca(
    certificate: tuple[Path, Path],
) -> None:
    cert, _ = certificate
    async with smtp_server("starttls", certificate, exclude=["PLAIN"]) as (handler, port):
        account = make_account(port, "starttls", ca_file=cert, fingerprint=_fingerprint(cert))
        raw = build_message(make_draft(bcc=()), account).as_bytes()
        result = await send_message(raw, account)

    assert [r.rcpt_tos for r in handler.received] == [["ana@example.com", "bob@example.net"]]
    assert handler.received[0].tls
    assert handler.received[0].login == USER.encode()
    assert result.recipients == ("ana@example.com", "bob@example.net")


async def test_send_with_implicit_tls(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    async with smtp_server("tls", certificate) as (handler, port):
        account = make_account(port, "tls", ca_file=cert)
        await send_message(build_message(make_draft(), account), account, secret=PASSWORD)
    assert len(handler.received) == 1


async def test_fingerprint_pin_alone_accepts_a_self_signed_certificate(
    certificate: tuple[Path, Path],
) -> None:
    cert, _ = certificate
    async with smtp_server("tls", certificate) as (handler, port):
        account = make_account(port, "tls", fingerprint="sha256:" + _fingerprint(cert).upper())
        await send_message(build_message(make_draft(), account), account)
    assert len(handler.received) == 1


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_untrusted_certificate_is_a_permanent_tls_error(
    certificate: tuple[Path, Path], security: Security
) -> None:
    async with smtp_server(security, certificate) as (handler, port):
        account = make_account(port, security)  # no ca_file: the system store
        with pytest.raises(SendError) as caught:
            await send_message(build_message(make_draft(), account), account)
    assert caught.value.kind == "tls"
    assert caught.value.permanent
    assert "certificate" in caught.value.message
    assert handler.received == []


async def test_wrong_fingerprint_is_refused(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    async with smtp_server("tls", certificate) as (handler, port):
        account = make_account(port, "tls", ca_file=cert, fingerprint="ab" * 32)
        with pytest.raises(SendError) as caught:
            await send_message(build_message(make_draft(), account), account)
    assert caught.value.kind == "tls"
    assert _fingerprint(cert) in caught.value.message
    assert handler.received == []


async def test_starttls_missing_never_falls_back_to_clear_text() -> None:
    async with smtp_server("starttls", offer_starttls=False) as (handler, port):
        account = make_account(port, "starttls")
        with pytest.raises(SendError) as caught:
            await send_message(build_message(make_draft(), account), account)
    assert caught.value.kind == "tls"
    assert "STARTTLS" in caught.value.message
    assert handler.received == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_wrong_password_is_an_auth_error_with_the_server_words(mechanism: str) -> None:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    async with smtp_server("none", exclude=[other]) as (handler, port):
        account = make_account(port, "none")
        with pytest.raises(SendError) as caught:
            await send_message(build_message(make_draft(), account), account, secret="wrong")
    error = caught.value
    assert error.kind == "auth"
    assert error.permanent
    assert error.code == 535
    assert "Authentication credentials invalid" in error.message
    assert handler.received == []


async def test_xoauth2_token_from_the_oauth2_command() -> None:
    source = PasswordSource("oauth2_command", account="test", command=f"printf '%s\\n' {TOKEN}")
    async with smtp_server("none") as (handler, port):
        account = make_account(port, "none", password_source=source)
        await send_message(build_message(make_draft(), account), account)
        bad = make_account(port, "none", password_source=source)
        with pytest.raises(SendError) as caught:
            await send_message(build_message(make_draft(), bad), bad, secret="expired")
    assert [kind for kind, _ in handler.logins] == ["XOAUTH2", "XOAUTH2"]
    assert len(handler.received) == 1
    assert caught.value.kind == "auth"


async def test_refused_recipient_sends_to_nobody_and_keeps_the_server_words() -> None:
    async with smtp_server("none") as (handler, port):
        account = make_account(port, "none")
        draft = make_draft(cc=("bob@example.net", "Nobody <nobody@example.invalid>"))
        with pytest.raises(SendError) as caught:
            await send_message(build_message(draft, account), account)
    error = caught.value
    assert error.kind == "recipients"
    assert error.permanent
    assert [r.address for r in error.refused] == ["nobody@example.invalid"]
    assert error.refused[0].code == 550
    assert "Recipient address rejected: User unknown" in error.message
    assert "nobody@example.invalid" in error.message
    assert handler.received == []  # all or nothing: bob did not get it either


async def test_refused_connection_is_a_transient_connection_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    account = make_account(port, "none")
    with pytest.raises(SendError) as caught:
        await send_message(build_message(make_draft(), account), account, timeout=5)
    assert caught.value.kind == "connection"
    assert not caught.value.permanent
    assert str(port) in caught.value.message


async def test_message_without_recipients_is_refused_before_connecting() -> None:
    account = make_account(1, "none")
    message = build_message(make_draft(bcc=()), account)
    del message["To"]
    del message["Cc"]
    with pytest.raises(SendError) as caught:
        await send_message(message, account)
    assert caught.value.kind == "other"
    assert caught.value.permanent


async def test_silent_server_times_out_as_a_connection_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        account = make_account(port, "none")
        with pytest.raises(SendError) as caught:
            await send_message(build_message(make_draft(), account), account, timeout=0.3)
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.kind == "connection"
    assert not caught.value.permanent


async def test_greylisted_recipient_is_transient() -> None:
    async with smtp_server("none") as (handler, port):
        account = make_account(port, "none")
        draft = make_draft(to=("greylisted@example.com",))
        with pytest.raises(SendError) as caught:
            await send_message(build_message(draft, account), account)
    assert caught.value.kind == "recipients"
    assert not caught.value.permanent
    assert "Greylisted, try again" in caught.value.message
    assert handler.received == []


async def test_server_closing_during_rcpt_is_a_connection_error() -> None:
    async with smtp_server("none") as (handler, port):
        account = make_account(port, "none")
        draft = make_draft(to=("shutdown@example.com",))
        with pytest.raises(SendError) as caught:
            await send_message(build_message(draft, account), account)
    assert (caught.value.kind, caught.value.code, caught.value.permanent) == (
        "connection",
        421,
        False,
    )
    assert "Service shutting down" in caught.value.message
    assert handler.received == []
