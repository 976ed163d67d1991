"""Charset labels, 8-bit header bytes and RFC 2047 encoded-words."""

from __future__ import annotations

import pytest

from sync.mime.charsets import (
    decode_encoded_words,
    decode_header_bytes,
    decode_text,
    lenient_b64decode,
    lenient_qp_decode,
    lookup_charset,
)
from tests.mime.corpus import CHARSET_CASES, WRONG_LABEL_CASES


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("latin-1", "cp1252"),
        ("ISO-8859-1", "cp1252"),
        ('"us-ascii"', "cp1252"),
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("shift_jis", "cp932"),
        ("x-sjis", "cp932"),
        ("ks_c_5601-1987", "cp949"),
        ("euc-kr", "cp949"),
        ("big5", "big5hkscs"),
        ("utf-8*en", "utf-8"),
        ("UTF8", "utf-8"),
        ("koi8-r", "koi8-r"),
    ],
)
def test_labels_widen_to_the_superset_mail_software_writes(label: str, codec: str) -> None:
    assert lookup_charset(label) == codec


@pytest.mark.parametrize(
    "label",
    [
        "x-unknown",
        "unknown-8bit",
        "zlib",
        "base64",
        "rot13",
        "unicode_escape",
        "idna",
        "",
        None,
        "a" * 500,
    ],
)
def test_unknown_and_non_text_codecs_are_refused(label: str | None) -> None:
    assert lookup_charset(label) is None


@pytest.mark.parametrize(("label", "codec", "text"), CHARSET_CASES)
def test_every_charset_decodes_with_its_right_label(label: str, codec: str, text: str) -> None:
    assert decode_text(text.encode(codec), label) == text


@pytest.mark.parametrize(("label", "codec", "text"), WRONG_LABEL_CASES)
def test_wrong_or_missing_labels_still_give_the_text(
    label: str | None, codec: str, text: str
) -> None:
    assert decode_text(text.encode(codec), label) == text


def test_superset_characters_survive_a_subset_label() -> None:
    # cp1252 quotes under a latin-1 label; a GBK-only character under gb2312; NEC ① in SJIS.
    assert decode_text("“quoted”".encode("cp1252"), "iso-8859-1") == "“quoted”"
    assert decode_text("镕".encode("gbk"), "gb2312") == "镕"
    assert decode_text("①".encode("cp932"), "shift_jis") == "①"


def test_latin1_bytes_undefined_in_cp1252_fall_back_to_latin1() -> None:
    assert decode_text(b"caf\xe9 \x81", "iso-8859-1") == "café \x81"


def test_escape_codecs_are_never_applied() -> None:
    assert decode_text(b"\\x1b[2J", "unicode_escape") == "\\x1b[2J"


def test_garbage_never_raises_and_never_leaves_surrogates() -> None:
    for label in (None, "utf-8", "utf-16", "iso-2022-jp", "nonsense", "utf-7"):
        text = decode_text(bytes(range(256)) * 3, label)
        assert not any("\ud800" <= char <= "\udfff" for char in text)


def test_unlabelled_iso_2022_jp_is_recognised() -> None:
    assert decode_text("日本語".encode("iso-2022-jp"), None) == "日本語"


def test_header_bytes_try_utf8_then_the_message_charset_then_cp1252() -> None:
    assert decode_header_bytes("Grüße".encode()) == "Grüße"
    assert decode_header_bytes("Привет".encode("koi8-r"), "koi8-r") == "Привет"
    assert decode_header_bytes("Café “x”".encode("cp1252")) == "Café “x”"
    assert decode_header_bytes(b"\x81\x8d") == "\ufffd\ufffd"
    assert decode_header_bytes(b"") == ""


def test_encoded_words_rfc2047() -> None:
    assert decode_encoded_words("=?utf-8?q?caf=C3=A9_cr=C3=A8me?=") == "café crème"
    assert decode_encoded_words("=?ISO-8859-1?B?Q2Fm6Q==?=") == "Café"
    # §6.2: whitespace between adjacent encoded-words disappears; text between them stays.
    assert decode_encoded_words("=?utf-8?q?a?= =?utf-8?q?b?= c =?utf-8?q?d?=") == "ab c d"
    # RFC 2231 language suffix.
    assert decode_encoded_words("=?utf-8*en?q?hello?=") == "hello"


def test_multibyte_characters_split_across_words_are_joined() -> None:
    # "日本" split in the middle of the first character's UTF-8 bytes and base64 quanta.
    assert decode_encoded_words("=?utf-8?b?5p?= =?utf-8?b?el5pys?=") == "日本"
    assert decode_encoded_words("=?utf-8?q?=E6=97?= =?utf-8?q?=A5?=") == "日"


def test_encoded_words_with_wrong_or_unknown_charsets() -> None:
    assert decode_encoded_words("=?iso-8859-1?q?Gr=C3=BC=C3=9Fe?=") == "Grüße"  # really UTF-8
    assert decode_encoded_words("=?x-bogus?q?Caf=E9?=") == "Café"
    assert decode_encoded_words("=?gb2312?b?6ZWV?=") == "镕"  # GBK-only character


def test_broken_encoded_words_do_not_raise() -> None:
    for value in ("=?utf-8?b?!!!?=", "=?utf-8?q?=ZZ?=", "=??q?x?=", "=?utf-8?x?y?=", "=?", "?="):
        assert isinstance(decode_encoded_words(value), str)


def test_lenient_base64() -> None:
    assert lenient_b64decode(b"SGVsbG8g\r\nd29ybGQ=") == b"Hello world"
    assert lenient_b64decode(b"SGVs!bG8") == b"Hello"  # junk skipped
    assert lenient_b64decode(b"SGVsbG8") == b"Hello"  # padding missing
    assert lenient_b64decode(b"SGk=SGk=") == b"HiHi"  # concatenated padded chunks
    assert lenient_b64decode(b"Q") == b""


def test_lenient_quoted_printable() -> None:
    assert lenient_qp_decode(b"caf=C3=A9 =\r\nnext") == "café next".encode()
    assert lenient_qp_decode(b"=ZZ and = alone") == b"=ZZ and = alone"
    assert lenient_qp_decode(b"a_b=20c", header=True) == b"a b c"
