"""Shared fixtures: a real Redis for the session, users, a fast hasher."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from realtime.lifetime.running import stop_backplane
from realtime.testing import settle_registry
from tests.support.redis import embedded_redis, redis_settings

NUMBERS = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A real Redis: REDIS_URL when given, else embedded redis-servers, one per
    shard (REDIS_SHARDS, 1 by default)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    shards = int(os.environ.get("REDIS_SHARDS", "1"))
    with embedded_redis(tmp_path_factory.mktemp("redis"), shards) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _use_redis(redis_url):
    """Point the channel layer and the realtime store at the session's Redis."""
    override = override_settings(
        **redis_settings(redis_url),
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    override.enable()
    yield
    override.disable()


@pytest.fixture(autouse=True)
def _settled_registry(_use_redis):
    """Start each test with a settled registry epoch (the session's Redis is
    fresh, and some tests flush it)."""
    settle_registry()


@pytest.fixture
def customer(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-1")


@pytest.fixture
def other_customer(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-1")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "sam", password="sam-pass-1", is_staff=True, is_superuser=True
    )


def pytest_collection_modifyitems(items):
    """Give every async test the backplane clean-up (sync tests need no loop)."""
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.fixturenames.append("_stop_backplane")


@pytest.fixture
async def _stop_backplane():
    """Stop the backplane an async test started (one per event loop).

    Only one event loop at a time may receive on the channel layer, and each
    async test has its own loop.
    """
    yield
    await stop_backplane()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Remove the test database's WAL files when Django removed the database.

    SQLite leaves ``-wal`` and ``-shm`` next to a WAL database whose last
    connection did not close cleanly (threads of the async tests); Django
    deletes only the database file itself.
    """
    database = Path(settings.DATABASES["default"].get("TEST", {}).get("NAME") or "")
    if database.suffix == ".sqlite3" and not database.exists():
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Print the measured numbers after the run (they go to RESULTS.md)."""
    lines = config.stash.get(NUMBERS, [])
    if lines:
        terminalreporter.write_sep("-", "measured numbers")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def report_number(request):
    """Record a measured number for the terminal summary."""

    def record(line: str) -> None:
        request.config.stash.setdefault(NUMBERS, []).append(line)

    return record
