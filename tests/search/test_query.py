"""The query language: a table of inputs and trees, errors with clear messages, and a
property: any text either parses or raises QueryError, and every parse compiles and runs."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.search import (
    And,
    DateBound,
    FlagTest,
    Folder,
    HasAttachment,
    Not,
    Or,
    Query,
    QueryError,
    Text,
    imap_criteria,
    parse_query,
)
from sync.store import FolderMarks, FolderRow
from sync.store.search import compile_query

TODAY = date(2025, 3, 31)


def t(value: str, field: str = "text", *, phrase: bool = False, prefix: bool = False) -> Text:
    return Text(field, value, phrase=phrase, prefix=prefix)  # type: ignore[arg-type]


PARSES: list[tuple[str, Query]] = [
    ("lunch", t("lunch")),
    ("  lunch  ", t("lunch")),
    ('"quarterly report"', t("quarterly report", phrase=True)),
    ('"one"', t("one")),
    ("repo*", t("repo", prefix=True)),
    ("maria.schmidt@example.de", t("maria.schmidt@example.de", phrase=True)),
    ("from:maria", t("maria", "from")),
    ("FROM:maria", t("maria", "from")),
    ("to:alex cc:ops", And((t("alex", "to"), t("ops", "cc")))),
    ('subject:"lunch on thursday"', t("lunch on thursday", "subject", phrase=True)),
    ("body:contract*", t("contract", "body", prefix=True)),
    ("has:attachment", HasAttachment()),
    ("has:attachments", HasAttachment()),
    ("is:unread", FlagTest("seen", False)),
    ("is:read", FlagTest("seen", True)),
    ("is:flagged", FlagTest("flagged", True)),
    ("is:unflagged", FlagTest("flagged", False)),
    ("is:answered", FlagTest("answered", True)),
    ("is:draft", FlagTest("draft", True)),
    ("IS:UNREAD", FlagTest("seen", False)),
    ("before:2025-02-01", DateBound(True, date(2025, 2, 1))),
    ("after:2025/1/5", DateBound(False, date(2025, 1, 5))),
    ("after:today", DateBound(False, TODAY)),
    ("before:yesterday", DateBound(True, date(2025, 3, 30))),
    ("after:7d", DateBound(False, date(2025, 3, 24))),
    ("after:2w", DateBound(False, date(2025, 3, 17))),
    ("after:1m", DateBound(False, date(2025, 2, 28))),  # March 31st minus a month: clamped
    ("after:1y", DateBound(False, date(2024, 3, 31))),
    (
        "date:2025-01-10",
        And((DateBound(False, date(2025, 1, 10)), DateBound(True, date(2025, 1, 11)))),
    ),
    ("folder:INBOX", Folder("INBOX")),
    ('in:"Sent Items"', Folder("Sent Items")),
    ("-spam", Not(t("spam"))),
    ("NOT spam", Not(t("spam"))),
    ("--spam", t("spam")),
    ("-from:bank", Not(t("bank", "from"))),
    ("a b", And((t("a"), t("b")))),
    ("a AND b", And((t("a"), t("b")))),
    ("a OR b", Or((t("a"), t("b")))),
    ("a | b", Or((t("a"), t("b")))),
    ("a or b", And((t("a"), t("or"), t("b")))),  # lower-case "or" is a word
    ("a OR b c", Or((t("a"), And((t("b"), t("c")))))),
    ("(a OR b) c", And((Or((t("a"), t("b"))), t("c")))),
    ("-(a b)", Not(And((t("a"), t("b"))))),
    ("10:30", t("10:30", phrase=True)),  # not an operator: text
    ("re:lunch", t("re:lunch", phrase=True)),
    ('say "hi \\"there\\""', And((t("say"), t('hi "there"', phrase=True)))),
    ("e-mail", t("e-mail", phrase=True)),
]


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[p[0] for p in PARSES])
def test_parses(text: str, expected: Query) -> None:
    assert parse_query(text, today=TODAY) == expected


ERRORS = [
    ("", "nothing to search for", 0),
    ("   ", "nothing to search for", 0),
    ("from:", "from: needs a value", 0),
    ("lunch subject:", "subject: needs a value", 6),
    ("is:maybe", "is:maybe is not known", 0),
    ("has:pdf", "has:pdf is not known", 0),
    ("before:soon", "before:soon is not a date", 0),
    ("after:2025-02-30", "after:2025-02-30 is not a date", 0),
    ('"open', "missing its closing quote", 0),
    ('from:"open', "missing its closing quote", 5),
    ("(a", "'(' without a matching ')'", 0),
    ("a)", "')' without a matching '('", 1),
    ("()", "empty parentheses", 0),
    ("OR a", "OR needs a term on both sides", 0),
    ("a OR", "OR needs a term on both sides", 2),
    ("a OR OR b", "OR needs a term on both sides", 2),
    ("a -", "has no letters or digits", 2),
    ("NOT", "must be followed by something", 0),
    ("!!", "has no letters or digits", 0),
    ("*", "has no letters or digits", 0),
    ("(" * 40 + "a" + ")" * 40, "nested too deeply", 32),
    ("-" * 40 + "a", "nested too deeply", 0),
    ("a" * 2001, "longer than 2000", 0),
    ("a\x00b", "NUL", 1),
]


@pytest.mark.parametrize(("text", "message", "position"), ERRORS, ids=[e[0][:20] for e in ERRORS])
def test_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text, today=TODAY)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert f"column {position + 1}" in str(caught.value)


FOLDERS = [
    FolderRow(1, 1, "INBOX", "INBOX", "/", None, (), True, 0, 0, FolderMarks()),
    FolderRow(2, 1, "Lists/python", "Lists/python", "/", None, (), True, 0, 0, FolderMarks()),
]
_ALPHABET = st.sampled_from(
    [*list('abc xyz:"()-*|\\'), "OR", "AND", "NOT", "from:", "is:unread", "before:", "é", "\x00"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.lists(_ALPHABET, max_size=25).map("".join)))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    try:
        query = parse_query(text, today=TODAY)
    except QueryError as error:
        assert error.reason and 0 <= error.position <= len(text)
        return
    # Whatever parses compiles to SQL and to IMAP criteria for every folder.
    sql, params, _ = compile_query(query, FOLDERS)
    assert sql.count("?") == len(params)
    for folder in FOLDERS:
        criteria = imap_criteria(query, folder)
        assert criteria is None or all(isinstance(c, str) and c for c in criteria)


CRITERIA = [
    ("lunch", ["TEXT", "lunch"]),
    ("from:ann is:unread", ["FROM", "ann", "UNSEEN"]),
    ("to:ann", ["OR", "TO", "ann", "CC", "ann"]),
    ('subject:"a b"', ["SUBJECT", "a b"]),
    ("repo*", ["TEXT", "repo"]),
    ("-x", ["NOT", "TEXT", "x"]),
    ("a OR b OR c", ["OR", "TEXT", "a", "OR", "TEXT", "b", "TEXT", "c"]),
    # No parentheses: (a b) OR c is OR (NOT (OR (NOT a) (NOT b))) c.
    ("(a b) OR c", ["OR", "NOT", "OR", "NOT", "TEXT", "a", "NOT", "TEXT", "b", "TEXT", "c"]),
    ("-(a b)", ["OR", "NOT", "TEXT", "a", "NOT", "TEXT", "b"]),
    ("before:2025-02-01 after:2025-01-05", ["SENTBEFORE", "1-Feb-2025", "SENTSINCE", "5-Jan-2025"]),
    ("is:flagged is:answered is:draft", ["FLAGGED", "ANSWERED", "DRAFT"]),
    ("folder:INBOX", ["ALL"]),
    ("folder:INBOX OR lunch", ["ALL"]),
    ("folder:python lunch", None),  # another folder: nothing to ask
    ("-folder:python lunch", ["TEXT", "lunch"]),
    ("subject:[dev]", ["SUBJECT", "dev"]),
    ("a\\b", ["TEXT", "a b"]),
]


@pytest.mark.parametrize(("text", "expected"), CRITERIA, ids=[c[0] for c in CRITERIA])
def test_imap_criteria(text: str, expected: list[str] | None) -> None:
    assert imap_criteria(parse_query(text, today=TODAY), FOLDERS[0]) == expected
