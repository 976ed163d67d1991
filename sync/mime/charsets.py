"""Bytes to text for mail: charset labels, 8-bit header bytes and RFC 2047 encoded-words.

Mail labels lie: "iso-8859-1" text written by Windows holds cp1252 quotes, "gb2312" holds GBK
characters, "us-ascii" holds UTF-8. So labels are widened to the superset that mail software
actually writes (the WHATWG Encoding Standard does the same), strict UTF-8 is tried first for
ASCII-compatible labels, then the label, then detection, and only then replacement
characters. Detection is charset-normalizer's, with its near ties settled by how plausibly each
candidate reads (Hebrew read as Cyrillic, Turkish as Czech: see `_judge`) and by the charsets
the message names elsewhere (`charset_hints`). Nothing here raises on any input.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "charset_hints",
    "decode_encoded_words",
    "decode_header_bytes",
    "decode_text",
    "first_charset_label",
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
    "cp949", "big5hkscs", "cp1253", "cp1254", "cp1257", "cp1255", "cp1256", "iso8859_6",
    "iso8859_8", "cp874", "koi8_u", "iso8859_2", "mac_roman",
)  # fmt: skip
_SINGLE_BYTE = frozenset(_DETECT_ORDER) - {"gb18030", "cp932", "euc_jp", "cp949", "big5hkscs"}
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# The last byte below 0x30 (line breaks, spaces, ASCII punctuation) of a sample.
_SAFE_CUT = re.compile(rb"[\x00-\x2f](?=[^\x00-\x2f]*\Z)")
_DETECT_RANK = {name: rank for rank, name in enumerate(_DETECT_ORDER)}
# Candidates whose chaos (charset-normalizer's "mess") is this close to the best are tied.
_CHAOS_TIE = 0.02
# Plausibility is judged on the beginning of the decoded text: enough to decide, and cheap.
_SCORE_SAMPLE = 8192

# A "word" for plausibility: a run without spaces, ASCII punctuation or digits (CJK text has
# no spaces, so there a word is a whole phrase).
_WORD = re.compile(r"[^\s\x21-\x40\x5b-\x60\x7b-\x7e]+")
# Punctuation that may stand between two letters of one word (d’accord, l·l, Jean‐Pierre).
_INNER_PUNCTUATION = frozenset("\u2019\u2018\u02bc\u00b7\u2010\u2011\u00ad")
_HEBREW_FINALS = frozenset("ךםןףץ")
# Not ΐ and ΰ: rare in Greek, common in Cyrillic read as cp1253 ("κΰκ").
_GREEK_TONOS = frozenset("άέήίόύώΆΈΉΊΌΎΏ")
_CYRILLIC_NEVER_FIRST = frozenset("ъьыЪЬЫ")
_THAI_LEADING_VOWELS = frozenset("เแโใไ")
# The letters beyond ASCII of the languages the Latin code pages serve, lowercase. A right
# decoding uses the letters of one language; a wrong Latin code page mixes letters that no
# one language has together (Turkish in cp1250 reads "katýlýmýnýzý ... baţardýk").
_LATIN_ALPHABETS = (
    "àâæçéèêëîïôœùûüÿ",  # French
    "äöüß",  # German
    "áéíñóúü",  # Spanish
    "àáâãçéêíóôõú",  # Portuguese
    "àèéìíîòóùú",  # Italian
    "åäöæøéáíóúýðþ",  # Nordic and Icelandic
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "áéíóöőúüű",  # Hungarian
    "čćđšž",  # Croatian, Serbian, Slovene, Bosnian
    "ăâîșşțţ",  # Romanian
    "çğıöşüâîû",  # Turkish
    "ąčęėįšųūž",  # Lithuanian
    "āčēģīķļņšūž",  # Latvian
    "äõöüšž",  # Estonian
    "çë",  # Albanian
)


@functools.lru_cache(maxsize=4096)
def _script(char: str) -> str:
    """The script of a letter, from its Unicode name ("LATIN", "CYRILLIC", "CJK"...)."""
    name = unicodedata.name(char, "")
    first = name.partition(" ")[0]
    if first in ("CJK", "HIRAGANA", "KATAKANA", "FULLWIDTH", "IDEOGRAPHIC"):
        return "CJK"  # Japanese and Chinese words mix these freely
    return first


@dataclass(slots=True)
class _Judgement:
    """What the decoded words say about a candidate charset."""

    words: int = 0  # words with a letter beyond ASCII
    violations: int = 0  # things no language writes (see _judge)
    evidence: int = 0  # things a right decoding shows (see _judge)
    latin: dict[str, int] = field(default_factory=dict)  # non-ASCII Latin letters, counted

    def score(self) -> float:
        """Higher is more plausible: fit of the Latin letters to one alphabet, minus the
        violations per word, plus some evidence."""
        if not self.words:
            return 0.0
        coverage = 1.0
        total = sum(self.latin.values())
        if total:
            coverage = (
                max(
                    sum(n for letter, n in self.latin.items() if letter in alphabet)
                    for alphabet in _LATIN_ALPHABETS
                )
                / total
            )
        return (
            coverage - 3.0 * self.violations / self.words + 0.5 * min(self.evidence / self.words, 1)
        )


def _judge(text: str) -> _Judgement:
    """Count what is implausible and what is typical in the words of a decoded text.

    Violations: a symbol between two letters of a word ("zosta³o"), a combining mark that
    follows no letter, letters of two scripts in one word, a lower-case letter followed by
    an upper-case one beyond ASCII ("пРИВЕТ"), a Latin word of three letters or more none of
    them ASCII ("ùìåí": Hebrew read as cp1252), a Hebrew final letter, Greek final sigma or
    Arabic teh marbuta inside a word, a Greek word starting with a dialytika, a Cyrillic
    word starting with ъ, ь or ы. Evidence: a Hebrew word ending in a final letter, a Greek
    word with an accent or a final sigma, an Arabic word starting with the article "ال", a
    Cyrillic word written with a capital, a Latin word mixing ASCII and other letters.
    """
    verdict = _Judgement()
    for match in _WORD.finditer(text):
        word = match.group()
        if word.isascii():
            continue
        letters = [char for char in word if char.isalpha()]
        if not letters or all(char.isascii() for char in letters):
            continue
        verdict.words += 1
        # Edges may hold punctuation (« » ¿ ¡ ، ؟); only what is between letters counts.
        first = next(i for i, char in enumerate(word) if char.isalpha())
        last = max(i for i, char in enumerate(word) if char.isalpha())
        core = word[first : last + 1]
        scripts: set[str] = set()
        previous = ""
        # A combining mark before the first letter belongs to no letter.
        bad = int(any(unicodedata.category(char).startswith("M") for char in word[:first]))
        for char in core:
            if char.isalpha():
                scripts.add(_script(char))
                if previous.islower() and char.isupper() and not (previous + char).isascii():
                    bad += 1
            elif unicodedata.category(char).startswith("M"):
                after_letter = previous.isalpha() or (
                    previous != "" and unicodedata.category(previous).startswith("M")
                )
                # Thai vowel and tone marks follow a consonant, never a leading vowel.
                if not after_letter or previous in _THAI_LEADING_VOWELS:
                    bad += 1
            elif char not in _INNER_PUNCTUATION and _script(char) != "CJK":
                bad += 1  # CJK punctuation (、，？) stands inside the unspaced "words"
            previous = char
        if len(scripts) > 1:
            bad += 1
        script = next(iter(scripts)) if len(scripts) == 1 else ""
        if script == "LATIN":
            for char in letters:
                if not char.isascii():
                    lower = char.lower()
                    verdict.latin[lower] = verdict.latin.get(lower, 0) + 1
            if any(char.isascii() for char in letters):
                verdict.evidence += 1
            elif len(letters) >= 3:
                bad += 1
        elif script == "HEBREW":
            if any(char in _HEBREW_FINALS for char in core[:-1]):
                bad += 1
            elif core[-1] in _HEBREW_FINALS:
                verdict.evidence += 1
        elif script == "GREEK":
            if "ς" in core[:-1] or core[0] in "ϊϋΐΰ":
                bad += 1  # dialytika parts a vowel from the one before: never word-initial
            elif core[-1] == "ς" or _GREEK_TONOS.intersection(core):
                verdict.evidence += 1
        elif script == "ARABIC":
            if "ة" in core[:-1]:
                bad += 1
            elif core.startswith("ال"):
                verdict.evidence += 1
        elif script == "CYRILLIC":
            if core[0] in _CYRILLIC_NEVER_FIRST:
                bad += 1
            elif core[0].isupper() and len(core) > 1 and core[1].islower():
                verdict.evidence += 1
        verdict.violations += min(bad, 1)  # per word: one bad word is one piece of evidence
    return verdict


def _plausibility(data: bytes, codec: str) -> float | None:
    """How plausible ``data`` decoded with ``codec`` reads (None: it does not decode)."""
    for cut in range(4):
        # The sample may end inside a multi-byte character: up to 3 bytes may go.
        text = _strict(data[: len(data) - cut], codec)
        if text is not None:
            return _judge(text[:_SCORE_SAMPLE]).score()
    return None


def _hinted_codecs(hints: Iterable[str]) -> list[str]:
    """The ASCII-compatible codecs the hints name (labels), in order, without repeats."""
    found: list[str] = []
    for hint in hints:
        codec = lookup_charset(hint)
        if (
            codec is not None
            and codec != "utf-8"
            and codec not in found
            and _ascii_compatible(codec)
        ):
            found.append(codec)
    return found


def _detect(data: bytes, hints: Iterable[str] = ()) -> str | None:
    """Guess the charset of ``data`` (not UTF-8); ``hints`` are labels found elsewhere in
    the message (other parts, RFC 2047 words, Content-Language), preferred on a near tie.

    charset-normalizer proposes candidates and rates their "chaos"; among the ones tied on
    chaos, the choice goes to the best sum of the reading's plausibility (`_judge`), the
    language coherence charset-normalizer measured and a bonus for a hinted charset; an
    equal sum goes to the commoner charset (`_DETECT_ORDER`).
    """
    # Imported here so importing the package stays cheap (the IMAP parser imports charsets).
    from charset_normalizer import from_bytes

    sample = data[:_DETECT_SAMPLE]
    if len(data) > _DETECT_SAMPLE:
        # Cut after a space or ASCII punctuation: a sample ending inside a multi-byte
        # character gets no answer from charset-normalizer, and no CJK encoding uses a
        # byte below 0x30 inside a character.
        cut = _SAFE_CUT.search(sample, _DETECT_SAMPLE // 2)
        sample = sample[: cut.end()] if cut is not None else sample
    hinted = _hinted_codecs(hints)
    if len(_NON_ASCII.findall(sample[:4096])) < 8:
        # A few 8-bit bytes give charset-normalizer nothing to go on: the most common case
        # wins, unless it reads as nonsense ("Czeœæ") or a hint reads as well.
        return _few_bytes(sample, hinted)
    try:
        results = list(from_bytes(sample, cp_isolation=list(_DETECT_ORDER) + hinted))
    except Exception:  # a detector bug must not stop a message from showing
        results = []
    if not results:
        return _best_reading(sample, [*hinted, *_DETECT_ORDER], hinted)
    best_chaos = min(result.chaos for result in results)
    tied = {
        result.encoding: result.coherence
        for result in results
        if result.chaos <= best_chaos + _CHAOS_TIE
    }
    for codec in hinted:  # a hint charset-normalizer left out still competes
        tied.setdefault(codec, 0.0)

    def merit(encoding: str) -> tuple[float, int]:
        score = _plausibility(sample, encoding)
        if score is None:
            return (-99.0, 0)
        score += tied[encoding] + (0.3 if encoding in hinted else 0.0)
        return (score, -_DETECT_RANK.get(encoding, 99))

    return lookup_charset(max(tied, key=merit))


def _few_bytes(sample: bytes, hinted: list[str]) -> str | None:
    """Detection for a text with few 8-bit bytes: cp1252 unless another reads better."""
    text = None if hinted else _strict(sample, "cp1252")
    if text is not None:
        verdict = _judge(text[:_SCORE_SAMPLE])
        if not verdict.violations and verdict.score() >= 1.0 - 1e-9:
            return "cp1252"  # reads as a Western language: the common case
    single_byte = (codec for codec in _DETECT_ORDER if codec in _SINGLE_BYTE)
    return _best_reading(sample, [*hinted, *single_byte], hinted)


def _best_reading(sample: bytes, candidates: list[str], hinted: list[str]) -> str | None:
    """The candidate that reads most plausibly (a hint gets a bonus; ties: the first)."""
    scored = []
    for rank, codec in enumerate(dict.fromkeys(candidates)):
        score = _plausibility(sample, codec)
        if score is not None:
            scored.append((score + (0.3 if codec in hinted else 0.0), -rank, codec))
    if not scored:
        return None
    return lookup_charset(max(scored)[2])


def decode_text(data: bytes, label: str | None, *, hints: Iterable[str] = ()) -> str:
    """Decode a body (or other text) labelled ``label``; never raises.

    Order: a non-ASCII-compatible label (UTF-16, ISO-2022-JP, UTF-7) strictly; strict UTF-8
    (covers the many mislabelled UTF-8 messages); the label widened to its superset; the label
    as written (latin-1 bytes cp1252 leaves undefined); detection; then replacement characters.
    A "us-ascii" label on 8-bit text is no label at all: the text is detected. ``hints`` are
    other charset labels the message carries (see :func:`charset_hints`), which detection
    prefers when they read about as well as its own guess.
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
    if _codec_name(label) == "ascii":
        # RFC 2046 §4.1.2: us-ascii is 7-bit, so 8-bit text under it is unlabelled text.
        codec = None
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            return text
        original = _codec_name(label)
        if original is not None and original != codec:
            text = _strict(data, original)
            if text is not None:
                return text
    detected = _detect(data, hints)
    if detected is not None:
        return data.decode(detected, errors="replace")
    return data.decode(codec or "cp1252", errors="replace")


