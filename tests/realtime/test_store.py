"""realtime.store against the real Redis: registry, processes, presence, locks, snapshots."""

import asyncio
import json
import uuid

import pytest

from realtime import redis_pool, shards, stats, store
from realtime.testing import group_processes


def _name(kind: str) -> str:
    """A name no other test uses (the session's Redis is shared)."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"


#: Owners of the entries written here. Marked alive for each test: a live
#: process in the session (a hub test's backplane) sweeps the entries of
#: any owner whose mark expired (realtime.liveness), as in production.
P1, P2 = _name("proc"), _name("proc")


@pytest.fixture(autouse=True)
async def live_owners():
    for process in (P1, P2):
        await store.mark_alive(process, ttl=60)


async def test_a_registration_is_looked_up_by_token_and_forgotten():
    token, cid = _name("tok"), _name("cid")
    await store.register(token, connection_id=cid, hub="echo", user_id="7", ttl=30, owner=P1)

    assert await store.lookup(token) == store.Registration(
        connection_id=cid, hub="echo", user_id="7", owner=P1, transport=""
    )
    # The owner of the id is written when the connection starts.
    assert await store.owner_of(cid) is None
    await store.write_all([store.owner_write(cid, P1, 30)])
    assert await store.owner_of(cid) == P1
    await store.forget(token, cid)
    assert await store.lookup(token) is None
    assert await store.owner_of(cid) is None


async def test_keys_name_a_digest_of_the_token_never_the_token():
    token, cid = _name("tok"), _name("cid")
    await store.register(token, connection_id=cid, hub="echo", user_id="", ttl=30)

    names = [name.decode() for r in shards.every() async for name in r.scan_iter(match="rt:*")]

    assert store.registry_key(token) in names
    assert not [name for name in names if token in name]
    await store.forget(token, cid)


async def test_a_token_is_claimed_by_one_process_once():
    token, cid = _name("tok"), _name("cid")
    unknown = await store.claim(token, connection_id=cid, owner=P1, transport="ws", ttl=30)
    await store.register(token, connection_id=cid, hub="echo", user_id="", ttl=30)

    first = await store.claim(token, connection_id=cid, owner=P1, transport="ws", ttl=30)
    second = await store.claim(token, connection_id=cid, owner=P2, transport="sse", ttl=30)

    assert (unknown.outcome, first.outcome, second.outcome) == (
        store.UNKNOWN,
        store.CLAIMED,
        store.CONFLICT,
    )
    registration = await store.lookup(token)
    assert (registration.owner, registration.transport) == (P1, "ws")
    await store.forget(token, cid)


async def test_refresh_rewrites_registrations_a_restart_lost():
    tokens = [_name("tok") for _ in range(3)]
    entries = [
        store.Registration(
            connection_id=_name("cid"), hub="echo", user_id="", owner=P1, transport="ws"
        )
        for _ in tokens
    ]
    for entry, token in zip(entries, tokens, strict=True):
        await store.forget(token, entry.connection_id)  # as after Redis restarted empty

    await store.refresh_registrations(entries, tokens, ttl=30, process=P1)

    assert [await store.lookup(token) for token in tokens] == entries
    assert {await store.owner_of(e.connection_id) for e in entries} == {P1}
    for entry, token in zip(entries, tokens, strict=True):
        await store.forget(token, entry.connection_id)


async def test_forget_many_removes_connections_presence_and_group_entries():
    user, process, group = _name("user"), P1, _name("group")
    token, cid = _name("tok"), _name("cid")
    await store.register(token, connection_id=cid, hub="echo", user_id=user, ttl=30, owner=process)
    await store.presence_add(user, f"echo|{cid}", ttl=30)
    await store.add_to_group(group, process)

    await store.forget_many([(token, cid, user, f"echo|{cid}")], [group], process)

    assert await store.lookup(token) is None
    assert await store.connections_of(user) == []
    assert user not in await store.online_users()
    assert await group_processes(group) == set()


async def test_add_to_groups_records_the_process_in_each():
    process, groups = _name("proc"), [_name("group") for _ in range(3)]

    await store.add_to_groups(groups, process)

    for group in groups:
        assert await group_processes(group) == {process.encode()}


async def test_presence_lists_live_connections_and_online_users():
    user = _name("user")
    await store.presence_add(user, "echo|a", ttl=30)
    await store.presence_add(user, "orders|b", ttl=30)

    assert sorted(await store.connections_of(user)) == ["echo|a", "orders|b"]
    assert user in await store.online_users()
    await store.presence_remove(user, "echo|a")
    assert await store.connections_of(user) == ["orders|b"]
    assert user in await store.online_users()
    await store.presence_remove(user, "orders|b")
    assert await store.connections_of(user) == []
    assert user not in await store.online_users()


async def test_presence_expires_unless_refreshed():
    stale, fresh = _name("user"), _name("user")
    await store.presence_add(stale, "echo|s", ttl=0.5)
    await store.presence_add(fresh, "echo|f", ttl=0.5)

    await store.presence_refresh([(fresh, "echo|f")], ttl=30, owner=P1)
    await asyncio.sleep(0.8)

    assert await store.connections_of(stale) == []
    assert await store.connections_of(fresh) == ["echo|f"]
    online = await store.online_users()
    assert (stale in online, fresh in online) == (False, True)
    await store.presence_remove(fresh, "echo|f")


async def test_owners_of_user_are_the_processes_running_their_connections():
    user, tokens = _name("user"), [_name("tok") for _ in range(3)]
    cids = [_name("cid") for _ in tokens]
    for token, cid, owner in zip(tokens, cids, [P1, P2, P2], strict=True):
        await store.register(
            token, connection_id=cid, hub="echo", user_id=user, ttl=30, owner=owner
        )
        await store.set_owner(cid, owner, ttl=30)
        await store.presence_add(user, f"echo|{cid}", ttl=30)

    assert await store.owners_of_user(user) == {P1, P2}
    assert await store.owners_of_user(_name("user")) == set()
    for token, cid in zip(tokens, cids, strict=True):
        await store.forget(token, cid)
        await store.presence_remove(user, f"echo|{cid}")


async def test_a_process_is_alive_until_its_mark_expires_or_it_is_gone():
    quiet, leaving = _name("proc"), _name("proc")
    await store.mark_alive(quiet, ttl=0.3)
    await store.mark_alive(leaving, ttl=30)
    await store.heartbeat(leaving, ttl=30)

    assert await store.is_alive(quiet)
    await store.process_gone(leaving)
    assert not await store.is_alive(leaving)
    await asyncio.sleep(0.6)
    assert not await store.is_alive(quiet)


async def test_a_lock_is_held_once_until_released_or_expired():
    token = _name("tok")
    assert await store.try_lock("post", token, ttl=30)
    assert not await store.try_lock("post", token, ttl=30)
    await store.unlock("post", token)
    assert await store.try_lock("post", token, ttl=0.2)
    await asyncio.sleep(0.4)
    assert await store.try_lock("post", token, ttl=30)
    await store.unlock("post", token)


async def test_stats_of_every_live_process_are_listed():
    first, second = _name("proc"), _name("proc")
    redis = redis_pool.client()
    for process in (first, second):
        snapshot = {"instance": process, "connections": 1}
        await redis.set(store.key("stats", process), json.dumps(snapshot), ex=30)

    listed = [snapshot["instance"] for snapshot in await stats.instances()]

    # Gone before the dashboard's tests read the same Redis.
    await redis.delete(store.key("stats", first), store.key("stats", second))
    assert {first, second} <= set(listed)
    assert listed == sorted(listed)
    assert await store.ping()
