"""The search query language: a pure lexer and parser from text to a typed expression tree.

What users type (as in Gmail, notmuch and aerc)::

    lunch                     the word anywhere: subject, addresses, body
    "quarterly report"        a phrase (words next to each other, in order)
    repo*                     words starting with "repo"
    from:maria  to:alex  cc:ops  subject:invoice  body:contract
    subject:"lunch on thursday"
    has:attachment
    is:unread  is:read  is:flagged  is:unflagged  is:answered  is:unanswered  is:draft
    before:2025-02-01  after:2025-01-15  date:2025-01-20   (also 2025/01/20, today,
                                                              yesterday, 7d, 2w, 3m, 1y)
    folder:INBOX  in:Archive
    -word  -from:bank  NOT is:read
    a OR b   (a b) OR c    (AND is implied between terms; OR binds looser than AND)

``after:D`` is inclusive (on or after day D), ``before:D`` exclusive (strictly before D), as
IMAP SENTSINCE and SENTBEFORE are (RFC 3501 §6.4.4). A word with a colon whose prefix is not
an operator (``10:30``, ``http://x``) is plain text. :func:`parse_query` raises nothing but
:class:`QueryError`, whose message says what is wrong and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY_LENGTH",
    "And",
    "DateBound",
    "Field",
    "FlagName",
    "FlagTest",
    "Folder",
    "HasAttachment",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "Text",
    "folder_matches",
    "parse_query",
    "walk",
]

# Nesting of parentheses and negations deeper than this is refused (no recursion limits hit).
MAX_DEPTH: Final = 32
# A query longer than this is refused: it is typed, not generated.
MAX_QUERY_LENGTH: Final = 2000

Field = Literal["text", "subject", "from", "to", "cc", "body"]
FlagName = Literal["seen", "flagged", "answered", "draft"]


class QueryError(ValueError):
    """The query cannot be understood; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at column {position + 1})")
        self.reason = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Text:
    """Words to find in ``field`` (``text``: subject, addresses or body).

    ``phrase``: the words must be adjacent and in order. ``prefix``: the last word may be the
    start of a longer word.
    """

    field: Field
    value: str
    phrase: bool = False
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class FlagTest:
    """The message carries (``present``) or lacks the system flag ``\\<name>``."""

    name: FlagName
    present: bool


@dataclass(frozen=True, slots=True)
class HasAttachment:
    """The message has at least one attachment."""


@dataclass(frozen=True, slots=True)
class DateBound:
    """The message's date (its Date header) is before ``day`` (exclusive), or on/after it."""

    before: bool
    day: date


@dataclass(frozen=True, slots=True)
class Folder:
    """The message is in a folder named ``name`` (see :func:`folder_matches`)."""

    name: str


@dataclass(frozen=True, slots=True)
class Not:
    """Negation."""

    operand: Query


@dataclass(frozen=True, slots=True)
class And:
    """All operands match (at least two)."""

    operands: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand matches (at least two)."""

    operands: tuple[Query, ...]


Query = Text | FlagTest | HasAttachment | DateBound | Folder | Not | And | Or

_TEXT_FIELDS: Final[dict[str, Field]] = {
    "from": "from",
    "to": "to",
    "cc": "cc",
    "subject": "subject",
    "body": "body",
}
_IS_VALUES: Final[dict[str, FlagTest]] = {
    "unread": FlagTest("seen", False),
    "unseen": FlagTest("seen", False),
    "new": FlagTest("seen", False),
    "read": FlagTest("seen", True),
    "seen": FlagTest("seen", True),
    "flagged": FlagTest("flagged", True),
    "starred": FlagTest("flagged", True),
    "unflagged": FlagTest("flagged", False),
    "unstarred": FlagTest("flagged", False),
    "answered": FlagTest("answered", True),
    "replied": FlagTest("answered", True),
    "unanswered": FlagTest("answered", False),
    "unreplied": FlagTest("answered", False),
    "draft": FlagTest("draft", True),
}
_HAS_VALUES: Final = frozenset({"attachment", "attachments", "attach"})
_DATE_OPERATORS: Final = frozenset({"before", "after", "date", "on"})
_FOLDER_OPERATORS: Final = frozenset({"folder", "in"})
_OPERATORS: Final = frozenset({*_TEXT_FIELDS, "is", "has", *_DATE_OPERATORS, *_FOLDER_OPERATORS})
_ISO_DAY = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\Z")
_RELATIVE = re.compile(r"(\d{1,4})([dwmy])\Z")
# A word counts as searchable when it holds a letter or digit (FTS5's unicode61 tokenizer
# drops everything else, so "-" or "!!" alone would search for nothing).
_WORDY = re.compile(r"[^\W_]")


# ------------------------------------------------------------------------------------- lexer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["word", "phrase", "op", "(", ")", "or", "not"]
    position: int
    value: str = ""
    operator: str = ""  # for "op": the operator name, lower-cased
    quoted: bool = False  # for "op": the value was a quoted phrase


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The phrase from the quote at ``start``; returns (value, index after the closing quote).

    A backslash escapes a quote or a backslash inside the phrase.
    """
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise QueryError("a quoted phrase is missing its closing quote", start)