# Where a message names charsets: MIME parameters, RFC 2047 encoded-words (§2), and the
# Content-Language header (RFC 3282) naming a language whose mail has its own code pages.
_HINT_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_HINT_WORD = re.compile(rb"=\?([A-Za-z0-9_.:-]{1,40})(?:\*[A-Za-z-]{1,20})?\?[bBqQ]\?")
_HINT_LANGUAGE = re.compile(rb"^content-language[ \t]*:[ \t]*([^\r\n]{1,200})", re.I | re.M)
_LANGUAGE_CHARSETS: dict[str, tuple[str, ...]] = {
    "he": ("windows-1255", "iso-8859-8"),
    "iw": ("windows-1255", "iso-8859-8"),
    "yi": ("windows-1255",),
    "ar": ("windows-1256", "iso-8859-6"),
    "fa": ("windows-1256",),
    "ur": ("windows-1256",),
    "ru": ("windows-1251", "koi8-r"),
    "uk": ("windows-1251", "koi8-u"),
    "be": ("windows-1251",),
    "bg": ("windows-1251",),
    "sr": ("windows-1251", "windows-1250"),
    "mk": ("windows-1251",),
    "el": ("windows-1253",),
    "tr": ("windows-1254",),
    "az": ("windows-1254",),
    "pl": ("windows-1250", "iso-8859-2"),
    "cs": ("windows-1250", "iso-8859-2"),
    "sk": ("windows-1250", "iso-8859-2"),
    "hu": ("windows-1250", "iso-8859-2"),
    "sl": ("windows-1250", "iso-8859-2"),
    "hr": ("windows-1250", "iso-8859-2"),
    "ro": ("windows-1250", "iso-8859-2"),
    "lt": ("windows-1257",),
    "lv": ("windows-1257",),
    "et": ("windows-1257",),
    "th": ("windows-874",),
    "ja": ("shift_jis", "euc-jp"),
    "zh": ("gb18030", "big5"),
    "ko": ("euc-kr",),
}
_HINT_SCAN = 64 * 1024


