"""Typed errors of the IMAP core: every failure a caller can see is one of these."""

from __future__ import annotations

__all__ = [
    "ImapCommandError",
    "ImapDisconnected",
    "ImapError",
    "ImapParseError",
    "ImapSecurityError",
    "ImapTimeout",
]


class ImapError(Exception):
    """Base class of every error raised by ``sync.imap``."""


class ImapParseError(ImapError):
    """The server sent bytes that do not follow the IMAP grammar (RFC 3501 §9)."""

    def __init__(self, message: str, data: bytes | str = b"") -> None:
        # Only a short prefix of the offending data: enough to debug, never a whole message.
        excerpt = data[:120]
        super().__init__(f"{message}: {excerpt!r}" if data else message)
        self.excerpt = excerpt


class ImapCommandError(ImapError):
    """The server answered a command with NO or BAD (RFC 3501 §7.1)."""

    def __init__(self, command: str, status: str, text: str, code: str | None = None) -> None:
        detail = f" [{code}]" if code else ""
        super().__init__(f"{command} failed: {status}{detail} {text}".rstrip())
        self.command = command
        self.status = status
        self.text = text
        self.code = code


class ImapDisconnected(ImapError):
    """The connection is gone (closed, reset, BYE, or failed); every pending command gets this."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImapTimeout(ImapDisconnected):
    """The server sent nothing for the configured timeout while a command was waiting."""


class ImapSecurityError(ImapError):
    """TLS could not be set up as asked (STARTTLS missing or refused, fingerprint mismatch)."""
