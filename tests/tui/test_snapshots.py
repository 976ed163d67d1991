"""Pictures of the main screens, compared against the baselines in ``__snapshots__/``.

Each test drives a scene from ``scenes.py`` (the in-memory backend: fixed data, fixed size,
UTC), checks what the screen says, then compares the picture with its checked-in baseline
(pytest-textual-snapshot). A run writes nothing into the tree; after a deliberate change of
look, ``pytest tests/tui/test_snapshots.py --snapshot-update`` rewrites the baselines (and
``make screenshots`` the README's pictures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.scenes import HELP, MESSAGE_LIST, READER, Scene, fixed_time_zone

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Dates render in UTC, so every machine draws the same picture."""
    with fixed_time_zone():
        yield


def _shoot(scene: Scene, snap_compare: SnapCompare) -> tuple[str, bool]:
    """Drive ``scene`` and compare its picture; return the screen's text and whether the
    picture matched its baseline."""
    seen: list[str] = []

    async def run_before(pilot: Pilot[Any]) -> None:
        seen.append(await scene.drive(pilot))

    matched = snap_compare(scene.make_app(), terminal_size=scene.size, run_before=run_before)
    assert seen, f"the {scene.name} scene did not reach its state"
    return seen[0], matched


def test_message_list_screen(snap_compare: SnapCompare) -> None:
    """The main screen: the folder pane with unread counts (INBOX, special folders, nested
    lists), the message list newest first with unread (N), flagged (!) and answered (r) marks
    and an attachment (@), the status bar (account online, 2 changes waiting) and the keys."""
    text, matched = _shoot(MESSAGE_LIST, snap_compare)
    for expected in (
        "INBOX 15",
        "python-dev",
        "alpha",
        "Re: Quarterly report draft",
        "会議の議事録",
        "work: online",
        "2 pending",
        "Archive",
    ):
        assert expected in text, expected
    first = next(line for line in text.splitlines() if "Quarterly" in line)
    assert " N! " in first and first.rstrip().endswith("@")
    assert matched, "the picture differs from its baseline (see the snapshot report)"


def test_reader_screen(snap_compare: SnapCompare) -> None:
    """The reader: headers as the message has them (From, To, Cc, Date in local time,
    Subject), the attachment with its type and size, an HTML body laid out as text with
    quotes coloured by depth, numbered links listed by their real targets, and a warning on
    the link whose text names another host."""
    text, matched = _shoot(READER, snap_compare)
    for expected in (
        "From: Maria Schmidt <maria@example.org>",
        "Cc: team@example.org",
        "Date: Mon, 02 Nov 2026 10:30 UTC",
        "1 attachment:",
        "q3-report.pdf  application/pdf  18 KB",
        "team wiki[1]",
        "Can you check the totals before Friday?",
        "[2] https://login.evil.example/",
        "the text names bank.example.org but the link goes to login.evil.example",
    ):
        assert expected in text, expected
    assert matched, "the picture differs from its baseline (see the snapshot report)"


def test_help_screen(snap_compare: SnapCompare) -> None:
    """The help screen (?): every key binding in force, by where it works, with the binding
    ids the config's [keys] table uses to change them."""
    text, matched = _shoot(HELP, snap_compare)
    for expected in ("mailtui key bindings", "Message list", "list.archive", "a e", "Reader"):
        assert expected in text, expected
    assert matched, "the picture differs from its baseline (see the snapshot report)"
