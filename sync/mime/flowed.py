"""Plain-text bodies: RFC 3676 format=flowed joining and per-line quote levels.

Lines come back as ``(quote_level, text)`` so the reader can colour quotes. Wrapping long
lines is the UI's job: nothing here breaks a line.
"""

from __future__ import annotations

import re

__all__ = ["quote_level", "quoted_lines", "unflow"]

# Plain (fixed) text: ">" markers, possibly separated or preceded by spaces ("> > text").
_PLAIN_QUOTE = re.compile(r"[ \t]*(?:>[ \t]*)+")
# RFC 3676 §4.5: in flowed text the quote indicator is a run of ">" at the very start.
_FLOWED_QUOTE = re.compile(r">+")
# RFC 3676 §4.3: the signature separator is fixed even though it ends with a space.
_SIGNATURE_SEPARATOR = "-- "


def quote_level(line: str) -> int:
    """Return how deeply a plain-text line is quoted: the number of leading ``>`` markers."""
    if ">" not in line[:200]:
        return 0
    match = _PLAIN_QUOTE.match(line)
    return match.group().count(">") if match else 0


def quoted_lines(text: str) -> list[tuple[int, str]]:
    """Split a fixed (not flowed) body into ``(quote_level, line)``; the line keeps its markers."""
    return [(quote_level(line), line) for line in text.split("\n")]


def unflow(text: str, *, delsp: bool = False) -> list[tuple[int, str]]:
    """Join the soft-broken lines of a format=flowed body (RFC 3676 §4).

    Returns ``(quote_level, line)``, one entry per joined paragraph; a quoted paragraph is
    given back its markers as ``">" * depth + " " + text`` (space-stuffing removed) so it
    reads as the sender wrote it. ``delsp`` is the DelSp=yes parameter (§4.2): the space
    ending a flowed line is deleted when lines are joined.
    """
    out: list[tuple[int, str]] = []
    paragraph: list[str] = []
    paragraph_depth = 0

    def finish() -> None:
        if paragraph:
            out.append((paragraph_depth, _with_markers(paragraph_depth, "".join(paragraph))))
            paragraph.clear()

    for raw_line in text.split("\n"):
        line = raw_line.removesuffix("\r")
        match = _FLOWED_QUOTE.match(line)
        depth = len(match.group()) if match else 0
        content = line[depth:]
        # §4.4: one leading space is stuffing (added so that ">", "From " or " " survive).
        if content.startswith(" "):
            content = content[1:]
        # §4.5: a change of quote depth ends a paragraph even after a flowed line.
        if paragraph and depth != paragraph_depth:
            finish()
        flowed = content.endswith(" ") and content != _SIGNATURE_SEPARATOR
        if flowed and delsp:
            content = content[:-1]
        paragraph_depth = depth
        paragraph.append(content)
        if not flowed:
            finish()
    finish()
    return out


def _with_markers(depth: int, content: str) -> str:
    if depth == 0:
        return content
    return ">" * depth + (" " + content if content else "")
