"""The registry as requests see it: owner checks and the per-connection send lock."""

from __future__ import annotations

import pytest

from realtime import registry, store
from realtime.groups import presence_member
from realtime.testing import flush_redis


@pytest.fixture
async def registration() -> tuple[str, registry.Registration]:
    """Register a running connection of user 7 owned by process "proc-a".

    The owner is marked alive first: any server process on this Redis (the
    browser tests' daphne) sweeps what an unmarked process wrote.
    """
    await flush_redis()
    await store.mark_alive("proc-a", 30)
    token = "token-owner"
    await store.register(token, connection_id="cid-1", hub="h", user_id="7", ttl=60, owner="proc-a")
    await store.presence_add("7", presence_member("h", "cid-1"), 60)
    found = await registry.lookup(token)
    assert found is not None
    yield token, found
    await flush_redis()


async def test_a_running_owner_keeps_its_connection(registration):
    token, found = registration

    assert await registry.owner_runs(token, found)
    assert await registry.lookup(token) == found
    assert await store.connections_of("7") == [presence_member("h", "cid-1")]


async def test_a_gone_owner_s_connection_is_forgotten_with_its_presence(registration):
    """The client's reconnect must not count twice against its user's limit."""
    token, found = registration
    await store.process_gone("proc-a")

    assert not await registry.owner_runs(token, found)
    assert await registry.lookup(token) is None
    assert await store.owner_of("cid-1") is None
    assert await store.connections_of("7") == []


async def test_one_send_at_a_time_per_connection(registration):
    token, _ = registration
    async with registry.sending(token) as first:
        async with registry.sending(token) as second:
            assert (first, second) == (True, False)
        # The refused send did not release the lock the first one holds.
        async with registry.sending(token) as third:
            assert third is False
    async with registry.sending(token) as after:
        assert after is True


async def _send_that_fails(token: str) -> None:
    async with registry.sending(token) as locked:
        assert locked
        raise RuntimeError("the owner's channel refused")


async def test_a_send_that_fails_releases_the_lock(registration):
    token, _ = registration
    with pytest.raises(RuntimeError):
        await _send_that_fails(token)
    async with registry.sending(token) as again:
        assert again is True
