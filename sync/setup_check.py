"""First-run setup, headless: guess an account's settings, test its login, write the config.

The setup screen (``tui/screens/setup.py``) collects an :class:`AccountDraft`; this module turns
it into config text with tomli-w, which escapes every string and key (:func:`render_config`),
validates that text with ``sync.config.parse_config`` (so what is tested is exactly what is
written), tests the login the way the sync engine logs in (:func:`check_login`) and writes the
file atomically, private to the user (:func:`write_config`).

Every failure of the test becomes a :class:`CheckResult` that says, in words, what happened and
what to do: a host that does not exist, a refused connection, a timeout, a failed TLS handshake,
a certificate signed by nobody this computer trusts (with the SHA-256 fingerprint we saw, to
pin), no STARTTLS, a refused login (with the server's own words) or a failed password command
(exit status and first stderr line; never the secret). Nothing here prints or imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import socket
import ssl
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

import tomli_w

from sync.clean import clean_text
from sync.config import (
    AccountConfig,
    Config,
    Secret,
    Security,
    default_smtp_port,
    parse_config,
)
from sync.credentials import CredentialError, resolve_secret
from sync.engine.account import authenticate, open_connection
from sync.imap import (
    ImapClient,
    ImapCommandError,
    ImapDisconnected,
    ImapError,
    ImapParseError,
    ImapSecurityError,
    ImapTimeout,
)

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "AccountDraft",
    "CheckResult",
    "Problem",
    "Suggestions",
    "account_slug",
    "check_login",
    "draft_config",
    "format_fingerprint",
    "render_config",
    "suggest",
    "suggest_smtp_host",
    "toml_string",
    "write_config",
]

#: Seconds to wait for the server at each step: long enough for a slow link, short enough
#: that a wrong port (which often just hangs) is reported while the user still waits.
DEFAULT_CHECK_TIMEOUT: Final = 15.0
_SHOWN: Final = 300  # longest server text or error detail we quote

# OpenSSL X509_V_ERR_* codes (openssl/x509_vfy.h) that get their own explanation.
_X509_NOT_YET_VALID: Final = 9
_X509_EXPIRED: Final = 10
_X509_NAME_MISMATCHES: Final = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH

_UNREACHABLE_ERRNOS: Final = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)
# getaddrinfo answers that mean "this name has no address", as opposed to "DNS did not answer".
_NO_SUCH_NAME: Final = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)

_SLUG_CHARS = re.compile(r"[^A-Za-z0-9_.@+-]+")


class Problem(StrEnum):
    """Why a login test failed: one member per explanation the user gets."""

    HOST_NOT_FOUND = "host-not-found"
    DNS_UNAVAILABLE = "dns-unavailable"
    UNREACHABLE = "unreachable"
    CONNECTION_REFUSED = "connection-refused"
    CONNECT_FAILED = "connect-failed"
    TIMEOUT = "timeout"
    CONNECTION_CLOSED = "connection-closed"
    NOT_IMAP = "not-imap"
    TLS_HANDSHAKE = "tls-handshake"
    UNTRUSTED_CERTIFICATE = "untrusted-certificate"
    CERTIFICATE_NAME_MISMATCH = "certificate-name-mismatch"
    CERTIFICATE_EXPIRED = "certificate-expired"
    FINGERPRINT_MISMATCH = "fingerprint-mismatch"
    STARTTLS_MISSING = "starttls-missing"
    LOGIN_DISABLED = "login-disabled"
    LOGIN_REFUSED = "login-refused"
    PASSWORD_COMMAND = "password-command"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of a login test, in words for the user.

    ``problem`` is None on success. ``headline`` is one short sentence; ``explanation`` says what
    it means and what to do. ``server_said`` quotes the server (cleaned), ``fingerprint`` is the
    certificate fingerprint we saw (``sha256:AB:CD:…``) when it matters, ``detail`` is the
    technical cause (an OpenSSL reason, an errno text). Nothing here ever holds the secret.
    """

    problem: Problem | None
    headline: str
    explanation: str
    server_said: str | None = None
    fingerprint: str | None = None
    detail: str | None = None
    capabilities: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        """True when the login worked."""
        return self.problem is None

    def message(self) -> str:
        """Everything in one plain text block (for a log or a command line)."""
        parts = [self.headline, self.explanation]
        if self.server_said:
            parts.append(f"The server said: {self.server_said}")
        if self.fingerprint:
            parts.append(f"Certificate fingerprint: {self.fingerprint}")
        if self.detail:
            parts.append(f"Detail: {self.detail}")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Suggestions:
    """Defaults guessed from an email address (what the form shows in its empty fields)."""

    account: str
    imap_host: str
    username: str
    smtp_host: str


