"""The first-run login test and config writer (sync.setup_check), against the private Dovecot.

Each failure class is produced for real: a wrong password, a port nobody listens on, the
server's self-signed certificate, a silent server, a failing password command.
"""

from __future__ import annotations

import os
import shlex
import socket
import ssl
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.config import AccountConfig, ConfigError, Secret, Security, load_config, parse_config
from sync.dovecot import DovecotServer, MailUser
from sync.setup_check import (
    AccountDraft,
    Problem,
    account_slug,
    check_login,
    draft_config,
    format_fingerprint,
    render_config,
    suggest,
    suggest_smtp_host,
    toml_string,
    write_config,
)

SECRET_ON_STDOUT = "hunter2-Zq9!never-shown"


def _print_command(password: str) -> str:
    return f"printf '%s\\n' {shlex.quote(password)}"


def _account(
    tmp_path: Path,
    server: DovecotServer,
    user: MailUser,
    *,
    security: Security = "none",
    port: int | None = None,
    password: str | None = None,
    command: str | None = None,
    ca_file: Path | None = None,
    fingerprint: str = "",
) -> AccountConfig:
    """The account as the setup screen would write it, validated by the config parser."""
    draft = AccountDraft(
        account="test",
        email=f"{user.username}@example.org",
        username=user.username,
        imap_host=server.host,
        imap_port=port or (server.imaps_port if security == "tls" else server.imap_port),
        imap_security=security,
        password_command=command if command is not None else _print_command(user.password),
        password=Secret(password) if password is not None else None,
        ca_file=str(ca_file) if ca_file else "",
        fingerprint=fingerprint,
    )
    _, config = draft_config(draft, tmp_path / "config.toml")
    return config.accounts[0]


def _server_fingerprint(server: DovecotServer) -> str:
    der = ssl.PEM_cert_to_DER_cert(server.ca_file.read_text())
    return format_fingerprint(der)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock.getsockname()[1]


# --- against the real server ---


async def test_right_login_works(tmp_path: Path, mail_user: MailUser) -> None:
    account = _account(tmp_path, mail_user.server, mail_user)
    result = await check_login(account)
    assert result.ok, result.message()
    assert result.problem is None
    assert mail_user.username in result.explanation
    assert "IMAP4REV1" in result.capabilities


async def test_typed_password_works(tmp_path: Path, mail_user: MailUser) -> None:
    account = _account(
        tmp_path, mail_user.server, mail_user, command="", password=mail_user.password
    )
    assert account.password_source.kind == "password"
    result = await check_login(account)
    assert result.ok, result.message()


async def test_wrong_password_is_refused_in_the_servers_words(
    tmp_path: Path, mail_user: MailUser
) -> None:
    account = _account(
        tmp_path, mail_user.server, mail_user, command=_print_command("not-the-password")
    )
    result = await check_login(account)
    assert result.problem is Problem.LOGIN_REFUSED
    assert result.server_said is not None
    assert "Authentication failed" in result.server_said  # Dovecot's own words
    assert "AUTHENTICATIONFAILED" in result.server_said
    assert "user name or the password is wrong" in result.explanation
    assert "not-the-password" not in result.message()


async def test_wrong_port_explains_the_refused_connection(
    tmp_path: Path, mail_user: MailUser, closed_port: int
) -> None:
    account = _account(tmp_path, mail_user.server, mail_user, port=closed_port)
    result = await check_login(account)
    assert result.problem is Problem.CONNECTION_REFUSED
    assert str(closed_port) in result.headline
    assert "993" in result.explanation


async def test_imaps_without_ca_file_shows_the_untrusted_certificate_and_its_fingerprint(
    tmp_path: Path, mail_user: MailUser
) -> None:
    account = _account(tmp_path, mail_user.server, mail_user, security="tls")
    result = await check_login(account)
    assert result.problem is Problem.UNTRUSTED_CERTIFICATE
    assert "not signed by an authority this computer trusts" in result.explanation
    assert "CA file" in result.explanation
    assert "fingerprint" in result.explanation
    assert result.fingerprint == _server_fingerprint(mail_user.server)
    assert result.fingerprint in result.message()
    assert result.detail is not None and "self-signed" in result.detail


