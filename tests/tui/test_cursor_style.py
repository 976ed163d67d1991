"""The list cursor shows on every kind of row, focused or not."""

from __future__ import annotations

from tests.tui.helpers import wait_for_rows
from tests.tui.memory import MemoryBackend
from tui.app import MailApp

SIZE = (120, 30)


def _row_backgrounds(app: MailApp, y: int) -> set[object]:
    strip = app.message_list.render_line(y)
    return {segment.style.bgcolor for segment in strip if segment.style is not None}


async def test_cursor_background_wins_over_unread_styles() -> None:
    """Unread (bold) rows used to repaint the widget's background over the cursor's, so in a
    real terminal the cursor vanished on unread mail."""
    backend = MemoryBackend(inbox_size=50)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        unread = next(i for i in range(10) if (row := ml.row_at(i)) is not None and not row.seen)
        for _ in range(unread):
            await pilot.press("j")
        assert ml.cursor == unread
        cursor_bg = ml.get_component_rich_style("message-list--cursor").bgcolor
        surface_bg = ml.rich_style.bgcolor
        assert cursor_bg != surface_bg
        assert _row_backgrounds(app, unread) == {cursor_bg}
        assert _row_backgrounds(app, unread + 1) == {surface_bg}
        # Without focus the cursor is still drawn (reverse video).
        app.folder_tree.focus()
        await pilot.pause()
        assert any(s.style is not None and s.style.reverse for s in ml.render_line(unread))
