"""Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), both ways.

Printable US-ASCII except ``&`` stands for itself, ``&`` is ``&-``, and everything else is
UTF-16BE in base64 with ``,`` for ``/`` and no padding, between ``&`` and ``-``.
"""

from __future__ import annotations

import binascii

__all__ = ["decode_mailbox", "encode_mailbox"]


def _b64_utf16(run: str) -> str:
    data = run.encode("utf-16-be")
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").replace(b"/", b",").decode()


def encode_mailbox(name: str) -> str:
    """Encode a mailbox name as modified UTF-7 (RFC 3501 §5.1.3)."""
    if name.isascii() and "&" not in name and name.isprintable():
        return name  # the common case: nothing to do
    out: list[str] = []
    pending: list[str] = []
    for char in name:
        if " " <= char <= "~":
            if pending:
                out.append("&" + _b64_utf16("".join(pending)) + "-")
                pending = []
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    if pending:
        out.append("&" + _b64_utf16("".join(pending)) + "-")
    return "".join(out)


def decode_mailbox(name: str | bytes) -> str:
    """Decode a modified UTF-7 mailbox name; a name that is not valid modified UTF-7 is
    returned unchanged (decoded as UTF-8 when given bytes), never raising."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", errors="replace")
    if "&" not in name:
        return name
    out: list[str] = []
    position = 0
    length = len(name)
    while position < length:
        amp = name.find("&", position)
        if amp < 0:
            out.append(name[position:])
            break
        out.append(name[position:amp])
        end = name.find("-", amp + 1)
        if end < 0:
            return name  # unterminated shift: not modified UTF-7
        if end == amp + 1:
            out.append("&")
        else:
            encoded = name[amp + 1 : end].replace(",", "/")
            if "/" in name[amp + 1 : end] or not encoded.isascii():
                return name
            try:
                raw = binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4), strict_mode=True)
                decoded = raw.decode("utf-16-be")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return name
            out.append(decoded)
        position = end + 1
    return "".join(out)