def _is_break(char: str) -> bool:
    return char.isspace() or char in '()"'


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            tokens.append(_Token(char, i))  # type: ignore[arg-type]
            i += 1
            continue
        if char == '"':
            value, i = _read_quoted(text, i)
            tokens.append(_Token("phrase", i, value))
            continue
        if char == "-" and i + 1 < n and not text[i + 1].isspace():
            tokens.append(_Token("not", i))
            i += 1
            continue
        start = i
        while i < n and not _is_break(text[i]):
            i += 1
        word = text[start:i]
        if word == "OR" or word == "|":
            tokens.append(_Token("or", start))
            continue
        if word == "AND":
            continue  # AND is implied between terms
        if word == "NOT":
            tokens.append(_Token("not", start))
            continue
        name, colon, value = word.partition(":")
        if colon and name.lower() in _OPERATORS:
            operator = name.lower()
            quoted = False
            if not value and i < n and text[i] == '"':
                value, i = _read_quoted(text, i)
                quoted = True
            if not value.strip():
                raise QueryError(f"{operator}: needs a value, as in {_example(operator)}", start)
            tokens.append(_Token("op", start, value, operator, quoted))
            continue
        tokens.append(_Token("word", start, word))
    return tokens


def _example(operator: str) -> str:
    examples = {
        "is": "is:unread",
        "has": "has:attachment",
        "before": "before:2025-01-31",
        "after": "after:2025-01-31",
        "date": "date:2025-01-31",
        "on": "on:2025-01-31",
        "folder": "folder:INBOX",
        "in": "in:INBOX",
    }
    return examples.get(operator, f'{operator}:word or {operator}:"some words"')


