"""Redis cleanup after connections end: batched, complete, retried on failure."""

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime import departures, store
from realtime.departures import Departure, Departures
from realtime.lifetime.running import get_backplane
from realtime.testing import flush_redis, group_processes


async def register(count: int, process: str) -> list[Departure]:
    gone = []
    for n in range(count):
        token, cid, user = f"tok-{n}", f"cid-{n}", f"departing-{n % 50}"
        await store.register(token, connection_id=cid, hub="h", user_id=user, ttl=60, owner=process)
        await store.presence_add(user, f"h|{cid}", 60)
        gone.append(Departure(token, cid, user, f"h|{cid}"))
    return gone


async def test_a_mass_disconnect_is_cleaned_up_in_a_few_pipelines(monkeypatch):
    calls = []
    original = store.forget_many

    async def counted(connections, groups, process, moved=()):
        calls.append(len(connections))
        await original(connections, groups, process, moved)

    monkeypatch.setattr(store, "forget_many", counted)
    queue = Departures("proc-a", lambda group: False)
    gone = await register(2500, "proc-a")
    await store.add_to_group("topic:x", "proc-a")
    for departure in gone:
        queue.connection_ended(departure)
    queue.group_emptied("topic:x")

    while len(queue):
        await queue.flush()

    assert calls == [1000, 1000, 500]
    assert await store.lookup("tok-7") is None
    assert await store.owner_of("cid-7") is None
    # Only this test's users: another test's connections may still be online.
    assert not [u for u in await store.online_users() if u.startswith("departing-")]
    assert "proc-a" not in await group_processes("topic:x")


async def test_a_group_that_got_a_member_back_stays(monkeypatch):
    members = {"topic:x": False}
    queue = Departures("proc-b", members.get)
    await store.add_to_group("topic:x", "proc-b")
    queue.group_emptied("topic:x")
    members["topic:x"] = True  # someone joined before the flush

    await queue.flush()

    assert b"proc-b" in await group_processes("topic:x")


async def test_a_failed_flush_loses_nothing_and_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(departures, "INTERVAL", 0.01)
    original = store.forget_many
    failures = iter([RedisConnectionError("injected")])

    async def flaky(*args):
        for failure in failures:
            raise failure
        await original(*args)

    monkeypatch.setattr(store, "forget_many", flaky)
    backplane = await get_backplane()
    (gone,) = await register(1, backplane.channel)

    with caplog.at_level(logging.WARNING, logger="realtime.departures"):
        backplane.departures.connection_ended(gone)
        for _ in range(200):
            if await store.lookup(gone.token) is None:
                break
            await asyncio.sleep(0.01)

    assert await store.lookup(gone.token) is None
    assert not await store.connections_of(gone.user_id)
    assert "could not clean up 1 ended connections in Redis; retrying" in caplog.text


@pytest.fixture(autouse=True)
async def _clean_redis():
    await flush_redis()
    yield
    await flush_redis()
