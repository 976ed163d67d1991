"""Reply and forward subjects: prefixes are not stacked, in the languages we recognise."""

from __future__ import annotations

import pytest

from sync.compose import base_subject, forward_subject, reply_subject


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: Hello", "Re: Hello"),
        ("re:Hello", "Re: Hello"),
        ("Re: Re: RE: Hello", "Re: Hello"),
        ("Aw: Re: Hello", "Re: Hello"),
        ("AW: Grüße", "Re: Grüße"),
        ("Re[2]: Hello", "Re: Hello"),
        ("Re(3): Hello", "Re: Hello"),
        ("Re^2: Hello", "Re: Hello"),
        ("SV: Sv: Hej", "Re: Hej"),
        ("Antw: Vs: Odp: Hello", "Re: Hello"),
        ("ΑΠ: Γεια", "Re: Γεια"),
        ("Отв: Привет", "Re: Привет"),
        ("回复：你好", "Re: 你好"),
        ("Fwd: Hello", "Re: Fwd: Hello"),  # a forward in the thread stays visible
        ("[dev] Re: patch v2", "Re: [dev] patch v2"),
        ("[dev] patch v2", "Re: [dev] patch v2"),
        ("Regarding: the plan", "Re: Regarding: the plan"),  # not a prefix
        ("Re:", "Re:"),
        ("", "Re:"),
        ("  Re:   spaced   out  ", "Re: spaced out"),
    ],
)
def test_reply_subject(original: str, expected: str) -> None:
    assert reply_subject(original) == expected


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Hello", "Fwd: Hello"),
        ("Fwd: Hello", "Fwd: Hello"),
        ("FW: Fwd: Hello", "Fwd: Hello"),
        ("WG: Tr: RV: Enc: Hello", "Fwd: Hello"),
        ("Fwd[2]: Hello", "Fwd: Hello"),
        ("Re: Hello", "Fwd: Re: Hello"),
        ("転送: こんにちは", "Fwd: こんにちは"),
        ("I: ciao", "Fwd: I: ciao"),  # one-letter prefixes are left alone
    ],
)
def test_forward_subject(original: str, expected: str) -> None:
    assert forward_subject(original) == expected


def test_base_subject_strips_both_kinds() -> None:
    assert base_subject("Re: Fwd: AW: WG: Topic") == "Topic"
    assert base_subject("[list] Re: Fwd: Topic") == "[list] Topic"
