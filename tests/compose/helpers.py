"""Shared bits for the compose tests: an account and raw originals."""

from __future__ import annotations

from typing import Any

from sync.config import AccountConfig, PasswordSource, Secret

ME = "me@example.org"


def account(**changes: Any) -> AccountConfig:
    """An account for me@example.org (display name with non-ASCII)."""
    values: dict[str, Any] = {
        "name": "test",
        "email": ME,
        "display_name": "Zoë Me",
        "imap_host": "127.0.0.1",
        "imap_port": 143,
        "imap_security": "none",
        "username": ME,
        "password_source": PasswordSource("password", account="test", secret=Secret("x")),
        "ca_file": None,
        "fingerprint": None,
        "smtp_host": "127.0.0.1",
        "smtp_port": 25,
        "smtp_security": "none",
        "smtp_username": ME,
        "allow_insecure": False,
        "archive_folder": None,
        "save_sent": True,
    }
    values.update(changes)
    return AccountConfig(**values)


def raw_message(headers: dict[str, str], body: str = "Hello.\n", **extra: str) -> bytes:
    """A raw message with the given headers (in order), 8-bit UTF-8 allowed, CRLF."""
    fields = {
        "Date": "Mon, 02 Mar 2026 14:05:00 +0100",
        "Message-ID": "<orig@example.com>",
        **headers,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        **extra,
    }
    head = "".join(f"{name}: {value}\n" for name, value in fields.items() if value)
    return (head + "\n" + body).replace("\n", "\r\n").encode("utf-8")
