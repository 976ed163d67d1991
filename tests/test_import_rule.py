"""The import rule: ``sync`` is a library that never loads Textual, Rich or ``tui``, and the
headless commands never load Textual.

Three independent checks, each robust to modules added later: every ``sync`` module imported
in a fresh interpreter; a static scan of every ``.py`` under ``sync/`` (which also sees imports
inside functions); and the real headless commands run in a subprocess.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYNC = REPO / "sync"
# What sync must not import (top-level package names).
FORBIDDEN = frozenset({"textual", "tui", "rich"})
# What a headless command must not load.
UI_ONLY = frozenset({"textual", "rich"})
_IMPORTERS = frozenset({"import_module", "__import__"})


def _forbidden(name: str) -> bool:
    return name.split(".")[0] in FORBIDDEN


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# (a) every module of sync, imported for real ---------------------------------------------------

_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import sync
FORBIDDEN = {"textual", "tui", "rich"}
culprits = {}
names = []
errors = {}
# A package that fails to import hides its submodules from the walk: record, never skip.
for info in pkgutil.walk_packages(sync.__path__, "sync.", onerror=lambda name: None):
    before = set(sys.modules)
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        errors[info.name] = f"{type(exc).__name__}: {exc}"
        continue
    names.append(info.name)
    new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in FORBIDDEN)
    if new:
        culprits[info.name] = new
print(json.dumps({"modules": names, "culprits": culprits, "errors": errors,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)}))
"""


def test_every_sync_module_imports_without_ui() -> None:
    result = json.loads(_python(_IMPORT_ALL))
    on_disk = {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in SYNC.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    on_disk.discard("sync")
    assert result["errors"] == {}
    # The walk really covered the package: every module file on disk was imported.
    assert on_disk <= set(result["modules"]), on_disk - set(result["modules"])
    assert result["culprits"] == {}
    assert result["loaded"] == []


# (b) a static scan, which also sees imports in functions and lazy import_module calls --------


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """Return ``line: module`` for each import of a forbidden package in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _IMPORTERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names = [first.value]
        line = getattr(node, "lineno", 0)  # only statements and expressions reach here
        found.extend(f"{line}: {name}" for name in names if _forbidden(name))
    return found


def test_scanner_finds_every_form() -> None:
    source = (
        "import os, textual.app\n"
        "from tui.cli import main\n"
        "def later():\n"
        "    from rich.text import Text\n"
        "    importlib.import_module('textual')\n"
        "    __import__('tui.app')\n"
        "from . import tui\n"  # relative: our own sync.tui, not the front end
        "import textualize_other\n"
    )
    assert forbidden_imports(source) == [
        "1: textual.app",
        "2: tui.cli",
        "4: rich.text",
        "5: textual",
        "6: tui.app",
    ]


def test_no_sync_file_imports_ui() -> None:
    files = sorted(path for path in SYNC.rglob("*.py") if "__pycache__" not in path.parts)
    assert len(files) >= 5  # the scan really ran over the package
    offenders = {
        str(path.relative_to(REPO)): hits
        for path in files
        if (hits := forbidden_imports(path.read_text(encoding="utf-8"), str(path)))
    }
    assert offenders == {}


# (c) the headless commands, in a real process -------------------------------------------------

_RUN_MAIN = """
import json, sys
from tui.cli import main
status = main(sys.argv[1:])
sys.stdout.flush()
print("\\nMODULES " + json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def _run_main(argv: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    out = _python(_RUN_MAIN, *argv, env=env)
    result = json.loads(out.rsplit("\nMODULES ", 1)[1])
    return result["status"], {name.split(".")[0] for name in result["modules"]}


@pytest.fixture
def headless_env(tmp_path: Path) -> dict[str, str]:
    """A config and a store with one folder, so ``folders`` and ``list`` do their full work."""
    from sync.store import Store

    async def fill(path: Path) -> None:
        store = await Store.open(path)
        try:
            async with store.write() as w:
                account = await w.ensure_account("personal", "me@example.org")
                await w.upsert_folder(
                    account, "INBOX", display_name="Inbox", delimiter="/", special_use=None
                )
        finally:
            await store.close()

    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(fill(data / "mailtui.sqlite3"))
    config = tmp_path / "config.toml"
    config.write_text(
        '[accounts.personal]\nemail = "me@example.org"\nimap_host = "imap.example.org"\n'
        'password_command = "true"\n'
    )
    return {"MAILTUI_CONFIG": str(config), "MAILTUI_DATA_DIR": str(data)}


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--version"], 0),
        (["--help"], 0),
        (["list", "--help"], 0),
        (["folders"], 0),
        (["folders", "--json"], 0),
        (["list", "INBOX", "--json"], 0),
        (["queue"], 0),
        (["queue", "--json"], 0),
        (["folder", "create", "New"], 0),
        (["folder", "delete", "Inbox"], 2),
    ],
)
def test_headless_commands_never_load_textual(
    argv: list[str], status: int, headless_env: dict[str, str]
) -> None:
    got_status, loaded = _run_main(argv, headless_env)
    assert got_status == status
    assert "sync" in loaded and "tui" in loaded  # the dump is real
    assert loaded & UI_ONLY == set()


# Modules of tui that headless commands import; they exist once their command is built.
HEADLESS_TUI_MODULES = ("tui.cli", "tui.sync_command")


def test_headless_tui_modules_never_load_textual() -> None:
    present = [m for m in HEADLESS_TUI_MODULES if importlib.util.find_spec(m) is not None]
    assert "tui.cli" in present
    code = (
        "import importlib, json, sys\n"
        f"for name in {present!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = {name.split(".")[0] for name in json.loads(_python(code))}
    assert "tui" in loaded and loaded & UI_ONLY == set()


def test_console_entry_under_importtime(headless_env: dict[str, str]) -> None:
    # -X importtime lists every module the real entry point imports, on stderr.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tui.cli", "folders", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **headless_env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "sync" in imported and "aiosqlite" in imported  # the listing is real
    assert imported & UI_ONLY == set()