async def test_pinning_the_fingerprint_shown_makes_the_login_work(
    tmp_path: Path, mail_user: MailUser
) -> None:
    first = await check_login(_account(tmp_path, mail_user.server, mail_user, security="tls"))
    assert first.fingerprint is not None
    pinned = _account(
        tmp_path, mail_user.server, mail_user, security="tls", fingerprint=first.fingerprint
    )
    result = await check_login(pinned)
    assert result.ok, result.message()


async def test_a_different_pin_is_a_mismatch_showing_the_real_fingerprint(
    tmp_path: Path, mail_user: MailUser
) -> None:
    account = _account(tmp_path, mail_user.server, mail_user, security="tls", fingerprint="ab" * 32)
    result = await check_login(account)
    assert result.problem is Problem.FINGERPRINT_MISMATCH
    assert result.fingerprint == _server_fingerprint(mail_user.server)


async def test_imaps_with_ca_file_works(tmp_path: Path, mail_user: MailUser) -> None:
    server = mail_user.server
    account = _account(tmp_path, server, mail_user, security="tls", ca_file=server.ca_file)
    result = await check_login(account)
    assert result.ok, result.message()
    assert "over TLS" in result.explanation


async def test_starttls_on_the_plain_port_with_ca_file_works(
    tmp_path: Path, mail_user: MailUser
) -> None:
    server = mail_user.server
    account = _account(
        tmp_path,
        server,
        mail_user,
        security="starttls",
        port=server.imap_port,
        ca_file=server.ca_file,
    )
    result = await check_login(account)
    assert result.ok, result.message()
    assert "over STARTTLS" in result.explanation


async def test_starttls_without_ca_file_reads_the_certificate_after_starttls(
    tmp_path: Path, mail_user: MailUser
) -> None:
    server = mail_user.server
    account = _account(tmp_path, server, mail_user, security="starttls", port=server.imap_port)
    result = await check_login(account)
    assert result.problem is Problem.UNTRUSTED_CERTIFICATE
    assert result.fingerprint == _server_fingerprint(server)


async def test_tls_on_the_plain_port_is_a_handshake_failure_with_a_hint(
    tmp_path: Path, mail_user: MailUser
) -> None:
    server = mail_user.server
    account = _account(
        tmp_path, server, mail_user, security="tls", port=server.imap_port, ca_file=server.ca_file
    )
    result = await check_login(account, step_limit=5)
    assert result.problem is Problem.TLS_HANDSHAKE
    assert result.detail == "WRONG_VERSION_NUMBER"  # a clear-text greeting, not TLS
    assert "choose security starttls" in result.explanation


async def test_failing_password_command_is_explained_without_the_secret(
    tmp_path: Path, mail_user: MailUser
) -> None:
    command = f"echo 'gpg: decryption failed: No secret key' >&2; echo {SECRET_ON_STDOUT}; exit 3"
    account = _account(tmp_path, mail_user.server, mail_user, command=command)
    result = await check_login(account)
    assert result.problem is Problem.PASSWORD_COMMAND
    assert result.detail is not None
    assert "exit status 3" in result.detail
    assert "gpg: decryption failed: No secret key" in result.detail
    assert SECRET_ON_STDOUT not in result.message()


async def test_silent_server_times_out_with_an_explanation(
    tmp_path: Path, mail_user: MailUser, silent_port: int
) -> None:
    account = _account(tmp_path, mail_user.server, mail_user, port=silent_port)
    result = await check_login(account, step_limit=0.3)
    assert result.problem is Problem.TIMEOUT
    assert "0.3 seconds" in result.explanation


async def test_unknown_host_is_explained(tmp_path: Path) -> None:
    # RFC 6761 §6.4: names under .invalid never resolve.
    draft = AccountDraft(
        account="x",
        email="me@example.org",
        imap_host="no-such-host.invalid",
        imap_port=993,
        password_command="true",
    )
    _, config = draft_config(draft, tmp_path / "config.toml")
    result = await check_login(config.accounts[0], step_limit=10)
    assert result.problem in (Problem.HOST_NOT_FOUND, Problem.DNS_UNAVAILABLE)
    assert "no-such-host.invalid" in result.headline


