"""Turning an account's ``PasswordSource`` into the secret, without ever showing the secret.

A ``password_command`` (or ``oauth2_token_command``) runs through the shell, in its own
session so a timeout can kill the whole pipeline; the first line of its stdout is the secret,
as with mbsync's ``PassCmd``. Every secret resolved here is registered with the log redaction
filter. Error messages name the account, the setting, the exit status and the first line of
stderr; never the command's text (it could hold a secret) nor what it printed on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Final

from sync.clean import clean_text
from sync.config import PasswordSource
from sync.logsetup import register_secret

__all__ = ["DEFAULT_TIMEOUT", "CredentialError", "resolve_secret"]

# Long enough to type a GnuPG passphrase into pinentry, short enough not to hang sync forever.
DEFAULT_TIMEOUT: Final = 60.0
_STDERR_SHOWN: Final = 200


class CredentialError(Exception):
    """The secret could not be obtained. The message never contains the secret."""


async def resolve_secret(source: PasswordSource, *, time_limit: float = DEFAULT_TIMEOUT) -> str:
    """Return the secret (password or OAuth2 access token) that ``source`` describes.

    Raises ``CredentialError`` when a command fails, times out or prints nothing, or when the
    keyring has no entry (or the optional ``keyring`` package is missing). ``time_limit``
    bounds a command's run in seconds.
    """
    if source.kind == "password":
        if source.secret is None:
            raise CredentialError(f"account {source.account!r}: no password set")
        secret = source.secret.reveal()
    elif source.kind in ("command", "oauth2_command"):
        if not source.command:
            raise CredentialError(f"account {source.account!r}: no command set")
        secret = await _run_command(source, source.command, time_limit)
    else:
        secret = await _from_keyring(source)
    register_secret(secret)
    return secret


def _setting(source: PasswordSource) -> str:
    return "oauth2_token_command" if source.kind == "oauth2_command" else "password_command"


def _first_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[0] if lines else ""


async def _run_command(source: PasswordSource, command: str, time_limit: float) -> str:
    # The command itself is not quoted: `echo hunter2` would show the secret.
    what = f"account {source.account!r}: {_setting(source)}"
    try:
        process = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills the whole pipeline
        )
    except OSError as exc:
        raise CredentialError(f"{what} could not start: {exc.strerror or exc}") from None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), time_limit)
    except BaseException as exc:  # timeout, or our caller was cancelled: leave no child behind
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if isinstance(exc, TimeoutError):
            raise CredentialError(f"{what} timed out after {time_limit:g} s") from None
        raise

    # The secret is the first line, without its line ending (mbsync's PassCmd convention).
    line, _, _ = stdout.partition(b"\n")
    line = line.removesuffix(b"\r")
    try:
        secret = line.decode("utf-8")
    except UnicodeDecodeError:
        secret = ""
        bad_utf8 = True
    else:
        bad_utf8 = False

    if process.returncode != 0:
        error_line = _first_line(stderr)
        if secret:  # a chatty command may echo the secret on stderr too
            error_line = error_line.replace(secret, "***")
        error_line = clean_text(error_line, max_length=_STDERR_SHOWN)
        detail = f": {error_line}" if error_line else " (nothing on stderr)"
        raise CredentialError(f"{what} failed with exit status {process.returncode}{detail}")
    if bad_utf8:
        raise CredentialError(f"{what} printed a first line that is not UTF-8")
    if not secret:
        raise CredentialError(f"{what} printed nothing on its first line of output")
    return secret


async def _from_keyring(source: PasswordSource) -> str:
    service = source.keyring_service or "mailtui"
    user = source.keyring_user or source.account
    what = f"account {source.account!r}: keyring (service {service!r}, user {user!r})"
    try:
        # Imported here, not at the top: keyring is the optional extra ``mailtui[keyring]``,
        # and importing it loads its back ends (D-Bus and more), which no other path needs.
        import keyring
    except ImportError:
        raise CredentialError(
            f"{what}: keyring = true needs the optional 'keyring' package "
            "(pip install 'mailtui[keyring]')"
        ) from None
    try:
        # Keyring back ends block (D-Bus, a GUI prompt): keep them off the event loop.
        secret = await asyncio.to_thread(keyring.get_password, service, user)
    except Exception as exc:
        raise CredentialError(f"{what}: the keyring failed: {type(exc).__name__}") from None
    if not secret:
        raise CredentialError(
            f"{what}: no password stored; store one with: keyring set {service} {user}"
        )
    return str(secret)
