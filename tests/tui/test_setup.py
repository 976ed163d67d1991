"""The first-run setup screen, driven with Pilot against the private Dovecot.

The form is filled as a user would, "Test and save" logs in for real, and the assertions are on
the file system (written or not, its mode, whether mailtui can load it) and on what the screen
shows.
"""

from __future__ import annotations

import shlex
import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Input

from sync.config import load_config
from sync.dovecot import MailUser
from sync.setup_check import format_fingerprint
from tests.tui.helpers import fill_form, focused_id, screen_text, wait_until
from tests.tui.scenes import SETUP
from tui.screens.setup import SetupApp, SetupScreen

SIZE = (110, 46)


def _config_path(tmp_path: Path) -> Path:
    # Two missing levels: both must be created private.
    return tmp_path / "home" / "mailtui" / "config.toml"


def _print_command(password: str) -> str:
    return f"printf '%s\\n' {shlex.quote(password)}"


def _shown(widget: Widget) -> bool:
    """Whether ``widget`` is displayed (a function, so type narrowing does not stick)."""
    return bool(widget.display)


def _status(app: SetupApp) -> str:
    return str(app.screen.query_one("#setup-status").render())


async def _type(pilot: Pilot[Path | None], field: str, text: str) -> None:
    pilot.app.screen.query_one(f"#{field}", Input).focus()
    await pilot.press(*text)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose kernel accepts connections for a server that never speaks."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock.getsockname()[1]


async def test_filled_form_logs_in_and_writes_a_private_loadable_config(
    tmp_path: Path, mail_user: MailUser
) -> None:
    server = mail_user.server
    path = _config_path(tmp_path)
    app = SetupApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert focused_id(app) == "email"
        await _type(pilot, "email", "me@example.org")
        await pilot.pause()
        # The empty fields show the defaults guessed from the email.
        assert app.screen.query_one("#imap-host", Input).placeholder == "imap.example.org"
        assert app.screen.query_one("#smtp-host", Input).placeholder == "smtp.example.org"
        await fill_form(
            pilot,
            display_name="Me Myself",
            imap_host=server.host,
            imap_port=str(server.imap_port),
            imap_security="starttls",
            username=mail_user.username,
            password_command=_print_command(mail_user.password),
            ca_file=str(server.ca_file),
        )
        await pilot.pause()
        await pilot.click("#test-save")
        await wait_until(pilot, lambda: app.return_value is not None, within=10)
    assert app.return_value == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    (account,) = load_config(path).accounts
    assert account.name == "example"
    assert account.email == "me@example.org"
    assert account.display_name == "Me Myself"
    assert (account.imap_host, account.imap_port, account.imap_security) == (
        server.host,
        server.imap_port,
        "starttls",
    )
    assert account.username == mail_user.username
    assert account.password_source.command == _print_command(mail_user.password)
    assert account.ca_file == server.ca_file
    # SMTP defaults derived from the IMAP host.
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        server.host,
        465,
        "tls",
    )


async def test_refused_login_is_explained_on_screen_and_nothing_is_written(
    tmp_path: Path, mail_user: MailUser
) -> None:
    server = mail_user.server
    path = _config_path(tmp_path)
    app = SetupApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(
            pilot,
            email="me@example.org",
            imap_host=server.host,
            imap_port=str(server.imap_port),
            imap_security="none",  # allowed: a loopback host
            username=mail_user.username,
            password_command=_print_command("wrong-password"),
        )
        await pilot.click("#test-save")
        await wait_until(pilot, lambda: "refused the login" in _status(app), within=10)
        status = _status(app)
        assert "Authentication failed" in status, status  # the server's words
        # The explanation is in the widget; the screen shows it once scrolled into view.
        await wait_until(pilot, lambda: "Authentication failed" in screen_text(app), within=5)
        text = screen_text(app)
        assert "The server refused the login" in text
        assert "Authentication failed" in text  # the server's words
        assert "wrong-password" not in _status(app)  # the secret is never in a message
        assert not app.screen.query_one("#test-save", Button).disabled
        assert isinstance(app.screen, SetupScreen)  # still open, for another try
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.is_running, within=5)
    assert app.return_value is None
    assert not path.exists()
    assert not path.parent.exists()


