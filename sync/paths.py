"""Where mailtui keeps its files: the one module that knows the paths (on platformdirs).

Order of precedence, most specific first:

- the config file: ``--config PATH``, then env ``MAILTUI_CONFIG``, then the platform's user
  config dir (``~/.config/mailtui/config.toml`` on Linux);
- the data dir (store, caches): env ``MAILTUI_DATA_DIR``, then the config's ``data_dir``, then
  the platform's user data dir (``~/.local/share/mailtui`` on Linux);
- logs: ``<data dir>/logs`` when the data dir was overridden (so one setting moves everything,
  which keeps tests and second profiles apart), else the platform's user log dir.

Nothing here creates a directory or touches the disk: callers create what they write into.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from sync.config import Config

__all__ = [
    "APP_NAME",
    "CONFIG_ENV",
    "DATA_DIR_ENV",
    "STORE_FILENAME",
    "cache_dir",
    "config_path",
    "data_dir",
    "data_dir_overridden",
    "log_dir",
    "store_path",
]

APP_NAME = "mailtui"
CONFIG_ENV = "MAILTUI_CONFIG"
DATA_DIR_ENV = "MAILTUI_DATA_DIR"
STORE_FILENAME = "mailtui.sqlite3"


def _from_env(name: str) -> Path | None:
    """Return the path in env ``name`` (``~`` expanded, made absolute), or None when unset/empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    return Path(value).expanduser().absolute()


def config_path(override: str | None = None) -> Path:
    """Return the config file: ``override``, then env ``MAILTUI_CONFIG``, then the default."""
    if override:
        return Path(override).expanduser().absolute()
    from_env = _from_env(CONFIG_ENV)
    if from_env is not None:
        return from_env
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def data_dir_overridden(config: Config | None) -> bool:
    """Return True when env ``MAILTUI_DATA_DIR`` or the config's ``data_dir`` picks the data dir."""
    return _from_env(DATA_DIR_ENV) is not None or (
        config is not None and config.data_dir is not None
    )


def data_dir(config: Config | None) -> Path:
    """Return the data dir: env ``MAILTUI_DATA_DIR``, then ``config.data_dir``, then the default."""
    from_env = _from_env(DATA_DIR_ENV)
    if from_env is not None:
        return from_env
    if config is not None and config.data_dir is not None:
        return config.data_dir
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir(config: Config | None = None) -> Path:
    """Return the log dir: ``<data dir>/logs`` when the data dir is overridden, else the default."""
    if data_dir_overridden(config):
        return data_dir(config) / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def cache_dir(config: Config | None = None) -> Path:
    """Return the cache dir (derived data that can be rebuilt): ``<data dir>/cache``."""
    return data_dir(config) / "cache"


def store_path(data_dir: Path) -> Path:
    """Return the store's database file inside ``data_dir``."""
    return data_dir / STORE_FILENAME
