"""The one cleaning function for every server- or mail-supplied string that reaches a screen.

Rich/Textual strip only BEL, BS, VT, FF and CR; ESC, C1 controls (U+009B is a one-byte CSI),
NUL, DEL and bidi overrides would reach the terminal verbatim, so a subject could retitle the
window, clear the screen or reorder what the user reads. Markup is not handled here: widgets
receive the cleaned text as plain content (``Content``/``Text``/``markup=False``).
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

# C0 controls except TAB/LF, DEL, C1 controls; bidi embeddings/overrides/isolates and marks;
# zero-width and invisible formatting characters; the BOM; interlinear annotations; tag
# characters (invisible "ASCII smuggling" plane).
_INVISIBLE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f"
)
_STRIP_MULTILINE = re.compile(f"[{_INVISIBLE}]")
_STRIP_ONE_LINE = re.compile(f"[{_INVISIBLE}]|[\t\n\u2028\u2029\x85]+")
_SPACES = re.compile(r"  +")
# Lone surrogates (from surrogateescape-decoded bytes) cannot be encoded for the terminal.
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(value: str, *, single_line: bool = True, max_length: int | None = None) -> str:
    """Return ``value`` safe to show: controls, bidi overrides and invisible characters removed.

    With ``single_line`` (list rows, headers), tabs and line breaks become single spaces and
    runs of spaces fold to one; otherwise newlines and tabs are kept (message bodies) and a
    CR LF pair becomes LF. ``max_length`` cuts the result, marking the cut with an ellipsis.
    """
    if single_line:
        text = _STRIP_ONE_LINE.sub(
            lambda m: " " if m.group()[0] in "\t\n\u2028\u2029\x85" else "", value
        )
        text = _SPACES.sub(" ", text).strip()
    else:
        text = _STRIP_MULTILINE.sub("", value.replace("\r\n", "\n"))
    text = _SURROGATES.sub("\ufffd", text)
    if max_length is not None and len(text) > max_length:
        text = text[: max(max_length - 1, 0)] + "…"
    return text