@dataclass(frozen=True, slots=True)
class AccountDraft:
    """What the setup form holds: one account, before validation.

    Empty strings mean "not given" (``username`` then defaults to the email in the config).
    ``password`` is a typed password: it is written to the config file in plain text, so the
    form sets it only when the user explicitly asked for that; ``password_command`` is the
    better choice and wins when both are set.
    """

    account: str
    email: str
    imap_host: str
    imap_port: int
    imap_security: Security = "tls"
    username: str = ""
    display_name: str = ""
    password_command: str = ""
    password: Secret | None = None
    ca_file: str = ""
    fingerprint: str = ""
    allow_insecure: bool = False
    smtp_host: str = ""
    smtp_port: int | None = None
    smtp_security: Security = "tls"


# --- defaults ---


def account_slug(text: str) -> str:
    """Make ``text`` a valid account name (letters, digits, ``_ . @ + -``; 64 at most)."""
    slug = _SLUG_CHARS.sub("-", text.strip()).strip("-_.@+")[:64]
    return slug or "mail"


def suggest(email: str) -> Suggestions:
    """Guess settings from ``email``: ``imap.<domain>``, the email as username, and so on.

    The guesses follow the most common provider layout; the login test tells the user at once
    when a guess is wrong (the host then does not exist or refuses the connection).
    """
    email = email.strip()
    local, _, domain = email.rpartition("@")
    domain = domain.strip().lower().rstrip(".")
    if not local or not domain:
        return Suggestions(account="mail", imap_host="", username=email, smtp_host="")
    imap_host = domain if domain == "localhost" else f"imap.{domain}"
    return Suggestions(
        account=account_slug(domain.split(".")[0]),
        imap_host=imap_host,
        username=email,
        smtp_host=suggest_smtp_host(imap_host),
    )


def suggest_smtp_host(imap_host: str) -> str:
    """The submission host that usually goes with ``imap_host``: ``imap.X`` gives ``smtp.X``."""
    host = imap_host.strip()
    if host.lower().startswith("imap."):
        return "smtp." + host[len("imap.") :]
    return host


# --- the config text ---


def _refuse_surrogates(value: str) -> None:
    # A lone surrogate is no text: it cannot be encoded into the UTF-8 file (tomli-w would
    # write it into the string and the write would fail half-way).
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise ValueError("a lone surrogate cannot be written to a TOML file")


def toml_string(value: str) -> str:
    """Return ``value`` as a TOML basic string, every character that needs it escaped.

    TOML 1.0 (Strings): the quotation mark, the backslash and control characters other than
    tab (U+0000-U+001F, U+007F) must be escaped; tomli-w does it. Lone surrogates are not
    text: ValueError.
    """
    _refuse_surrogates(value)
    line = tomli_w.dumps({"v": value})  # 'v = "..."\n'
    return line[len("v = ") : -1]


