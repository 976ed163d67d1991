"""The first-run setup screen: an IMAP account form that tests the login before it saves.

`SetupScreen` collects the account, renders and validates it with ``sync.setup_check`` (the
config parser has the last word, so the screen can never save a file mailtui would refuse),
tests the login in a worker (the screen stays live; Esc cancels the test) and writes the config
file only when the login worked. `SetupApp` shows it on its own and returns the written path
(None when the user quit); `run_setup` runs that app.

Empty fields take the default shown in grey (guessed from the email address: ``imap.<domain>``,
the email as user name, the port that goes with the security). Every label and message reaches
a widget as `Content`/`Text`; what the user typed or the server said is cleaned first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final, cast

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from sync.config import (
    AccountConfig,
    ConfigError,
    Secret,
    Security,
    default_imap_port,
    default_smtp_port,
)
from sync.setup_check import (
    DEFAULT_CHECK_TIMEOUT,
    AccountDraft,
    CheckResult,
    Problem,
    account_slug,
    check_login,
    draft_config,
    suggest,
    suggest_smtp_host,
    write_config,
)
from tui.text import clean

__all__ = ["SetupApp", "SetupScreen", "run_setup"]

_SECURITY_OPTIONS: Final[list[tuple[Text, Security]]] = [
    (Text("TLS"), "tls"),
    (Text("STARTTLS"), "starttls"),
    (Text("none"), "none"),
]
_PASSWORD_OPTIONS: Final[list[tuple[Text, str]]] = [
    (Text("from a command"), "command"),
    (Text("typed here"), "typed"),
]
_SPINNER: Final = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_PINNABLE: Final = frozenset(
    {
        Problem.UNTRUSTED_CERTIFICATE,
        Problem.CERTIFICATE_NAME_MISMATCH,
        Problem.CERTIFICATE_EXPIRED,
        Problem.FINGERPRINT_MISMATCH,
    }
)
# Config keys (after "accounts.NAME.") to the field that holds them and its label.
_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "email": ("email", "Email"),
    "name": ("display-name", "Name"),
    "imap_host": ("imap-host", "IMAP host"),
    "imap_port": ("imap-port", "IMAP port"),
    "imap_security": ("imap-security", "IMAP security"),
    "username": ("username", "User name"),
    "password_command": ("password-command", "Password command"),
    "password": ("password", "Password"),
    "ca_file": ("ca-file", "CA file"),
    "fingerprint": ("fingerprint", "Fingerprint"),
    "smtp_host": ("smtp-host", "SMTP host"),
    "smtp_port": ("smtp-port", "SMTP port"),
    "smtp_security": ("smtp-security", "SMTP security"),
}
_TYPED_PASSWORD_WARNING: Final = (
    "A typed password is saved in the config file in plain text: the file is private to you "
    "(mode 0600), but backups and anything running as you can read it. Safer: a command that "
    "prints it (pass show mail/me), or the system keyring (pip install keyring; keyring set "
    "mailtui ACCOUNT; then keyring = true in the config)."
)


@dataclass(frozen=True, slots=True)
class _Invalid:
    """A form problem found before testing: which field, and what to say."""

    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a test-and-save run ended with: the check, and the file written (or why not)."""

    result: CheckResult
    written: Path | None = None
    write_error: str | None = None


def _label(text: str, classes: str = "field-label") -> Label:
    return Label(Content(text), classes=classes)


