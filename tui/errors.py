"""Errors in words: what the interface shows the user when something failed."""

from __future__ import annotations

__all__ = ["describe_error"]


def describe_error(error: BaseException) -> str:
    """An exception in words for the user: its message, else its type's name."""
    if isinstance(error, TimeoutError):
        return "no answer in time"
    text = str(error).strip()
    return text or type(error).__name__
