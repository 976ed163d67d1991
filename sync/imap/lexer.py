"""The pure lexer: bytes from the wire to complete responses, and responses to value trees.

Two stages, neither doing I/O:

- :class:`ResponseAssembler` cuts the byte stream into whole responses: a line, and when
  the line ends with a literal marker ``{n}``/``{n+}``/``~{n}`` (RFC 3501 §4.3, RFC 3516
  §4.2) exactly ``n`` bytes, then more line, until a line ends without a marker. Each byte is
  scanned once, so any response (100k FETCH lines, a 1 GB literal) takes linear time.
- :func:`tokenize` turns a response's text into nested Python values with one compiled
  regular expression run over the whole text: parenthesised lists become ``list``, quoted
  strings and atoms ``str``, ``NIL`` ``None``, literals ``bytes``.

``str`` is always clean text; ``bytes`` are octets whose charset the caller must decide
(literals, and non-UTF-8 8-bit bytes in quoted strings).
"""

from __future__ import annotations

import re
from typing import NamedTuple, TypeAlias

from sync.imap.errors import ImapParseError

__all__ = [
    "RawResponse",
    "ResponseAssembler",
    "Value",
    "decode_text",
    "tokenize",
]

Value: TypeAlias = "str | bytes | list[Value] | None"

# A response line longer than this without CRLF is not IMAP: stop before eating all memory.
MAX_LINE = 64 * 1024 * 1024


class RawResponse(NamedTuple):
    """One complete response: its text (lines with CRLF, literal markers kept, literal bodies
    cut out) and the literal bodies in order."""

    text: bytes
    literals: list[bytes]


