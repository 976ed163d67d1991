"""Errors in words: what the interface shows the user when something failed."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ReportError", "describe_error"]

ReportError = Callable[[str, BaseException], None]
"""`MailApp.report_error`, as the screens and controllers get it: the log gets the
traceback, the user a sentence."""


def describe_error(error: BaseException) -> str:
    """An exception in words for the user: its message, else its type's name."""
    if isinstance(error, TimeoutError):
        return "no answer in time"
    text = str(error).strip()
    return text or type(error).__name__