class SetupScreen(Screen[Path | None]):
    """The account form. Dismisses with the written config path, or None when the user quits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Quit (or cancel the test)", show=True),
        Binding("ctrl+s", "test_and_save", "Test and save", show=True),
    ]

    DEFAULT_CSS = """
    SetupScreen { align: center top; }
    SetupScreen #setup-form { width: 100%; max-width: 110; height: 1fr; padding: 0 1; }
    SetupScreen #setup-intro { margin: 1 0; color: $text-muted; }
    SetupScreen .row { height: auto; margin-bottom: 1; }
    SetupScreen .field-label { width: 18; padding-right: 1; text-align: right; }
    SetupScreen .narrow-label { width: auto; padding: 0 1 0 2; }
    SetupScreen Input { width: 1fr; }
    SetupScreen .port { width: 8; }
    SetupScreen Select { width: 16; }
    SetupScreen #password-source { width: 20; }
    SetupScreen .note { margin-left: 18; color: $text-warning; }
    SetupScreen Checkbox { margin: 0 0 1 18; }
    SetupScreen #setup-buttons { height: auto; margin: 0 0 1 18; }
    SetupScreen #setup-buttons Button { margin-right: 2; }
    SetupScreen #setup-progress { margin-left: 18; color: $text-accent; }
    SetupScreen #setup-status { margin-left: 18; height: auto; }
    """

    def __init__(self, config_path: Path, *, step_limit: float = DEFAULT_CHECK_TIMEOUT) -> None:
        super().__init__()
        self.config_path = config_path
        self.step_limit = step_limit
        self._worker: Worker[_Outcome] | None = None
        self._spin = 0
        self._progress_text = ""
        self._last_result: CheckResult | None = None
        self._spinner: Timer | None = None

    # --- layout ---

    def compose(self) -> ComposeResult:
        """The form, the buttons, the progress line and the result."""
        with VerticalScroll(id="setup-form"):
            yield Static(
                Content.assemble(
                    ("Set up your mail account", "bold $text"),
                    "\n",
                    "No config file yet. Fill in your IMAP account; ",
                    ("Test and save", "bold"),
                    " logs in once and writes ",
                    (clean(str(self.config_path), max_length=200), "bold"),
                    " only if the login works. A field left empty takes the grey default.",
                ),
                id="setup-intro",
            )
            with Horizontal(classes="row"):
                yield _label("Email")
                yield Input(placeholder="me@example.org", id="email", compact=True)
                yield _label("Name", "narrow-label")
                yield Input(placeholder="optional", id="display-name", compact=True)
            with Horizontal(classes="row"):
                yield _label("IMAP host")
                yield Input(placeholder="imap.example.org", id="imap-host", compact=True)
                yield _label("Port", "narrow-label")
                yield Input(
                    placeholder="993", type="integer", id="imap-port", classes="port", compact=True
                )
                yield _label("Security", "narrow-label")
                yield Select(
                    _SECURITY_OPTIONS,
                    value="tls",
                    allow_blank=False,
                    id="imap-security",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield _label("User name")
                yield Input(placeholder="the email", id="username", compact=True)
            with Horizontal(classes="row"):
                yield _label("Password")
                yield Select(
                    _PASSWORD_OPTIONS,
                    value="command",
                    allow_blank=False,
                    id="password-source",
                    compact=True,
                )
                yield Input(
                    placeholder="a command that prints it, e.g. pass show mail/me",
                    id="password-command",
                    compact=True,
                )
                yield Input(password=True, id="password", compact=True)
            yield Static(Content(_TYPED_PASSWORD_WARNING), id="password-warning", classes="note")
            yield Checkbox(
                Content("Save the typed password in the config file"),
                id="store-password",
                compact=True,
            )
            with Horizontal(classes="row"):
                yield _label("CA file")
                yield Input(
                    placeholder="optional: the CA that signed a private server's certificate",
                    id="ca-file",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield _label("Fingerprint")
                yield Input(
                    placeholder="optional: pin the server certificate's SHA-256",
                    id="fingerprint",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield _label("SMTP host")
                yield Input(placeholder="smtp.example.org", id="smtp-host", compact=True)
                yield _label("Port", "narrow-label")
                yield Input(
                    placeholder="465", type="integer", id="smtp-port", classes="port", compact=True
                )
                yield _label("Security", "narrow-label")
                yield Select(
                    _SECURITY_OPTIONS,
                    value="tls",
                    allow_blank=False,
                    id="smtp-security",
                    compact=True,
                )
            yield Checkbox(
                Content("Allow no encryption to a host other than this computer"),
                id="allow-insecure",
                compact=True,
            )
            with Horizontal(classes="row"):
                yield _label("Account name")
                yield Input(placeholder="mail", id="account-name", compact=True)
            with Horizontal(id="setup-buttons"):
                yield Button(Content("Test and save"), variant="primary", id="test-save")
                yield Button(Content("Pin this certificate"), id="pin")
                yield Button(Content("Cancel test"), id="cancel-test")
                yield Button(Content("Quit"), id="quit")
            yield Static(id="setup-progress")
            yield Static(id="setup-status")
        yield Footer()

    def on_mount(self) -> None:
        """Start on the email field with the command password source shown."""
        self._show_password_fields()
        self._show_insecure_box()
        self._set_busy(False)
        self.query_one("#pin", Button).display = False
        self.query_one("#email", Input).focus()

    # --- defaults that follow what is typed ---

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def _security(self, field: str) -> Security:
        return cast(Security, self.query_one(f"#{field}", Select).value)

    @on(Input.Changed, "#email")
    @on(Input.Changed, "#imap-host")
    def _refresh_placeholders(self) -> None:
        email = self._value("email")
        guess = suggest(email)
        self.query_one("#imap-host", Input).placeholder = clean(
            guess.imap_host or "imap.example.org"
        )
        self.query_one("#username", Input).placeholder = clean(email or "the email")
        self.query_one("#account-name", Input).placeholder = clean(guess.account)
        imap_host = self._value("imap-host") or guess.imap_host
        self.query_one("#smtp-host", Input).placeholder = clean(
            suggest_smtp_host(imap_host) or "smtp.example.org"
        )

    @on(Select.Changed, "#imap-security")
    @on(Select.Changed, "#smtp-security")
    def _security_changed(self) -> None:
        self.query_one("#imap-port", Input).placeholder = str(
            default_imap_port(self._security("imap-security"))
        )
        self.query_one("#smtp-port", Input).placeholder = str(
            default_smtp_port(self._security("smtp-security"))
        )
        self._show_insecure_box()

    def _show_insecure_box(self) -> None:
        insecure = "none" in (self._security("imap-security"), self._security("smtp-security"))
        self.query_one("#allow-insecure", Checkbox).display = insecure

    @on(Select.Changed, "#password-source")
    def _show_password_fields(self) -> None:
        typed = self.query_one("#password-source", Select).value == "typed"
        self.query_one("#password-command", Input).display = not typed
        self.query_one("#password", Input).display = typed
        self.query_one("#password-warning", Static).display = typed
        self.query_one("#store-password", Checkbox).display = typed

    # --- the form as a draft ---

    def _port(self, field: str, default: int) -> int | _Invalid:
        text = self._value(field)
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            return _Invalid(field, "A port is a number from 1 to 65535.")

    def _ca_file(self) -> str:
        # The config reads a relative path from the config file's directory; the user typed
        # it relative to where mailtui runs. "~/..." stays as typed (portable).
        text = self._value("ca-file")
        if not text or text.startswith("~") or Path(text).is_absolute():
            return text
        return str(Path(text).absolute())

    def _draft(self) -> AccountDraft | _Invalid:
        email = self._value("email")
        if not email:
            return _Invalid("email", "Type your email address first.")
        guess = suggest(email)
        imap_security = self._security("imap-security")
        imap_port = self._port("imap-port", default_imap_port(imap_security))
        if isinstance(imap_port, _Invalid):
            return imap_port
        smtp_security = self._security("smtp-security")
        smtp_port = self._port("smtp-port", default_smtp_port(smtp_security))
        if isinstance(smtp_port, _Invalid):
            return smtp_port
        imap_host = self._value("imap-host") or guess.imap_host
        if not imap_host:
            return _Invalid("imap-host", "Type the IMAP server's host name.")
        password: Secret | None = None
        command = ""
        if self.query_one("#password-source", Select).value == "typed":
            typed = self.query_one("#password", Input).value
            if not typed:
                return _Invalid("password", "Type the password.")
            if not self.query_one("#store-password", Checkbox).value:
                return _Invalid(
                    "store-password",
                    "A typed password can only be kept in the config file: tick the box to "
                    "accept that, or get it from a command instead (safer).",
                )
            password = Secret(typed)
        else:
            command = self._value("password-command")
            if not command:
                return _Invalid(
                    "password-command",
                    "Give a command that prints the password (e.g. pass show mail/me), or "
                    "choose to type the password.",
                )
        return AccountDraft(
            account=account_slug(self._value("account-name") or guess.account),
            email=email,
            display_name=self._value("display-name"),
            imap_host=imap_host,
            imap_port=imap_port,
            imap_security=imap_security,
            username=self._value("username"),
            password_command=command,
            password=password,
            ca_file=self._ca_file(),
            fingerprint=self._value("fingerprint"),
            allow_insecure=self.query_one("#allow-insecure", Checkbox).value,
            smtp_host=self._value("smtp-host") or suggest_smtp_host(imap_host),
            smtp_port=smtp_port,
            smtp_security=smtp_security,
        )

    def _config_problem(self, draft: AccountDraft, error: ConfigError) -> _Invalid:
        """Say what the config parser refused, next to the field it is about."""
        place = f"accounts.{draft.account}"
        key = (error.key or "").removeprefix(place).removeprefix(".")
        if key in ("imap_security", "smtp_security"):
            return _Invalid(
                _FIELDS[key][0],
                "No encryption sends the password in clear: it is allowed only to this "
                "computer (localhost), unless you tick the box that allows it.",
            )
        if key in _FIELDS:
            field, label = _FIELDS[key]
            return _Invalid(field, f"{label}: {error.problem}")
        if error.key == place:  # no password source, or a bad account name
            return _Invalid("password-command", error.problem)
        return _Invalid(None, error.problem)

    # --- actions ---

    @on(Button.Pressed, "#test-save")
    @on(Input.Submitted)
    def action_test_and_save(self) -> None:
        """Validate the form, then test the login and save in a worker."""
        if self._worker is not None and self._worker.is_running:
            return
        draft = self._draft()
        if isinstance(draft, _Invalid):
            self._show_invalid(draft)
            return
        try:
            text, config = draft_config(draft, self.config_path)
        except ConfigError as exc:
            self._show_invalid(self._config_problem(draft, exc))
            return
        except ValueError:
            self._show_invalid(_Invalid(None, "A field holds characters that are not text."))
            return
        account = config.accounts[0]
        self._set_busy(True, f"Testing the login on {account.imap_host} port {account.imap_port}…")
        self._worker = self.run_worker(
            self._test_and_save(text, account),
            group="setup-check",
            exclusive=True,
            exit_on_error=False,
        )

    async def _test_and_save(self, text: str, account: AccountConfig) -> _Outcome:
        result = await check_login(account, step_limit=self.step_limit)
        if not result.ok:
            return _Outcome(result)
        # Written on the event loop on purpose: a few-hundred-byte file, and no await between
        # "the login worked" and "the file exists", so a late cancel cannot split the two.
        try:
            written = write_config(self.config_path, text)
        except FileExistsError:
            return _Outcome(
                result,
                write_error=f"A config file appeared at {self.config_path} meanwhile; it was "
                "left as it is and nothing was written.",
            )
        except OSError as exc:
            return _Outcome(
                result,
                write_error=f"The config file could not be written to {self.config_path}: "
                f"{exc.strerror or exc}.",
            )
        return _Outcome(result, written=written)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show how the test ended; dismiss with the path once the file is written."""
        if event.worker is not self._worker or not event.worker.is_finished:
            return
        self._set_busy(False)
        if event.state == WorkerState.SUCCESS:
            outcome = cast(_Outcome, event.worker.result)
            if outcome.written is not None:
                self.dismiss(outcome.written)
                return
            if outcome.write_error is not None:
                self._show_message("Login works, but the file was not saved", outcome.write_error)
            else:
                self._show_result(outcome.result)
        elif event.state == WorkerState.CANCELLED:
            self._show_message("Test cancelled", "Nothing was saved.", error=False)
        else:
            error = event.worker.error
            self._show_message(
                "The test failed unexpectedly",
                f"{type(error).__name__}: {error}. Nothing was saved.",
            )

    @on(Button.Pressed, "#pin")
    def _pin(self) -> None:
        result = self._last_result
        if result is None or result.fingerprint is None:
            return
        self.query_one("#fingerprint", Input).value = result.fingerprint
        self.query_one("#pin", Button).display = False
        self._show_message(
            "Certificate pinned",
            f"The fingerprint {result.fingerprint} is now in the form; Test and save tries "
            "again with it.",
            error=False,
        )
        self.query_one("#test-save", Button).focus()

    @on(Button.Pressed, "#cancel-test")
    def _cancel_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#quit")
    def _quit_pressed(self) -> None:
        self.dismiss(None)

    def action_back(self) -> None:
        """Esc: cancel a running test, else quit without writing anything."""
        if self._worker is not None and self._worker.is_running:
            self._worker.cancel()
            return
        self.dismiss(None)

    # --- showing state ---

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._progress_text = text
        self.query_one("#test-save", Button).disabled = busy
        self.query_one("#cancel-test", Button).display = busy
        progress = self.query_one("#setup-progress", Static)
        progress.display = busy
        if busy:
            self.query_one("#pin", Button).display = False
            self.query_one("#setup-status", Static).update(Content(""))
            self._spin = 0
            self._tick()
            self._spinner = self.set_interval(0.1, self._tick)
        elif self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def _tick(self) -> None:
        frame = _SPINNER[self._spin % len(_SPINNER)]
        self._spin += 1
        self.query_one("#setup-progress", Static).update(
            Content.assemble(
                (frame, "bold"),
                " ",
                clean(self._progress_text, max_length=300),
                ("   Esc cancels", "dim"),
            )
        )

    def _show_invalid(self, invalid: _Invalid) -> None:
        self._show_message("Not tested yet", invalid.message)
        if invalid.field is not None:
            self.query_one(f"#{invalid.field}").focus()

    def _show_message(self, headline: str, text: str, *, error: bool = True) -> None:
        style = "bold $text-error" if error else "bold $text-success"
        status = self.query_one("#setup-status", Static)
        status.update(
            Content.assemble(
                (clean(headline), style), "\n", clean(text, single_line=False, max_length=2000)
            )
        )
        status.scroll_visible(animate=False)  # over SSH an animation only costs frames

    def _show_result(self, result: CheckResult) -> None:
        self._last_result = result
        parts: list[str | tuple[str, str]] = [
            (clean(result.headline), "bold $text-error"),
            "\n",
            clean(result.explanation, max_length=2000),
        ]
        if result.server_said:
            parts += ["\n", ("The server said: ", "bold"), clean(result.server_said)]
        if result.fingerprint:
            parts += ["\n", ("Fingerprint: ", "bold"), clean(result.fingerprint)]
        if result.detail:
            parts += ["\n", (clean(result.detail), "dim")]
        if result.problem is Problem.PASSWORD_COMMAND:
            self.query_one("#password-command").focus()
        status = self.query_one("#setup-status", Static)
        status.update(Content.assemble(*parts))
        status.scroll_visible(animate=False)  # over SSH an animation only costs frames
        pin = self.query_one("#pin", Button)
        pin.display = result.problem in _PINNABLE and result.fingerprint is not None


class SetupApp(App[Path | None]):
    """A small app that shows only the setup screen; returns the written path or None."""

    TITLE = "mailtui setup"

    def __init__(self, config_path: Path, *, step_limit: float = DEFAULT_CHECK_TIMEOUT) -> None:
        super().__init__()
        self.config_path = config_path
        self.step_limit = step_limit

    def on_mount(self) -> None:
        """Show the form; its result is the app's."""
        self.push_screen(
            SetupScreen(self.config_path, step_limit=self.step_limit), callback=self._done
        )

    def _done(self, written: Path | None) -> None:
        self.exit(written)


def run_setup(config_path: Path) -> Path | None:
    """Run the setup app in the terminal; return the config file written, or None if none was."""
    return SetupApp(config_path).run()
