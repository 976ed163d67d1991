"""Writing mail from the interface: ``$EDITOR`` round trips, the built-in editor, the confirm
bar, resumed drafts; and one run on the real stack (Dovecot + an SMTP server).

The editor is a small Python script written by the test: it records what it was given (and
the file's permissions) and edits the file as the test's ``COMPOSE_TEST_MODES`` says, one
mode per run.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from sync.config import parse_config
from sync.dovecot import MailUser
from sync.engine.account import SyncSettings
from sync.paths import store_path
from sync.sample_mail import make_message
from sync.store import Store
from sync.store.addresses import address_pairs
from tests.outbox.helpers import free_port, smtp_on, write_config
from tests.rig.device import Device
from tests.tui.helpers import screen_text, wait_for_rows, wait_until
from tests.tui.memory import BASE_TIME, MemoryBackend, MemoryMessage
from tui.app import MailApp
from tui.backend import StoreBackend
from tui.compose_flow import ERROR_PREFIX, editor_command, strip_error_lines
from tui.screens.compose import (
    AddressSuggester,
    ComposeEditor,
    ConfirmBar,
    PathSuggester,
    ResumeOffer,
)

SIZE = (120, 30)

EDITOR_SCRIPT = r"""
import os, sys
from pathlib import Path

path = Path(sys.argv[-1])
log = Path(os.environ["COMPOSE_TEST_LOG"])
run = len(list(log.glob("run-*.txt")))
text = path.read_text(encoding="utf-8")
(log / f"run-{run}.txt").write_text(text, encoding="utf-8")
(log / f"where-{run}").write_text(
    f"{path}\n{path.stat().st_mode & 0o777:o}\n{path.parent.stat().st_mode & 0o777:o}\n"
)
modes = os.environ["COMPOSE_TEST_MODES"].split(",")
mode = modes[min(run, len(modes) - 1)]
if mode == "append":
    text = text.rstrip("\n") + "\nWritten in the editor.\n"
elif mode == "bad":
    text = "Bogus: header\n" + text
elif mode == "fix":
    lines = [l for l in text.split("\n") if not l.startswith(("# mailtui: ", "Bogus:"))]
    text = "\n".join(lines).rstrip("\n") + "\nFixed in the editor.\n"
elif mode == "to":
    text = text.replace("To: \n", "To: Bob <bob@example.org>\n", 1)
    text = text.replace("Subject: \n", "Subject: Plans\n", 1) + "Postponed here.\n"
elif mode == "empty":
    text = ""