def render_config(draft: AccountDraft) -> str:
    """Return the config file text for ``draft``: one ``[accounts.NAME]`` table.

    tomli-w writes the table (every string and key escaped or quoted as TOML needs); keys left
    at their default are not written, so the file stays short and defaults can improve later.
    Validate the result with ``sync.config.parse_config`` (:func:`draft_config` does both).
    Raises ValueError for text that cannot be written (a lone surrogate).
    """
    account: dict[str, str | int | bool] = {}

    def put(key: str, value: str | int | bool) -> None:
        if isinstance(value, str):
            _refuse_surrogates(value)
        account[key] = value

    put("email", draft.email.strip())
    if draft.display_name.strip():
        put("name", draft.display_name.strip())
    put("imap_host", draft.imap_host.strip())
    put("imap_port", draft.imap_port)
    put("imap_security", draft.imap_security)
    username = draft.username.strip()
    if username and username != draft.email.strip():
        put("username", username)
    if draft.password_command.strip():
        put("password_command", draft.password_command.strip())
    elif draft.password is not None:
        put("password", draft.password.reveal())
    if draft.ca_file.strip():
        put("ca_file", draft.ca_file.strip())
    if draft.fingerprint.strip():
        put("fingerprint", draft.fingerprint.strip())
    if draft.allow_insecure:
        put("allow_insecure", True)
    if draft.smtp_host.strip():
        put("smtp_host", draft.smtp_host.strip())
        put("smtp_port", draft.smtp_port or default_smtp_port(draft.smtp_security))
        put("smtp_security", draft.smtp_security)
    _refuse_surrogates(draft.account)
    header = "# mailtui config, written by the setup screen. Reference: docs/config.md\n"
    return header + tomli_w.dumps({"accounts": {draft.account: account}})


def draft_config(draft: AccountDraft, path: Path) -> tuple[str, Config]:
    """Render ``draft`` and validate it as the file at ``path`` would be read.

    Returns the text and the parsed config; raises ``sync.config.ConfigError`` (naming the key)
    when the draft is not a valid config, or ValueError for text that cannot be written.
    """
    text = render_config(draft)
    return text, parse_config(text, path)


# --- writing the file ---


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (existing ones are kept)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue
        path.chmod(0o700)  # mkdir's mode is filtered by the umask


def _publish(temporary: Path, path: Path) -> None:
    """Give ``temporary`` the name ``path`` atomically, never replacing an existing file.

    A hard link appears atomically with the whole content, like a rename, but fails when the
    name exists: a config created meanwhile (another terminal, a dotfile manager's link) is
    kept, not silently replaced. File systems without hard links fall back to a rename.
    """
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if path.exists() or path.is_symlink():
            raise FileExistsError(errno.EEXIST, "a config file already exists", str(path)) from None
        temporary.replace(path)


