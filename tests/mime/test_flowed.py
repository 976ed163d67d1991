"""RFC 3676 format=flowed and quote levels."""

from __future__ import annotations

from sync.mime.flowed import quote_level, quoted_lines, unflow


def test_soft_breaks_join_and_hard_breaks_stay() -> None:
    text = "One para \ngraph here.\nSecond line.\n"
    assert unflow(text) == [(0, "One para graph here."), (0, "Second line."), (0, "")]


def test_delsp_removes_the_joining_space() -> None:
    assert unflow("Long wo \nrd.\n", delsp=True)[0] == (0, "Long word.")
    assert unflow("Long wo \nrd.\n", delsp=False)[0] == (0, "Long wo rd.")


def test_quote_depth_and_space_stuffing() -> None:
    lines = unflow(">> deep \n>> text\n> shallow\n From here\n")
    assert lines[:3] == [(2, ">> deep text"), (1, "> shallow"), (0, "From here")]


def test_a_depth_change_ends_a_paragraph() -> None:
    # §4.5: a flowed line followed by another depth is treated as fixed.
    assert unflow("> quoted \nnot quoted\n")[:2] == [(1, "> quoted "), (0, "not quoted")]


def test_signature_separator_is_never_flowed() -> None:
    assert unflow("-- \nAlice\n")[:2] == [(0, "-- "), (0, "Alice")]


def test_crlf_input() -> None:
    assert unflow("a \r\nb\r\n")[0] == (0, "a b")


def test_plain_quote_levels() -> None:
    assert quote_level("> > > x") == 3
    assert quote_level(">>x") == 2
    assert quote_level("  > indented") == 1
    assert quote_level("a > b") == 0
    assert quote_level("") == 0
    assert quoted_lines("x\n> y") == [(0, "x"), (1, "> y")]
