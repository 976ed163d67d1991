"""Address parsing, own-address checks and completion ranking."""

from __future__ import annotations

import pytest

from sync.compose import (
    AddressError,
    complete_address,
    format_addresses,
    is_own_address,
    parse_address_list,
    unique_addresses,
)

SEEN = [
    ("Anna Schmidt", "anna@example.com"),
    ("Anna Schmidt", "anna@example.com"),
    ("Anna S.", "anna@example.com"),
    ("Andreas Müller", "andreas.mueller@example.de"),
    ("José Álvarez", "jalvarez@example.es"),
    ("José Álvarez", "jalvarez@example.es"),
    ("José Álvarez", "jalvarez@example.es"),
    ("", "ANNA@EXAMPLE.COM"),  # same address, other case: one more use
    ("Bob", "bob@example.net"),
    ("", "mailer-daemon@example.org"),
]


def test_completion_ranks_most_used_first() -> None:
    found = complete_address("an", SEEN)
    assert [(c.name, c.email, c.uses) for c in found] == [
        ("Anna Schmidt", "anna@example.com", 4),
        ("Andreas Müller", "andreas.mueller@example.de", 1),
    ]
    assert found[0].display() == "Anna Schmidt <anna@example.com>"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("alv", ["jalvarez@example.es"]),  # a word of the name, accents ignored
        ("ÁLV", ["jalvarez@example.es"]),
        ("jose", ["jalvarez@example.es"]),
        ("muel", ["andreas.mueller@example.de"]),  # a word of the local part
        ("Schm", ["anna@example.com"]),
        ("anna s", ["anna@example.com"]),  # the start of the full name
        ("bob@", ["bob@example.net"]),
        ("example", []),  # the domain alone is not a match
        ("zz", []),
    ],
)
def test_completion_matches(prefix: str, expected: list[str]) -> None:
    assert [c.email for c in complete_address(prefix, SEEN)] == expected


def test_completion_ties_and_limit() -> None:
    pairs = [("", "b@example.com"), ("", "a@example.com"), ("A", "xa@example.com")]
    # Equal uses: an address prefix beats a name prefix, then alphabetical.
    assert [c.email for c in complete_address("a", pairs)] == ["a@example.com", "xa@example.com"]
    assert [c.email for c in complete_address("", pairs, limit=2)] == [
        "a@example.com",
        "b@example.com",
    ]


def test_parse_and_format() -> None:
    addresses = parse_address_list(
        '"Doe, Jane" <jane@example.com>, =?utf-8?q?J=C3=B6rg?= <j@example.de>, '
        "team: x@example.com, y@example.com;, undisclosed-recipients:;"
    )
    assert [a.addr_spec for a in addresses] == [
        "jane@example.com",
        "j@example.de",
        "x@example.com",
        "y@example.com",
    ]
    assert format_addresses(addresses[:2]) == '"Doe, Jane" <jane@example.com>, Jörg <j@example.de>'
    for bad in ("bob", "bob@", "<@example.com>", "a@example.com b@example.com"):
        with pytest.raises(AddressError):
            parse_address_list(bad)


def test_own_and_unique() -> None:
    (mine,) = parse_address_list("Me <Me@Example.ORG>")
    assert is_own_address(mine, ["me@example.org"])
    assert not is_own_address("me@example.org.evil", ["me@example.org"])
    addresses = parse_address_list("a@example.com, A@EXAMPLE.com, me@example.org, b@example.com")
    assert [a.addr_spec for a in unique_addresses(addresses, exclude=["ME@example.org"])] == [
        "a@example.com",
        "b@example.com",
    ]