def first_charset_label(raw: bytes) -> str | None:
    """The first ``charset`` parameter a raw message names in its first 64 KiB: the label
    raw 8-bit headers are most likely written in (see :func:`decode_header_bytes`)."""
    match = _HINT_CHARSET.search(raw, 0, min(len(raw), _HINT_SCAN))
    return match.group(1).decode("ascii") if match else None


def charset_hints(raw: bytes) -> tuple[str, ...]:
    """The charset labels a raw message names anywhere in its first 64 KiB (MIME ``charset``
    parameters, RFC 2047 encoded-words) and the charsets of its Content-Language (RFC 3282),
    most frequent first: hints for :func:`decode_text` when a part has no usable label.
    """
    head = raw[:_HINT_SCAN]
    counts: dict[str, int] = {}
    for pattern in (_HINT_WORD, _HINT_CHARSET):
        for match in pattern.finditer(head):
            label = match.group(1).decode("ascii").lower()
            counts[label] = counts.get(label, 0) + 1
    for match in _HINT_LANGUAGE.finditer(head):
        for tag in match.group(1).decode("ascii", "replace").split(","):
            primary = tag.strip().lower().partition("-")[0]
            for label in _LANGUAGE_CHARSETS.get(primary, ()):
                counts[label] = counts.get(label, 0) + 1
    ordered = sorted(counts, key=lambda label: -counts[label])
    return tuple(label for label in ordered if lookup_charset(label) is not None)


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