# --- defaults, the TOML writer, the file ---


def test_suggestions_from_an_email() -> None:
    guess = suggest("Me.Myself@Example.ORG")
    assert guess.imap_host == "imap.example.org"
    assert guess.smtp_host == "smtp.example.org"
    assert guess.username == "Me.Myself@Example.ORG"
    assert guess.account == "example"
    assert suggest("not an address").imap_host == ""
    assert suggest_smtp_host("mail.example.org") == "mail.example.org"
    assert account_slug("My Gmail!") == "My-Gmail"
    assert account_slug("   ") == "mail"


@given(st.text())
def test_toml_string_round_trips_any_text(value: str) -> None:
    try:
        quoted = toml_string(value)
    except ValueError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    assert tomllib.loads(f"v = {quoted}")["v"] == value


def test_hostile_values_are_escaped_not_injected(tmp_path: Path) -> None:
    draft = AccountDraft(
        account="me+work@example.org",  # a valid name that must be a quoted TOML key
        email="me@example.org",
        display_name='Me" imap_host = "evil.example" # \\',
        imap_host="imap.example.org",
        imap_port=993,
        password=Secret('p"a\\ss\n[accounts.x]\x00'),
    )
    _, config = draft_config(draft, tmp_path / "config.toml")
    (account,) = config.accounts
    assert account.name == "me+work@example.org"
    assert account.display_name == 'Me" imap_host = "evil.example" # \\'
    assert account.imap_host == "imap.example.org"
    assert account.password_source.secret == Secret('p"a\\ss\n[accounts.x]\x00')
    assert "evil" not in account.imap_host


def test_control_characters_in_a_name_are_refused_by_the_validator(tmp_path: Path) -> None:
    draft = AccountDraft(
        account="me",
        email="me@example.org",
        display_name="Me\x1b]0;pwned\x07",
        imap_host="imap.example.org",
        imap_port=993,
        password_command="pass show mail",
    )
    with pytest.raises(ConfigError) as caught:
        draft_config(draft, tmp_path / "config.toml")
    assert caught.value.key == "accounts.me.name"


def test_rendered_config_keeps_defaults_out_and_smtp_in(tmp_path: Path) -> None:
    draft = AccountDraft(
        account="personal",
        email="me@example.org",
        imap_host="imap.example.org",
        imap_port=993,
        password_command="pass show mail/personal",
        smtp_host="smtp.example.org",
        smtp_security="starttls",
    )
    text = render_config(draft)
    assert "username" not in text
    assert "password =" not in text
    config = parse_config(text, tmp_path / "config.toml")
    (account,) = config.accounts
    assert account.username == "me@example.org"
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        "smtp.example.org",
        587,
        "starttls",
    )


def test_insecure_remote_host_is_refused_unless_allowed(tmp_path: Path) -> None:
    draft = AccountDraft(
        account="a",
        email="me@example.org",
        imap_host="imap.example.org",
        imap_port=143,
        imap_security="none",
        password_command="true",
    )
    with pytest.raises(ConfigError) as caught:
        draft_config(draft, tmp_path / "c.toml")
    assert caught.value.key == "accounts.a.imap_security"
    _, config = draft_config(replace(draft, allow_insecure=True), tmp_path / "c.toml")
    assert config.accounts[0].allow_insecure


def test_write_config_is_private_atomic_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mailtui" / "config.toml"
    old_umask = os.umask(0o022)
    try:
        text = render_config(
            AccountDraft(
                account="a",
                email="me@example.org",
                imap_host="imap.example.org",
                imap_port=993,
                password_command="pass show x",
            )
        )
        assert write_config(path, text) == path
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert load_config(path).accounts[0].email == "me@example.org"
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary left

    with pytest.raises(FileExistsError):
        write_config(path, "something else\n")
    assert path.read_text() == text
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]