def write_config(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically with mode 0600 and return ``path``.

    The parent directories are created with mode 0700. The text goes to a temporary file in the
    same directory, is flushed to disk, then takes its name in one step, so a crash leaves
    either no config or the whole one. Raises FileExistsError when ``path`` already exists.
    """
    _make_private_dirs(path.parent)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        _publish(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    # Make the new directory entry itself durable.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


# --- the login test ---


def format_fingerprint(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate as ``sha256:AB:CD:…`` (as openssl)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return "sha256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _said(text: str) -> str:
    return clean_text(text, max_length=_SHOWN)


def _where(account: AccountConfig) -> str:
    return f"{_said(account.imap_host)} port {account.imap_port}"


def _port_hint(account: AccountConfig) -> str:
    """A hint when the port and the security do not go together (RFC 8314 §3.3, RFC 3501)."""
    port, security = account.imap_port, account.imap_security
    if security != "tls" and port == 993:
        return (
            " Port 993 expects TLS from the first byte: choose security tls, or port 143 for "
            f"{security}."
        )
    if security == "tls" and port == 143:
        return " Port 143 starts in clear text: choose security starttls, or port 993 for tls."
    return ""


def _silent_hint(account: AccountConfig) -> str:
    if account.imap_security == "tls":
        return ""
    # A TLS port waits for our handshake while we wait for its greeting: both stay silent.
    return " If this port expects TLS from the first byte (as 993 does), choose security tls."


async def check_login(
    account: AccountConfig, *, step_limit: float = DEFAULT_CHECK_TIMEOUT
) -> CheckResult:
    """Connect to the account's IMAP server, get its secret, log in, and log out again.

    Uses the same steps as the sync engine (TLS set-up and certificate checks by
    ``sync.imap.ImapClient``, the secret from ``sync.credentials.resolve_secret``, AUTHENTICATE
    PLAIN when offered, else LOGIN). Never raises for a failed test: every failure is a
    :class:`CheckResult` with its explanation. ``step_limit`` bounds each network step, in seconds.
    """
    try:
        client = await open_connection(account, step_limit)
    except ImapError as exc:
        return await _connect_failure(account, exc, step_limit)
    # The connection is checked before the password command runs: a wrong host should not
    # first ask for a GnuPG passphrase.
    logged_in = False
    try:
        try:
            secret = await resolve_secret(account.password_source)
        except CredentialError as exc:
            return _password_failure(account, exc)
        try:
            await authenticate(client, account, secret)
        except ImapCommandError as exc:
            return _login_refused(account, exc)
        except ImapSecurityError as exc:
            return CheckResult(
                Problem.LOGIN_DISABLED,
                "The server does not accept a password on this connection",
                "It refuses to receive a password without encryption (LOGINDISABLED, RFC 3501 "
                "§6.2.3). Choose security tls (port 993) or starttls (port 143).",
                detail=_said(str(exc)),
            )
        except ImapTimeout:
            return CheckResult(
                Problem.TIMEOUT,
                "The server stopped answering during the login",
                f"{_where(account)} sent nothing for {step_limit:g} seconds after the password "
                "was sent. Try again; if it keeps happening, the server is overloaded.",
            )
        except ImapDisconnected as exc:
            return CheckResult(
                Problem.CONNECTION_CLOSED,
                "The server closed the connection during the login",
                "Some servers hang up after a wrong password or on too many attempts; wait a "
                "minute and check the user name and password.",
                server_said=_said(exc.reason),
            )
        except ImapError as exc:  # e.g. no OAUTH mechanism offered
            return CheckResult(Problem.OTHER, "The login could not be tried", _said(str(exc)) + ".")
        logged_in = True
        how = {"tls": "over TLS", "starttls": "over STARTTLS", "none": "without encryption"}
        return CheckResult(
            None,
            "Login works",
            f"Logged in to {_where(account)} {how[account.imap_security]} as "
            f"{_said(account.username)}.",
            capabilities=client.capabilities,
        )
    finally:
        if logged_in:
            await client.logout()
        else:
            await client.close()


def _password_failure(account: AccountConfig, exc: CredentialError) -> CheckResult:
    # CredentialError's text names the exit status and the first stderr line, never the
    # command's text nor what it printed on stdout (the secret).
    return CheckResult(
        Problem.PASSWORD_COMMAND,
        "The password command failed",
        "mailtui runs the password command and uses the first line it prints as the password. "
        "Run the command in a terminal to see what goes wrong (a locked password store, a "
        "missing entry, a typo).",
        detail=_said(str(exc)),
    )


# RFC 5530 §3 response codes, in the user's words.
_LOGIN_CODES: Final = {
    "AUTHENTICATIONFAILED": "The user name or the password is wrong.",
    "AUTHORIZATIONFAILED": "The password is right, but this user may not use this mailbox.",
    "EXPIRED": "The password (or the account) has expired: renew it with your provider.",
    "PRIVACYREQUIRED": "The server wants an encrypted connection: choose tls or starttls.",
    "CONTACTADMIN": "The provider asks you to contact them (the account may be locked).",
    "UNAVAILABLE": "The server cannot check passwords right now: try again later.",
}


def _login_refused(account: AccountConfig, exc: ImapCommandError) -> CheckResult:
    code = (exc.code or "").upper()
    meaning = _LOGIN_CODES.get(code, "Check the user name and the password.")
    return CheckResult(
        Problem.LOGIN_REFUSED,
        "The server refused the login",
        f"{meaning} The user name sent was {_said(account.username)}. Many providers want an "
        "app password (made in their web settings) when two-factor sign-in is on.",
        server_said=_said(f"[{exc.code}] {exc.text}" if exc.code else exc.text),
    )


def _cause(exc: BaseException) -> BaseException | None:
    # sync.imap raises its errors ``from None``: that hides the cause from tracebacks but keeps
    # it in __context__, and the cause (a socket or TLS error) is what tells the cases apart.
    return exc.__cause__ or exc.__context__


async def _connect_failure(
    account: AccountConfig, exc: ImapError, step_limit: float
) -> CheckResult:
    host, where = account.imap_host, _where(account)
    cause = _cause(exc)
    if isinstance(exc, ImapTimeout):
        return CheckResult(
            Problem.TIMEOUT,
            f"No answer from {where}",
            f"mailtui waited {step_limit:g} seconds without an answer. A firewall may be dropping "
            "the connection, the host may be down, or the port may be wrong."
            + (_port_hint(account) or _silent_hint(account)),
        )
    if isinstance(exc, ImapSecurityError):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return await _certificate_failure(account, cause, step_limit)
        if isinstance(cause, ssl.SSLError):
            if cause.reason == "WRONG_VERSION_NUMBER":
                # What OpenSSL reports when a clear-text greeting arrives instead of TLS.
                why = (
                    " It answered in clear text: this port expects STARTTLS (choose security "
                    "starttls), and TLS is on another port (usually 993)."
                )
            else:
                why = (
                    " The port may not speak TLS, or the server and this computer share no TLS "
                    "version or cipher." + _port_hint(account)
                )
            return CheckResult(
                Problem.TLS_HANDSHAKE,
                "The TLS handshake failed",
                f"{where} did not complete a TLS handshake." + why,
                detail=_said(cause.reason or str(cause)),
            )
        return await _security_failure(account, exc, step_limit)
    if isinstance(exc, ImapParseError):
        return CheckResult(
            Problem.NOT_IMAP,
            f"{where} does not speak IMAP",
            "Something answers there, but not an IMAP server (a mail submission or web server, "
            "perhaps). IMAP is usually on port 993 (tls) or 143 (starttls)." + _port_hint(account),
            server_said=_said(exc.excerpt.decode("utf-8", "replace"))
            if isinstance(exc.excerpt, bytes)
            else _said(exc.excerpt),
        )
    if isinstance(cause, socket.gaierror):
        if cause.errno in _NO_SUCH_NAME:
            return CheckResult(
                Problem.HOST_NOT_FOUND,
                f"There is no host called {_said(host)}",
                "The name does not exist in DNS. Check the spelling; your provider's help pages "
                "name the IMAP server (often imap.<your domain>).",
                detail=_said(cause.strerror or str(cause)),
            )
        return CheckResult(
            Problem.DNS_UNAVAILABLE,
            f"Could not look up {_said(host)}",
            "The name lookup itself failed: this computer may be offline or have no working "
            "DNS server.",
            detail=_said(cause.strerror or str(cause)),
        )
    if isinstance(cause, ConnectionRefusedError):
        return CheckResult(
            Problem.CONNECTION_REFUSED,
            f"{where} refused the connection",
            f"The host {_said(host)} answered, but nothing accepts connections on port "
            f"{account.imap_port}. IMAP is usually on port 993 (tls) or 143 (starttls).",
        )
    if isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS:
        return CheckResult(
            Problem.UNREACHABLE,
            f"{_said(host)} cannot be reached",
            "There is no network route to it: this computer may be offline, or a VPN may be "
            "needed to reach that server.",
            detail=_said(cause.strerror or str(cause)),
        )
    if isinstance(cause, OSError):
        # Several addresses that each failed differently (IPv6 and IPv4 of "localhost"), or
        # an error without a class of its own: quote it.
        return CheckResult(
            Problem.CONNECT_FAILED,
            f"Could not connect to {where}",
            "The connection could not be opened. Check the host name and the port, and that "
            "this computer is online." + _port_hint(account),
            detail=_said(cause.strerror or str(cause)),
        )
    if isinstance(exc, ImapDisconnected):
        return CheckResult(
            Problem.CONNECTION_CLOSED,
            f"{where} closed the connection",
            "The server hung up before it was ready for a login. It may be refusing this "
            "address or be shutting down; the port may also belong to another service."
            + _port_hint(account),
            server_said=_said(exc.reason),
        )
    return CheckResult(Problem.OTHER, f"Could not connect to {where}", _said(str(exc)) + ".")


async def _certificate_failure(
    account: AccountConfig, cause: ssl.SSLCertVerificationError, step_limit: float
) -> CheckResult:
    fingerprint = await _seen_fingerprint(account, step_limit)
    seen = (
        "The fingerprint of the certificate mailtui saw is below."
        if fingerprint
        else "mailtui could not read the certificate again to show its fingerprint."
    )
    trust = (
        " If you trust this server, give the CA file that signed its certificate (CA file), "
        "or pin the certificate's SHA-256 fingerprint. Before pinning, compare the fingerprint "
        "with the one your provider publishes: someone between you and the server would show "
        "a different one. " + seen
    )
    detail = _said(cause.verify_message or cause.reason or str(cause))
    if cause.verify_code in _X509_NAME_MISMATCHES:
        return CheckResult(
            Problem.CERTIFICATE_NAME_MISMATCH,
            "The server's certificate is for another name",
            f"The certificate is not valid for {_said(account.imap_host)}. Use the host name "
            "your provider documents (the certificate names it)." + trust,
            fingerprint=fingerprint,
            detail=detail,
        )
    if cause.verify_code in (_X509_EXPIRED, _X509_NOT_YET_VALID):
        return CheckResult(
            Problem.CERTIFICATE_EXPIRED,
            "The server's certificate is out of its validity dates",
            "It has expired or is not valid yet. Check this computer's date and time; if they "
            "are right, the server's administrator must renew the certificate." + trust,
            fingerprint=fingerprint,
            detail=detail,
        )
    return CheckResult(
        Problem.UNTRUSTED_CERTIFICATE,
        "The server's certificate is not trusted",
        "The server's certificate is not signed by an authority this computer trusts (it may "
        "be self-signed, or signed by a private CA)." + trust,
        fingerprint=fingerprint,
        detail=detail,
    )


async def _security_failure(
    account: AccountConfig, exc: ImapSecurityError, step_limit: float
) -> CheckResult:
    """A TLS set-up failure that is not an OpenSSL error: a pin or STARTTLS."""
    if account.fingerprint:
        der = await _seen_certificate(account, step_limit)
        if der is not None and hashlib.sha256(der).hexdigest() != account.fingerprint:
            return CheckResult(
                Problem.FINGERPRINT_MISMATCH,
                "The server's certificate is not the pinned one",
                "The certificate's fingerprint differs from the fingerprint in the settings. "
                "Servers renew certificates, but someone between you and the server would also "
                "show a different one: compare it with the one your provider publishes before "
                "pinning the new one.",
                fingerprint=format_fingerprint(der),
            )
    if account.imap_security == "starttls":
        offered = await _offers_starttls(account, step_limit)
        if offered is False:
            return CheckResult(
                Problem.STARTTLS_MISSING,
                f"{_where(account)} does not offer STARTTLS",
                "The server cannot switch this connection to TLS, and mailtui will not send a "
                "password in clear text. Try security tls on port 993.",
                detail=_said(str(exc)),
            )
    return CheckResult(
        Problem.TLS_HANDSHAKE,
        "A secure connection could not be set up",
        "The server did not let mailtui set up TLS as asked." + _port_hint(account),
        detail=_said(str(exc)),
    )


def _unverified_context() -> ssl.SSLContext:
    # Only to *read* the certificate for display after verification failed; no secret and no
    # command ever goes over a connection made with it.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _seen_fingerprint(account: AccountConfig, step_limit: float) -> str | None:
    """Connect again without verification; return the shown certificate's fingerprint or None."""
    der = await _seen_certificate(account, step_limit)
    return format_fingerprint(der) if der is not None else None


async def _seen_certificate(account: AccountConfig, step_limit: float) -> bytes | None:
    """Connect again without verification and return the certificate (DER) shown, or None.

    For STARTTLS this speaks the few lines of IMAP that precede the handshake (RFC 3501 §6.2.1).
    """
    host, port = account.imap_host, account.imap_port
    context = _unverified_context()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(step_limit):
            if account.imap_security == "tls":
                _, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host
                )
            else:
                reader, writer = await asyncio.open_connection(host, port)
                await reader.readline()  # the greeting
                writer.write(b"F STARTTLS\r\n")
                line = b""
                while not line.startswith(b"F "):
                    line = await reader.readline()
                    if not line:
                        return None
                if not line.upper().startswith(b"F OK"):
                    return None
                await writer.start_tls(context, server_hostname=host)
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
    return der or None


async def _offers_starttls(account: AccountConfig, step_limit: float) -> bool | None:
    """Whether the server lists STARTTLS before login (None: could not tell)."""
    try:
        client = await ImapClient.connect(
            account.imap_host, account.imap_port, security="none", timeout=step_limit
        )
    except ImapError:
        return None
    try:
        return "STARTTLS" in client.capabilities
    finally:
        await client.close()
