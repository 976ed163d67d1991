"""Logging for the TUI and headless sync: a rotating file log that never holds a credential.

Every handler installed here carries ``RedactingFilter``: it replaces each secret registered
with ``register_secret`` (``sync.credentials`` registers every secret it resolves) and known
credential shapes (IMAP LOGIN/AUTHENTICATE arguments, SMTP AUTH, ``password=...``, bearer
tokens) with ``***`` in the message, the traceback and the stack text of every record.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from io import TextIOWrapper
from pathlib import Path
from typing import Final, cast

__all__ = [
    "LOG_FILENAME",
    "RedactingFilter",
    "configure_logging",
    "redact",
    "register_secret",
]

LOG_FILENAME: Final = "mailtui.log"
_MAX_BYTES: Final = 2 * 1024 * 1024
_BACKUPS: Final = 3
_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Our own loggers are named after their modules: sync.* and tui.*.
_OWN_LOGGERS: Final = ("sync", "tui")
_MASK: Final = "***"

# Credential shapes that may show up in a protocol trace even before a secret is registered.
_PATTERNS: Final = (
    # IMAP LOGIN user password (RFC 9051 §6.2.3): quoted, literal or atom password.
    re.compile(r"(?i)(\bLOGIN\s+(?:\"(?:[^\"\\]|\\.)*\"|\S+)\s+)(\"(?:[^\"\\]|\\.)*\"|\S+)"),
    # IMAP AUTHENTICATE mech initial-response (RFC 4959) and SMTP AUTH mech response (RFC 4954).
    re.compile(r"(?i)(\b(?:AUTHENTICATE|AUTH)\s+[A-Z0-9_-]+\s+)(\S+)"),
    # key=value / key: value forms for password-like keys.
    re.compile(
        r"(?i)(\b(?:password|passwd|pass|secret|token|access_token|refresh_token)"
        r"[\"']?\s*[=:]\s*[\"']?)([^\s\"',;]+)"
    ),
    # HTTP-style bearer tokens and the XOAUTH2 "auth=Bearer ..." field (RFC 6750, RFC 7628).
    re.compile(r"(?i)(\bBearer\s+)([A-Za-z0-9._~+/=-]+)"),
)

# Process-wide on purpose: logging itself is process-wide, and a secret resolved anywhere must
# be hidden from every handler.
_secrets: set[str] = set()


def register_secret(secret: str) -> None:
    """Remember ``secret`` so that no log record written through our handlers shows it."""
    if secret:
        _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and credential-shaped values replaced by ``***``."""
    # Longest first, so a secret containing another is hidden whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message, traceback and stack redacted."""

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always let it through."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record, nor raise
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files (also those rotation creates) are owner-only.

    Logs hold mail subjects and addresses; the umask alone would leave them world-readable.
    """

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        # The handler owns the stream and closes it: no context manager here.
        stream = open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: PTH123, SIM115
        return cast(TextIOWrapper, stream)


def configure_logging(
    log_dir: Path, *, verbose: bool, to_stderr: bool, max_bytes: int = _MAX_BYTES
) -> Path:
    """Send mailtui's logs to a rotating file in ``log_dir`` (and stderr); return the file's path.

    ``verbose`` logs our own modules at DEBUG instead of INFO; other libraries log WARNING and
    above. ``to_stderr`` adds a terminal handler (headless commands; never the full-screen TUI).
    Calling it again replaces the handlers it installed before. The file rotates at
    ``max_bytes``, keeping three old files.
    """
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = log_dir / LOG_FILENAME

    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_mailtui", False):
            root.removeHandler(handler)
            handler.close()

    redacting = RedactingFilter()
    file_handler = _PrivateRotatingFileHandler(
        log_file, maxBytes=max_bytes, backupCount=_BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    handlers: list[logging.Handler] = [file_handler]
    if to_stderr:
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(logging.Formatter("mailtui: %(levelname)s: %(message)s"))
        # The terminal gets warnings unless asked for more; the file always has INFO.
        stream_handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
        handlers.append(stream_handler)
    for handler in handlers:
        handler.addFilter(redacting)
        handler._mailtui = True  # type: ignore[attr-defined]  # marks handlers we own
        root.addHandler(handler)

    root.setLevel(logging.WARNING)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)
    return log_file
