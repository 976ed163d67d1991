"""FETCH results to store records: the fast paths agree with the standard library."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from sync.engine.convert import _epoch_of_date_header, format_addresses, stored_flags
from sync.imap import Address


def _slow(value: str) -> int | None:
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.none()
    ),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    weekday=st.booleans(),
)
def test_fast_date_path_matches_email_utils(
    moment: datetime, offset_minutes: int, weekday: bool
) -> None:
    aware = moment.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = email.utils.format_datetime(aware)
    if not weekday:
        text = text.split(", ", 1)[1]
    assert _epoch_of_date_header(text) == _slow(text) == int(aware.timestamp())


def test_odd_dates_fall_back_or_fail_cleanly() -> None:
    for text in (
        "31 Feb 2024 10:00:00 +0000",  # no such day: the slow path decides
        "Tue, 1 Jan 2030 10:00 GMT",
        "1 Jan 2030 10:00:00 -0000",
        "garbage",
        "",
    ):
        assert _epoch_of_date_header(text) == _slow(text) if text else True
    assert _epoch_of_date_header(None) is None
    assert _epoch_of_date_header("Mon, 6 Jan 2025 07:30:00 +0100") == int(
        datetime(2025, 1, 6, 6, 30, tzinfo=UTC).timestamp()
    )


@given(
    names=st.lists(st.text(max_size=30), min_size=1, max_size=4),
)
def test_formatted_addresses_parse_back(names: list[str]) -> None:
    # Display strings: whitespace inside a name may fold to one space, so compare printable,
    # single-spaced names.
    names = [" ".join("".join(c for c in n if c.isprintable()).split()) for n in names]
    addresses = [Address(name, f"user{i}", "example.org") for i, name in enumerate(names)]
    parsed = email.utils.getaddresses([format_addresses(addresses)])
    assert [addr for _, addr in parsed] == [a.email for a in addresses]
    for (name, _), address in zip(parsed, addresses, strict=True):
        if address.name and not any(c in address.name for c in "<>"):
            assert name == address.name


def test_recent_is_never_stored() -> None:
    assert stored_flags(["\\Seen", "\\Recent", "$Label"]) == ("\\Seen", "$Label")
    assert stored_flags(None) == ()
