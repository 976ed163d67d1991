"""Bytes to text for mail: charset labels, 8-bit header bytes and RFC 2047 encoded-words.

Mail labels lie: "iso-8859-1" text written by Windows holds cp1252 quotes, "gb2312" holds GBK
characters, "us-ascii" holds UTF-8. So labels are widened to the superset that mail software
actually writes (the WHATWG Encoding Standard does the same), strict UTF-8 is tried first for
ASCII-compatible labels, then the label, then detection (charset-normalizer), and only then
replacement characters. Nothing here raises on any input.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re

__all__ = [
    "decode_encoded_words",
    "decode_header_bytes",
    "decode_text",
    "lenient_b64decode",
    "lenient_qp_decode",
    "lookup_charset",
]

# Canonical Python codec name -> the superset to decode with (WHATWG Encoding Standard, §4.2).
_SUPERSETS: dict[str, str] = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}

# Labels seen in mail that Python does not know under that spelling.
_ALIASES: dict[str, str] = {
    "x-sjis": "cp932",
    "x-euc-jp": "euc_jp",
    "x-gbk": "gb18030",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-8": "utf-8",
    "utf8mb4": "utf-8",
    "x-unicode20utf8": "utf-8",
    "ks_c_5601": "cp949",
    "ansi_x3.4-1968": "cp1252",
    "windows-874": "cp874",
}

# Text codecs Python has that are not mail charsets: they would interpret backslash escapes or
# domain-name syntax in the body, so a label naming them is treated as unknown.
_REFUSED = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)

_ASCII_PROBE = bytes(range(0x80))


def _normalize_label(label: str) -> str:
    return label.strip().strip("\"'").strip().lower()


def _codec_name(label: str | None) -> str | None:
    """The canonical Python codec for ``label`` as written, or None (unknown or refused)."""
    if not label:
        return None
    # RFC 2231 §5 allows a language suffix on the charset: "utf-8*en".
    name = _normalize_label(label).split("*", 1)[0]
    if not name or len(name) > 64:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return info.name


@functools.lru_cache(maxsize=256)
def lookup_charset(label: str | None) -> str | None:
    """Return the Python codec to decode text labelled ``label`` with, or None when unknown.

    The label is widened to its superset (latin-1 and us-ascii to cp1252, gb2312 to gb18030,
    shift_jis to cp932, ks_c_5601 to cp949, big5 to big5hkscs); labels naming a bytes codec
    (zlib, base64...) or an escape codec are unknown.
    """
    canonical = _codec_name(label)
    if canonical is None:
        return None
    return _SUPERSETS.get(canonical, canonical)


@functools.lru_cache(maxsize=64)
def _ascii_compatible(codec: str) -> bool:
    """Whether ``codec`` decodes every 7-bit byte as itself (false for UTF-16, UTF-7, ISO-2022)."""
    if codec.startswith("iso2022"):
        return False  # stateful: ESC sequences switch character sets (RFC 1468)
    try:
        return _ASCII_PROBE.decode(codec) == _ASCII_PROBE.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        return False


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


# Detection looks at a bounded sample: it is slow on big inputs and a sample decides as well.
_DETECT_SAMPLE = 64 * 1024
_ISO2022_JP_SHIFT = re.compile(rb"\x1b\$[@B]")


# Candidate charsets for detection, in the order a tie is broken: charset-normalizer has
# little to go on in a short mail and rates many single-byte code pages as equally good, so
# the charsets mail most often comes in win ties.
_DETECT_ORDER = (
    "cp1252", "cp1251", "koi8_r", "cp1250", "iso8859_15", "gb18030", "cp932", "euc_jp",
    "cp949", "big5hkscs", "cp1253", "cp1254", "cp1257", "cp1255", "cp1256", "cp874",
    "koi8_u", "iso8859_2", "mac_roman",
)  # fmt: skip
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_DETECT_RANK = {name: rank for rank, name in enumerate(_DETECT_ORDER)}
# A word whose case goes from lower to upper ("пРИВЕТ") betrays a wrong Cyrillic code page.
_MIXED_CASE_WORD = re.compile(r"[^\W\d_]*?[^\W\d_](?<=[a-zа-яё])[A-ZА-ЯЁ]")


def _detect(data: bytes) -> str | None:
    # Imported here so importing the package stays cheap (the IMAP parser imports charsets).
    from charset_normalizer import from_bytes

    sample = data[:_DETECT_SAMPLE]
    if len(_NON_ASCII.findall(sample[:4096])) < 8:
        # A few 8-bit bytes give detection nothing to go on: the most common case wins.
        return "cp1252" if _strict(sample, "cp1252") is not None else None
    try:
        results = list(from_bytes(sample, cp_isolation=list(_DETECT_ORDER)))
    except Exception:  # a detector bug must not stop a message from showing
        return None
    if not results:
        return None
    best_chaos = min(result.chaos for result in results)
    tied = [result.encoding for result in results if result.chaos <= best_chaos + 0.02]

    def plausibility(encoding: str) -> tuple[int, int]:
        text = sample.decode(encoding, errors="replace")
        return (len(_MIXED_CASE_WORD.findall(text)), _DETECT_RANK.get(encoding, 99))

    return lookup_charset(min(tied, key=plausibility))


def decode_text(data: bytes, label: str | None) -> str:
    """Decode a body (or other text) labelled ``label``; never raises.

    Order: a non-ASCII-compatible label (UTF-16, ISO-2022-JP, UTF-7) strictly; strict UTF-8
    (covers the many mislabelled UTF-8 messages); the label widened to its superset; the label
    as written (latin-1 bytes cp1252 leaves undefined); detection; then replacement characters.
    """
    if not data:
        return ""
    codec = lookup_charset(label)
    if codec is not None and not _ascii_compatible(codec):
        text = _strict(data, codec)
        if text is not None:
            return text
    text = _strict(data, "utf-8")
    if text is not None:
        if codec is None and _ISO2022_JP_SHIFT.search(data) is not None:
            # Unlabelled 7-bit Japanese (RFC 1468): ASCII plus ESC sequences.
            return _strict(data, "iso2022_jp_ext") or text
        return text
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            return text
        original = _codec_name(label)
        if original is not None and original != codec:
            text = _strict(data, original)
            if text is not None:
                return text
    detected = _detect(data)
    if detected is not None:
        return data.decode(detected, errors="replace")
    return data.decode(codec or "cp1252", errors="replace")


def decode_header_bytes(data: bytes, fallback_label: str | None = None) -> str:
    """Decode raw 8-bit header bytes (RFC 6532 allows UTF-8; older software writes anything).

    UTF-8 strictly, then ``fallback_label`` (the message's charset) widened to its superset,
    then cp1252 with replacement characters; never ``\\udcxx`` surrogates, never raises.
    RFC 2047 encoded-words are left as they are: see :func:`decode_encoded_words`.
    """
    if not data:
        return ""
    text = _strict(data, "utf-8")
    if text is not None:
        return text
    codec = lookup_charset(fallback_label)
    if codec is not None and _ascii_compatible(codec):
        text = _strict(data, codec)
        if text is not None:
            return text
    return data.decode("cp1252", errors="replace")


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def lenient_b64decode(data: bytes) -> bytes:
    """Decode base64 that may be broken: junk characters skipped, padding repaired, never raises.

    Data after a padding ``=`` that ends a quantum is decoded as well (some encoders
    concatenate separately padded chunks), like most mail readers do.
    """
    chunks: list[bytes] = []
    for piece in re.split(rb"=+", data):
        clean = _B64_JUNK.sub(b"", piece)
        if len(clean) % 4 == 1:
            clean = clean[:-1]  # one dangling character carries no whole byte
        if not clean:
            continue
        clean += b"=" * (-len(clean) % 4)
        try:
            chunks.append(binascii.a2b_base64(clean))
        except binascii.Error:
            continue
    return b"".join(chunks)


# RFC 2045 §6.7 (rule 3): whitespace a transport added between "=" and the line break.
_QP_PADDED_SOFT_BREAK = re.compile(rb"=[ \t]+(?=\r?\n)")


def lenient_qp_decode(data: bytes, *, header: bool = False) -> bytes:
    """Decode quoted-printable (RFC 2045 §6.7) leniently: a bad ``=`` sequence stays literal.

    With ``header`` it is the RFC 2047 §4.2 "Q" encoding, where ``_`` stands for a space.
    """
    if b"=" in data:
        data = _QP_PADDED_SOFT_BREAK.sub(b"=", data)
    # binascii's decoder (C) keeps malformed escapes as written and never raises.
    return binascii.a2b_qp(data, header=header)


# RFC 2047 §2: =?charset?encoding?encoded-text?= (the charset may carry an RFC 2231 language).
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?]*?)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*")


def decode_encoded_words(value: str, fallback_label: str | None = None) -> str:
    """Decode the RFC 2047 encoded-words in a header value; never raises.

    Whitespace between adjacent encoded-words is dropped (§6.2). Adjacent words in the same
    charset are joined as bytes before decoding, because senders split multi-byte characters
    across words. Bad base64 or Q text decodes as well as it can; unknown charsets are
    detected. ``fallback_label`` is used where the charset is unknown and detection fails.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()  # decoded bytes of the current run of same-charset words
    pending_b64 = bytearray()  # base64 text not yet decoded: senders split quanta across words
    pending_charset: str | None = None
    position = 0

    def settle_b64() -> None:
        nonlocal pending_b64
        if pending_b64:
            pending.extend(lenient_b64decode(bytes(pending_b64)))
            pending_b64 = bytearray()

    def flush() -> None:
        nonlocal pending, pending_charset
        settle_b64()
        if pending_charset is not None:
            out.append(_decode_word_bytes(bytes(pending), pending_charset, fallback_label))
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if pending_charset is None or not _ONLY_SPACE.fullmatch(between):
            flush()
            out.append(between)
        charset, encoding, text = match.groups()
        charset_key = charset.lower().split("*", 1)[0]
        if pending_charset is not None and charset_key != pending_charset:
            flush()
        pending_charset = charset_key
        raw = text.encode("ascii", errors="replace")
        if encoding in "bB":
            pending_b64.extend(raw)
        else:
            settle_b64()
            pending.extend(lenient_qp_decode(raw, header=True))
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def _decode_word_bytes(data: bytes, charset: str, fallback_label: str | None) -> str:
    if lookup_charset(charset) is None and fallback_label is not None:
        charset = fallback_label
    return decode_text(data, charset)
