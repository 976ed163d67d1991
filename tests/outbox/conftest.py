"""Fixtures for the outbox tests: the engine's users on the full and the reduced server."""

from tests.engine.conftest import any_device, any_server, any_user

__all__ = ["any_device", "any_server", "any_user"]
