"""The widget side of hostile content: every mail- or server-supplied string reaches a widget here.

`clean` runs ``sync.clean.clean_text`` and brands the result as `Clean`; `as_text` and
`as_content` accept only `Clean` values, so mypy rejects a raw subject handed straight to a
widget. The result is always plain `rich.text.Text` / `textual.content.Content`, never markup:
Textual parses a plain ``str`` given to Static, Label, Tree or OptionList as markup, where
``[@click=app.quit]`` runs an action and a lone ``[/]`` raises.
"""

from __future__ import annotations

from typing import NewType

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.content import Content

from sync.clean import clean_text

__all__ = ["Clean", "as_content", "as_text", "clean", "fit_cells", "mail_content", "mail_text"]

Clean = NewType("Clean", str)
"""A string that has been through ``sync.clean.clean_text``."""

# A list row or header never needs more; a 10 KB subject would only cost render time.
DEFAULT_MAX_LENGTH = 1000


def clean(
    value: str | None, *, single_line: bool = True, max_length: int | None = DEFAULT_MAX_LENGTH
) -> Clean:
    """Clean a mail- or server-supplied string for display (``None`` becomes ``""``)."""
    if not value:
        return Clean("")
    return Clean(clean_text(value, single_line=single_line, max_length=max_length))


def as_text(value: Clean, style: str | Style = "", *, wrap: bool = False) -> Text:
    """Wrap a cleaned string as plain `Text` (no markup, no emoji codes)."""
    return Text(value, style=style, no_wrap=not wrap, end="")


def as_content(value: Clean) -> Content:
    """Wrap a cleaned string as plain `Content` (no markup)."""
    return Content(value)


def mail_text(
    value: str | None,
    style: str | Style = "",
    *,
    single_line: bool = True,
    max_length: int | None = DEFAULT_MAX_LENGTH,
) -> Text:
    """Clean ``value`` and return it as plain `Text`: the one way a mail string becomes `Text`."""
    return as_text(clean(value, single_line=single_line, max_length=max_length), style)


def mail_content(
    value: str | None, *, single_line: bool = True, max_length: int | None = DEFAULT_MAX_LENGTH
) -> Content:
    """Clean ``value`` and return it as plain `Content`."""
    return as_content(clean(value, single_line=single_line, max_length=max_length))


def fit_cells(value: Clean, width: int) -> str:
    """Pad or cut a cleaned single-line string to exactly ``width`` terminal cells.

    Cuts are marked with an ellipsis; double-width characters are never split in half
    (``set_cell_size`` pads with a space instead).
    """
    if width <= 0:
        return ""
    if value.isascii():
        # Fast path for the common case: one cell per character.
        if len(value) <= width:
            return value.ljust(width)
        return value[: width - 1] + "…"
    if cell_len(value) <= width:
        return set_cell_size(value, width)
    return set_cell_size(value, width - 1) + "…"