# ------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, tokens: list[_Token], text: str, today: date) -> None:
        self.tokens = tokens
        self.text = text
        self.today = today
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self) -> Query:
        query = self.or_expression(0)
        token = self.peek()
        if token is not None:  # only a stray ")" stops an expression early
            raise QueryError("')' without a matching '('", token.position)
        return query

    def or_expression(self, depth: int) -> Query:
        operands = [self.and_expression(depth)]
        while (token := self.peek()) is not None and token.kind == "or":
            self.index += 1
            if self.peek() is None or self.peek().kind in ("or", ")"):  # type: ignore[union-attr]
                raise QueryError("OR needs a term on both sides", token.position)
            operands.append(self.and_expression(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expression(self, depth: int) -> Query:
        operands: list[Query] = []
        while (token := self.peek()) is not None and token.kind not in ("or", ")"):
            operands.append(self.unary(depth))
        if not operands:
            token = self.peek()
            position = token.position if token is not None else len(self.text)
            if token is not None and token.kind == "or":
                raise QueryError("OR needs a term on both sides", position)
            raise QueryError("nothing to search for", position)
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self, depth: int) -> Query:
        negations = 0
        start = self.peek()
        while (token := self.peek()) is not None and token.kind == "not":
            negations += 1
            self.index += 1
        if negations and (self.peek() is None or self.peek().kind in ("or", ")")):  # type: ignore[union-attr]
            assert start is not None
            raise QueryError("'-' (NOT) must be followed by something to exclude", start.position)
        if depth + negations > MAX_DEPTH:
            assert start is not None
            raise QueryError("the query is nested too deeply", start.position)
        query = self.primary(depth + negations)
        # NOT NOT x is x.
        return Not(query) if negations % 2 else query

    def primary(self, depth: int) -> Query:
        token = self.peek()
        assert token is not None
        self.index += 1
        if token.kind == "(":
            if depth + 1 > MAX_DEPTH:
                raise QueryError("the query is nested too deeply", token.position)
            if (inner := self.peek()) is not None and inner.kind == ")":
                raise QueryError("empty parentheses", token.position)
            query = self.or_expression(depth + 1)
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise QueryError("'(' without a matching ')'", token.position)
            self.index += 1
            return query
        if token.kind == "phrase":
            return self.text_term("text", token.value, token.position, quoted=True)
        if token.kind == "word":
            return self.text_term("text", token.value, token.position, quoted=False)
        if token.kind == "op":
            return self.operator(token)
        raise QueryError(f"unexpected {token.kind!r}", token.position)  # pragma: no cover

    def text_term(self, field: Field, value: str, position: int, *, quoted: bool) -> Text:
        prefix = False
        if not quoted and value.endswith("*"):
            value = value.rstrip("*")
            prefix = True
        if not _WORDY.search(value):
            shown = value or "*"
            raise QueryError(f"{shown!r} has no letters or digits to search for", position)
        words = _words(value)
        return Text(field, value, phrase=len(words) > 1, prefix=prefix)

    def operator(self, token: _Token) -> Query:
        name, value, position = token.operator, token.value, token.position
        if name in _TEXT_FIELDS:
            return self.text_term(_TEXT_FIELDS[name], value, position, quoted=token.quoted)
        lowered = value.strip().lower()
        if name == "is":
            flag = _IS_VALUES.get(lowered)
            if flag is None:
                known = ", ".join(sorted(_IS_VALUES))
                raise QueryError(f"is:{value} is not known; use one of: {known}", position)
            return flag
        if name == "has":
            if lowered not in _HAS_VALUES:
                raise QueryError(f"has:{value} is not known; use has:attachment", position)
            return HasAttachment()
        if name in _FOLDER_OPERATORS:
            return Folder(value)
        day = _parse_day(lowered, self.today)
        if day is None:
            raise QueryError(
                f"{name}:{value} is not a date; use YYYY-MM-DD, today, yesterday,"
                " or an age such as 7d, 2w, 3m, 1y",
                position,
            )
        if name == "before":
            return DateBound(True, day)
        if name == "after":
            return DateBound(False, day)
        return And((DateBound(False, day), DateBound(True, day + timedelta(days=1))))


def _words(value: str) -> list[str]:
    return [word for word in re.split(r"[\W_]+", value) if word]


def _parse_day(value: str, today: date) -> date | None:
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    if match := _ISO_DAY.match(value):
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    if match := _RELATIVE.match(value):
        count, unit = int(match[1]), match[2]
        try:
            if unit == "d":
                return today - timedelta(days=count)
            if unit == "w":
                return today - timedelta(weeks=count)
            months = today.year * 12 + today.month - 1 - (count if unit == "m" else 12 * count)
            year, month = divmod(months, 12)
            return _clamped_day(year, month + 1, today.day)
        except (OverflowError, ValueError):
            return None
    return None


def _clamped_day(year: int, month: int, day: int) -> date:
    """``date(year, month, day)``, with the day pulled back to the month's last day."""
    for candidate in (day, 30, 29, 28):
        try:
            return date(year, month, min(day, candidate))
        except ValueError:
            continue
    raise ValueError("no such month")


def parse_query(text: str, *, today: date | None = None) -> Query:
    """Parse a search query into an expression tree.

    ``today`` anchors relative dates (default: the local date). Raises :class:`QueryError`
    (and nothing else) for an empty, malformed or over-long query.
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", 0)
    if "\x00" in text:
        raise QueryError("the query contains a NUL character", text.index("\x00"))
    tokens = _tokens(text)
    if not tokens:
        raise QueryError("nothing to search for", 0)
    return _Parser(tokens, text, today or date.today()).parse()


def walk(query: Query) -> list[Query]:
    """Every node of ``query``, parents before children (iterative: no recursion limit)."""
    out: list[Query] = []
    stack: list[Query] = [query]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, And | Or):
            stack.extend(reversed(node.operands))
    return out


def folder_matches(pattern: str, name: str, display_name: str, delimiter: str | None) -> bool:
    """Whether ``folder:pattern`` names this folder.

    It does when the pattern is the server name, the shown name (any case), INBOX in any case
    (RFC 3501 §5.1), or the last level of the shown name (``folder:python`` for
    ``Lists/python``).
    """
    wanted = pattern.casefold()
    if pattern == name or wanted == display_name.casefold():
        return True
    if wanted == "inbox" and name.upper() == "INBOX":
        return True
    if delimiter:
        return wanted == display_name.rsplit(delimiter, 1)[-1].casefold()
    return False