path.write_text(text, encoding="utf-8")
"""

ORIGINAL = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Me <me@example.org>\r\n"
    b"Subject: Lunch on Friday\r\n"
    b"Message-ID: <lunch@example.org>\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n"
)


@pytest.fixture
def editor_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$EDITOR`` is the test's script; returns the directory where it logs each run."""
    script = tmp_path / "editor.py"
    script.write_text(EDITOR_SCRIPT, encoding="utf-8")
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("EDITOR", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("COMPOSE_TEST_LOG", str(log))
    monkeypatch.setenv("COMPOSE_TEST_MODES", "append")
    return log


def runs(log: Path) -> list[str]:
    """What the editor was given, run by run."""
    count = len(list(log.glob("run-*.txt")))
    return [(log / f"run-{n}.txt").read_text(encoding="utf-8") for n in range(count)]


def gone(path: Path) -> bool:
    """Whether nothing is at ``path``."""
    return not path.exists()


def take_kept_file(path: Path) -> str:
    """The text of a kept draft file, removing it and its private directory."""
    try:
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink()
        path.parent.rmdir()


def backend_with_original() -> MemoryBackend:
    """Three synthetic messages and, newest (under the cursor), Alice's real one (uid 10)."""
    backend = MemoryBackend(inbox_size=3, composing=True)
    backend.folder_named("INBOX").add(
        MemoryMessage(uid=10, date=BASE_TIME + 10_000, subject="Lunch on Friday", body=ORIGINAL)
    )
    return backend


@contextlib.asynccontextmanager
async def memory_app(backend: MemoryBackend) -> AsyncIterator[tuple[MailApp, Pilot[None]]]:
    """The app on the memory backend, rows loaded."""
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        yield app, pilot


# -- units ---------------------------------------------------------------------------------


def test_editor_command_prefers_editor_then_visual() -> None:
    assert editor_command({"EDITOR": "vim -u NONE", "VISUAL": "emacs"}) == ["vim", "-u", "NONE"]
    assert editor_command({"EDITOR": "  ", "VISUAL": "nano"}) == ["nano"]
    assert editor_command({"EDITOR": "'unbalanced", "VISUAL": "ed"}) == ["ed"]
    assert editor_command({}) is None


def test_strip_error_lines_only_removes_ours_at_the_top() -> None:
    text = f"{ERROR_PREFIX}line 1: bad\n{ERROR_PREFIX}again\nTo: a@b\n\n{ERROR_PREFIX}kept"
    assert strip_error_lines(text) == f"To: a@b\n\n{ERROR_PREFIX}kept"


async def test_address_suggester_completes_the_last_item() -> None:
    pairs = [("Alice Example", "alice@example.org")] * 2 + [("Alan", "alan@example.org")]
    suggester = AddressSuggester(pairs)
    assert await suggester.get_suggestion("bob@x.org, Al") == (
        "bob@x.org, Alice Example <alice@example.org>"
    )
    assert await suggester.get_suggestion("alan") == "alan <alan@example.org>"
    # A prefix only the bare address extends: the bare address.
    assert await suggester.get_suggestion("alan@") == "alan@example.org"
    assert await suggester.get_suggestion("zz") is None
    assert await suggester.get_suggestion("a") is None  # too short to mean anything


async def test_path_suggester_completes_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF")
    (tmp_path / "photos").mkdir()
    (tmp_path / ".hidden").write_text("x")
    suggester = PathSuggester()
    assert await suggester.get_suggestion(f"{tmp_path}/rep") == f"{tmp_path}/report.pdf"
    assert await suggester.get_suggestion(f"{tmp_path}/ph") == f"{tmp_path}/photos/"
    assert await suggester.get_suggestion(f"{tmp_path}/") == f"{tmp_path}/photos/"
    assert await suggester.get_suggestion(f"{tmp_path}/none") is None


# -- $EDITOR ---------------------------------------------------------------------------------


async def test_reply_in_the_editor_then_send(editor_log: Path) -> None:
    backend = backend_with_original()
    async with memory_app(backend) as (app, pilot):
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        keys = "y send, e edit again, p postpone (Drafts), q discard"
        await wait_until(pilot, lambda: keys in screen_text(app))
        assert "Re: Lunch on Friday" in screen_text(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: backend.sent_drafts)
        start, draft = backend.sent_drafts[0]
        assert start.original == (1, 10, "reply")
        assert draft.to == ("Alice Example <alice@example.org>",)
        assert draft.in_reply_to == "<lunch@example.org>"
        assert "> Shall we meet at noon?" in draft.body
        assert draft.body.rstrip().endswith("Written in the editor.")
        await wait_until(pilot, lambda: "Queued" in app.status_bar.text)
    # The editor got the draft_to_text form, in a private file that is gone afterwards.
    (seen,) = runs(editor_log)
    assert seen.startswith("From: Me <me@example.org>\nTo: Alice Example <alice@example.org>\n")
    assert "\nSubject: Re: Lunch on Friday\n\n" in seen
    path, file_mode, dir_mode = (editor_log / "where-0").read_text().split()
    assert (file_mode, dir_mode) == ("600", "700")
    assert gone(Path(path)) and gone(Path(path).parent)


async def test_a_parse_error_reopens_the_editor_with_the_error(
    editor_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_TEST_MODES", "bad,fix")
    backend = backend_with_original()
    async with memory_app(backend) as (app, pilot):
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        await pilot.press("p")
        await wait_until(pilot, lambda: backend.postponed_drafts)
    first, second = runs(editor_log)
    assert second.startswith(f"{ERROR_PREFIX}line 1: unknown header 'Bogus'")
    # Nothing the user wrote was lost: the second run holds the first run's text.
    assert second.split("\n", 1)[1] == "Bogus: header\n" + first
    start, draft = backend.postponed_drafts[0]
    assert start.original == (1, 10, "forward")
    assert draft.subject == "Fwd: Lunch on Friday"
    assert draft.body.rstrip().endswith("Fixed in the editor.")
    assert not backend.sent_drafts


@pytest.mark.parametrize("mode", ["same", "empty"])
async def test_unchanged_or_empty_cancels(
    editor_log: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("COMPOSE_TEST_MODES", mode)
    backend = backend_with_original()
    async with memory_app(backend) as (app, pilot):
        await pilot.press("c")
        await wait_until(pilot, lambda: "Cancelled" in app.status_bar.text)
        assert not isinstance(app.screen, ConfirmBar)
    assert len(runs(editor_log)) == 1
    assert not backend.sent_drafts and not backend.postponed_drafts


async def test_giving_up_after_an_error_keeps_the_text(
    editor_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_TEST_MODES", "bad,same")
    backend = backend_with_original()
    async with memory_app(backend) as (app, pilot):
        await pilot.press("r")
        await wait_until(pilot, lambda: "kept in" in app.status_bar.text)
    kept = take_kept_file(Path((editor_log / "where-1").read_text().split()[0]))
    assert "Bogus: header" in kept and "> Shall we meet at noon?" in kept
    assert not backend.sent_drafts


async def test_edit_again_then_discard(editor_log: Path) -> None:
    backend = backend_with_original()
    async with memory_app(backend) as (app, pilot):
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        await pilot.press("e")
        await wait_until(pilot, lambda: len(runs(editor_log)) == 2)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        await pilot.press("q")
        await wait_until(pilot, lambda: "Discarded" in app.status_bar.text)
    first, second = runs(editor_log)
    # The second edit starts from the first one's result.
    assert "Written in the editor." not in first
    assert "Written in the editor." in second
    assert not backend.sent_drafts and not backend.postponed_drafts


async def test_a_failed_send_keeps_the_draft_on_the_confirm_bar(editor_log: Path) -> None:
    backend = backend_with_original()
    backend.refusal = "no recipient"
    async with memory_app(backend) as (app, pilot):
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.errors)
        assert "Sending failed: no recipient" in app.errors[0]
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        backend.refusal = None
        await pilot.press("y")
        await wait_until(pilot, lambda: backend.sent_drafts)
    assert backend.sent_drafts[0][1].body.rstrip().endswith("Written in the editor.")


async def test_enter_on_a_draft_offers_to_resume_it(editor_log: Path) -> None:
    backend = MemoryBackend(inbox_size=3, composing=True)
    drafts = backend.folder_named("Drafts")
    drafts.add(
        MemoryMessage(
            uid=7,
            date=BASE_TIME,
            subject="Half written",
            body=b"From: Me <me@example.org>\r\nTo: Bob <bob@example.org>\r\n"
            b"Subject: Half written\r\n\r\nFirst thoughts.\r\n",
        )
    )
    async with memory_app(backend) as (app, pilot):
        folder = next(f for f in app.folder_tree.folders() if f.name == "Drafts")
        app.open_folder(folder)
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeOffer))
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        await pilot.press("y")
        await wait_until(pilot, lambda: backend.sent_drafts)
    start, draft = backend.sent_drafts[0]
    assert start.draft_uid == 7 and start.original is None
    assert draft.to == ("Bob <bob@example.org>",)
    assert draft.body.startswith("First thoughts.")
    assert backend.compose_requests == [("resume", folder.id, 7)]


# -- the built-in editor -----------------------------------------------------------------------


@pytest.fixture
def no_editor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither ``$EDITOR`` nor ``$VISUAL``: the built-in editor is used."""
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    yield


async def test_builtin_editor_completes_addresses_and_paths(
    no_editor: None, tmp_path: Path
) -> None:
    attachment = tmp_path / "minutes.txt"
    attachment.write_text("minutes")
    backend = MemoryBackend(inbox_size=3, composing=True)
    backend.address_book = [("Carol Jones", "carol@example.org"), ("Dave", "dave@example.org")]
    async with memory_app(backend) as (app, pilot):
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ComposeEditor))
        editor = app.screen
        assert isinstance(editor, ComposeEditor)
        await wait_until(pilot, lambda: "ctrl+s done" in screen_text(app))
        for label in ("To", "Cc", "Bcc", "Subject", "Attach"):
            assert label in screen_text(app)
        to = editor.query_one("#to", Input)
        assert app.focused is to
        await pilot.press(*"Car")
        # The completion is shown after what was typed; the right arrow takes it.
        await wait_until(pilot, lambda: "Carol Jones <carol@example.org>" in screen_text(app))
        await pilot.press("right")
        await wait_until(pilot, lambda: to.value.endswith("<carol@example.org>"))
        editor.query_one("#subject").focus()
        await pilot.pause()
        await pilot.press(*"Minutes")
        attach = editor.query_one("#attach", Input)
        attach.focus()
        await pilot.pause()
        attach.value = f"{tmp_path}/mi"  # typing the whole path only costs time
        attach.action_end()
        await pilot.press("n")
        await wait_until(pilot, lambda: "minutes.txt" in screen_text(app))
        await pilot.press("right")
        await wait_until(pilot, lambda: attach.value == str(attachment))
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Attached: " in screen_text(app))
        editor.query_one("#body").focus()
        await pilot.pause()
        await pilot.press(*"See you")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar))
        await pilot.press("y")
        await wait_until(pilot, lambda: backend.sent_drafts)
    _, draft = backend.sent_drafts[0]
    assert draft.to == ("Carol Jones <carol@example.org>",)
    assert draft.subject == "Minutes"
    assert draft.attachments == (attachment,)
    assert draft.body == "See you"


async def test_builtin_editor_shows_errors_and_cancels(no_editor: None) -> None:
    backend = MemoryBackend(inbox_size=3, composing=True)
    async with memory_app(backend) as (app, pilot):
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ComposeEditor))
        await pilot.press(*"<not@@valid")
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#compose-error", Static)
        await wait_until(pilot, lambda: "To:" in str(error.render()))
        assert isinstance(app.screen, ComposeEditor)  # still editing: nothing lost
        await pilot.press("escape")
        await wait_until(pilot, lambda: "Cancelled" in app.status_bar.text)
    assert not backend.sent_drafts


# -- the real stack ------------------------------------------------------------------------------


async def test_reply_goes_out_over_smtp_and_answers_the_original(
    mail_user: MailUser, device: Device, tmp_path: Path, editor_log: Path
) -> None:
    device.append(
        "INBOX",
        make_message(
            1,
            subject="Question for you",
            sender="Alice Example <alice@example.org>",
            message_id="<question@example.org>",
        ),
    )
    (uid,) = device.uids("INBOX")
    port = free_port()
    config_file = write_config(mail_user, tmp_path, port)
    config = parse_config(config_file.read_text(encoding="utf-8"), config_file)
    settings = SyncSettings(prefetch="none", backoff_initial=0.2, backoff_max=2.0)
    store = await Store.open(store_path(tmp_path))
    try:
        async with (
            smtp_on(port, mail_user) as smtp,
            StoreBackend(config, store, lock_dir=tmp_path / "locks", settings=settings) as backend,
        ):
            app = MailApp(backend)
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(pilot, lambda: "Question for you" in screen_text(app), within=15)
                await backend.wait_live()
                pairs = await address_pairs(store, (await backend.accounts())[0].id)
                assert ("Alice Example", "alice@example.org") in pairs
                await pilot.press("r")
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar), within=15)
                await pilot.press("y")
                await wait_until(pilot, lambda: smtp.received, within=20)
                await wait_until(
                    pilot, lambda: "\\Answered" in device.flags("INBOX")[uid], within=20
                )
        (received,) = smtp.received
        assert received.rcpt_tos == ["alice@example.org"]
        assert b"In-Reply-To: <question@example.org>" in received.content
        assert b"Written in the editor." in received.content
    finally:
        await store.close()


async def test_postpone_then_resume_and_send_on_the_real_stack(
    mail_user: MailUser,
    device: Device,
    tmp_path: Path,
    editor_log: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPOSE_TEST_MODES", "to,append")
    device.append("INBOX", make_message(1, subject="Something to list"))
    port = free_port()
    config_file = write_config(mail_user, tmp_path, port)
    config = parse_config(config_file.read_text(encoding="utf-8"), config_file)
    settings = SyncSettings(prefetch="none", backoff_initial=0.2, backoff_max=2.0)
    store = await Store.open(store_path(tmp_path))
    try:
        async with (
            smtp_on(port, mail_user) as smtp,
            StoreBackend(config, store, lock_dir=tmp_path / "locks", settings=settings) as backend,
        ):
            app = MailApp(backend)
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(pilot, lambda: "Something to list" in screen_text(app), within=15)
                await backend.wait_live()
                await pilot.press("c")
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar), within=15)
                await pilot.press("p")
                await wait_until(pilot, lambda: len(device.uids("Drafts")) == 1, within=20)
                drafts = next(f for f in app.folder_tree.folders() if f.name == "Drafts")
                app.open_folder(drafts)
                await wait_until(pilot, lambda: "Plans" in screen_text(app), within=15)
                await pilot.press("enter")
                await wait_until(pilot, lambda: isinstance(app.screen, ResumeOffer))
                await pilot.press("e")
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmBar), within=15)
                await pilot.press("y")
                await wait_until(pilot, lambda: smtp.received, within=20)
                # Sent: the draft it came from is removed from the server.
                await wait_until(pilot, lambda: not device.uids("Drafts"), within=20)
        (received,) = smtp.received
        assert received.rcpt_tos == ["bob@example.org"]
        assert b"Postponed here." in received.content
        assert b"Written in the editor." in received.content
        # The resumed draft was given to the editor as it was saved.
        assert "To: Bob <bob@example.org>" in runs(editor_log)[1]
    finally:
        await store.close()