async def test_untrusted_certificate_offers_the_pin_and_saves_with_it(
    tmp_path: Path, mail_user: MailUser
) -> None:
    server = mail_user.server
    path = _config_path(tmp_path)
    app = SetupApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(
            pilot,
            email="me@example.org",
            imap_host=server.host,
            imap_port=str(server.imaps_port),
            username=mail_user.username,
            password_command=_print_command(mail_user.password),
        )
        pin = app.screen.query_one("#pin", Button)
        assert not _shown(pin)
        await pilot.click("#test-save")
        await wait_until(pilot, lambda: "not trusted" in _status(app), within=10)
        seen = format_fingerprint(ssl.PEM_cert_to_DER_cert(server.ca_file.read_text()))
        assert seen in _status(app)
        assert "not signed by an authority" in _status(app)
        assert not path.exists()
        assert _shown(pin)
        await pilot.click("#pin")
        await pilot.pause()
        assert app.screen.query_one("#fingerprint", Input).value == seen
        await pilot.click("#test-save")
        await wait_until(pilot, lambda: app.return_value is not None, within=10)
    (account,) = load_config(path).accounts
    assert account.fingerprint == seen.removeprefix("sha256:").replace(":", "").lower()


async def test_a_running_test_can_be_cancelled_and_the_screen_stays_live(
    tmp_path: Path, silent_port: int
) -> None:
    path = _config_path(tmp_path)
    app = SetupApp(path, step_limit=30)
    async with app.run_test(size=SIZE) as pilot:
        await fill_form(
            pilot,
            email="me@example.org",
            imap_host="127.0.0.1",
            imap_port=str(silent_port),
            imap_security="none",
            password_command="true",
        )
        await pilot.click("#test-save")
        progress = app.screen.query_one("#setup-progress")
        await wait_until(pilot, lambda: _shown(progress))
        first = str(progress.render())
        assert "Testing the login on 127.0.0.1" in first
        await pilot.pause(0.25)  # time passes (the server never answers): the spinner turns
        assert str(progress.render()) != first  # the spinner turns: the UI is not frozen
        assert app.screen.query_one("#test-save", Button).disabled
        await pilot.press("escape")  # cancels the test, does not quit
        await wait_until(pilot, lambda: "Test cancelled" in _status(app))
        assert not _shown(progress)
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("escape")  # now quits
        await wait_until(pilot, lambda: not app.is_running, within=5)
    assert app.return_value is None
    assert not path.exists()


async def test_form_problems_are_shown_at_their_field_before_any_test(tmp_path: Path) -> None:
    path = _config_path(tmp_path)
    app = SetupApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#test-save")
        await pilot.pause()
        assert "Type your email address" in _status(app)
        assert focused_id(app) == "email"

        # No encryption to a remote host needs the explicit box.
        await fill_form(
            pilot,
            email="me@example.org",
            imap_security="none",
            password_command="pass show mail/me",
        )
        await pilot.pause()
        assert _shown(app.screen.query_one("#allow-insecure"))
        await pilot.click("#test-save")
        await pilot.pause()
        assert "No encryption sends the password in clear" in _status(app)
        assert focused_id(app) == "imap-security"

        # A typed password is only kept with consent.
        await fill_form(pilot, imap_security="tls", password_source="typed")
        await pilot.pause()
        assert _shown(app.screen.query_one("#password-warning"))
        await fill_form(pilot, password="hunter2")
        await pilot.click("#test-save")
        await pilot.pause()
        assert "tick the box" in _status(app)
        assert focused_id(app) == "store-password"

        # The config parser's own checks, in words, at the field; user text shown literally.
        await fill_form(pilot, password_source="command", imap_port="70000")
        await pilot.click("#test-save")
        await pilot.pause()
        assert "IMAP port: must be a port number from 1 to 65535" in _status(app)
        assert focused_id(app) == "imap-port"
        await fill_form(
            pilot, imap_port="", email="[@click=app.quit] x[/]", imap_host="imap.example.org"
        )
        await pilot.click("#test-save")
        await pilot.pause()
        assert "Email: is not an address: '[@click=app.quit] x[/]'" in _status(app)
        assert app.is_running
    assert not path.exists()


async def test_screenshot() -> None:
    """screenshots/setup.svg's scene (``make screenshots`` draws it): the setup form filled in
    for me@example.org, after "Test and save" found nothing listening on the chosen port: the
    explanation under the buttons.

    Port 1 on this computer keeps the picture the same on every run (no random test port).
    """
    app = SETUP.make_app()
    async with app.run_test(size=SETUP.size) as pilot:
        text = await SETUP.drive(pilot)
    assert "refused the connection" in text
