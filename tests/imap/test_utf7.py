"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.imap import decode_mailbox, encode_mailbox

TABLE = [
    ("INBOX", "INBOX"),
    ("Café", "Caf&AOk-"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("&", "&-"),
    ("日本語", "&ZeVnLIqe-"),
    # RFC 3501 §5.1.3's own example
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("📧 mail", "&2D3c5w- mail"),
    ("", ""),
]


@pytest.mark.parametrize(("name", "wire"), TABLE)
def test_encode_and_decode_known_names(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire
    assert decode_mailbox(wire) == name
    assert decode_mailbox(wire.encode()) == name


@pytest.mark.parametrize(
    "invalid",
    ["&Jjo", "Caf&AOk", "a&!!-b", "&AOk/-", "&A-"],
)
def test_invalid_modified_utf7_is_returned_unchanged(invalid: str) -> None:
    assert decode_mailbox(invalid) == invalid


@given(st.text())
def test_round_trip_any_text(name: str) -> None:
    wire = encode_mailbox(name)
    assert wire.isascii()
    assert all(" " <= char <= "~" for char in wire)
    assert decode_mailbox(wire) == name