class ResponseAssembler:
    """Feed it bytes as they arrive; it returns each response as soon as it is complete."""

    __slots__ = ("_buffer", "_literals", "_need", "_parts", "_scan", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._scan = 0  # where the search for CRLF resumes: no byte is scanned twice
        self._need = -1  # bytes still owed to the current literal; -1 when reading a line
        self._parts: list[bytes] = []
        self._literals: list[bytes] = []
        self.max_line = max_line

    @property
    def pending(self) -> int:
        """How many bytes are buffered that belong to no complete response yet."""
        return len(self._buffer) + sum(map(len, self._parts)) + sum(map(len, self._literals))

    def feed(self, data: bytes) -> list[RawResponse]:
        """Add received bytes; return the responses they complete (possibly none)."""
        buffer = self._buffer
        buffer += data
        out: list[RawResponse] = []
        # State in locals while looping (a big FETCH completes thousands of responses per
        # read); written back below.
        position = 0
        end = len(buffer)
        need = self._need
        scan = self._scan
        parts = self._parts
        literals = self._literals
        find = buffer.find
        rfind = buffer.rfind
        while True:
            if need >= 0:
                if end - position < need:
                    break
                stop = position + need
                literals.append(bytes(buffer[position:stop]))
                position = scan = stop
                need = -1
                continue
            if position >= end:
                break
            newline = find(b"\r\n", scan if scan > position else position, end)
            if newline < 0:
                scan = max(end - 1, position)
                if end - position > self.max_line:
                    self._need, self._scan, self._parts, self._literals = (
                        need,
                        scan,
                        parts,
                        literals,
                    )
                    raise ImapParseError("response line too long", bytes(buffer[position:]))
                break
            line_end = newline + 2
            # Most lines end a response: only a "}" before CRLF can announce a literal.
            size = -1
            if newline > position and buffer[newline - 1] == 0x7D:
                # The usual "{n}" marker, read in place; anything else the exact way.
                opening = rfind(b"{", position, newline)
                digits = buffer[opening + 1 : newline - 1] if opening >= 0 else b""
                if 0 < len(digits) <= 12 and digits.isdigit():
                    size = int(digits)
                else:
                    size = _literal_size(buffer, position, newline)
            if size < 0 and not parts:  # a one-line response: the common case
                out.append(RawResponse(bytes(buffer[position:line_end]), []))
                position = scan = line_end
                continue
            parts.append(bytes(buffer[position:line_end]))
            position = scan = line_end
            if size >= 0:
                need = size
                continue
            out.append(RawResponse(b"".join(parts), literals))
            parts = []
            literals = []
        self._need = need
        self._parts = parts
        self._literals = literals
        if position:
            del buffer[:position]
            scan -= position
        self._scan = scan
        return out


def _literal_size(buffer: bytearray, start: int, newline: int) -> int:
    """The size of the literal announced at the end of ``buffer[start:newline]``, or -1."""
    if newline <= start or buffer[newline - 1] != 0x7D:  # "}"
        return -1
    opening = buffer.rfind(b"{", start, newline)
    if opening < 0:
        return -1
    digits = bytes(buffer[opening + 1 : newline - 1])
    if digits.endswith(b"+"):  # LITERAL+ (RFC 7888) markers, normally only client-to-server
        digits = digits[:-1]
    if not digits.isdigit() or len(digits) > 12:
        return -1
    return int(digits)


# One pass over the whole response. Order matters: literal markers before atoms, and a
# catch-all last so that no character is silently skipped (findall skips unmatched ones:
# only space, CR and LF may be skipped). An atom may carry a section (``BODY[1.MIME]<0>``);
# an astring may also start with "[" (RFC 3501 §9: ASTRING-CHAR = ATOM-CHAR / "]", and "["
# is an ATOM-CHAR): Dovecot lists ``[Gmail]/Starred`` unquoted. Response codes ``[...]``
# never reach here (the parser reads resp-text itself).
_TOKEN = re.compile(
    r"""
      [()]
    | "[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*"
    | ~?\{\d+\+?\}\r\n
    | [^\x00-\x20()"{\[\x7f]+(?:\[[^\]\r\n]*\](?:<\d+>)?)?
    | \[[^\x00-\x20()"{\x7f]*
    | [^ \r\n]
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")
_BAD_SINGLE = frozenset('"{[') | {chr(code) for code in range(0x20)} | {"\x7f"}


def decode_text(raw: bytes) -> tuple[str, bool]:
    """Decode a response's text. Returns the text and whether it held bytes that are not
    UTF-8: then it is decoded as Latin-1 (byte for byte) and :func:`tokenize` must be told."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def tokenize(
    text: str, literals: list[bytes] | None = None, position: int = 0, *, raw8: bool = False
) -> list[Value]:
    """Turn ``text[position:]`` into a list of values (see the module docstring).

    ``raw8`` says the text was decoded as Latin-1 because it held non-UTF-8 bytes; quoted
    strings holding such bytes are then returned as ``bytes``. Raises :class:`ImapParseError`
    on anything that is not IMAP syntax: unbalanced parentheses, unterminated quotes, stray
    brackets or control characters, literal markers that do not match the literals.
    """
    literals = literals or []
    root: list[Value] = []
    current = root
    stack: list[list[Value]] = []
    literal_index = 0
    try:
        for token in _TOKEN.findall(text, position):
            first = token[0]
            if first == "(":
                child: list[Value] = []
                current.append(child)
                stack.append(current)
                current = child
            elif first == ")":
                current = stack.pop()
            elif first == '"':
                if len(token) < 2:
                    raise ImapParseError("unterminated quoted string", text[position:])
                value = token[1:-1]
                if "\\" in value:
                    value = _ESCAPE.sub(r"\1", value)
                if raw8 and not value.isascii():
                    current.append(value.encode("latin-1"))
                else:
                    current.append(value)
            elif len(token) > 3 and token[-1] == "\n" and (first == "{" or first == "~"):
                literal = literals[literal_index]
                literal_index += 1
                size = token[2:-3] if first == "~" else token[1:-3]
                if int(size.rstrip("+")) != len(literal):
                    raise ImapParseError("literal size does not match", token)
                current.append(literal)
            elif token == "NIL":
                current.append(None)
            elif len(token) == 1 and token in _BAD_SINGLE:
                raise ImapParseError(f"unexpected {token!r}", text[position:])
            else:
                current.append(token)
    except IndexError:
        raise ImapParseError("unbalanced ')' or missing literal", text[position:]) from None
    if stack:
        raise ImapParseError("unbalanced '('", text[position:])
    if literal_index != len(literals):
        raise ImapParseError("literal without marker", text[position:])
    return root
