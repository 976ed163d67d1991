"""Fixtures for the local-operations tests: the engine's (both servers, a store, a data dir)."""

from tests.engine.conftest import any_device, any_server, any_user, data_dir, store

__all__ = ["any_device", "any_server", "any_user", "data_dir", "store"]
