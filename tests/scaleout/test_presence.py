"""realtime.presence: the seed's connection tracker, on atomic Redis operations.

Every instance sees the same presence, a crashed instance's connections
are swept by the survivor within seconds (registry, presence and index),
and concurrent adds and removes never lose an update (the seed's
read-modify-write list would).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from realtime import presence, shards, store
from realtime.keys import index_key, indexed_key
from realtime.lifetime.redis import ALIVE_TTL
from tests.support.http import ws
from tests.support.signalr import HubSocket, ask_presence


def _members(*sockets: HubSocket) -> list[str]:
    return sorted(f"notifications|{s.connection_id}" for s in sockets)


async def settled(url: str, user_id: int, connections: list[str], within: float = 2.0) -> dict:
    """Ask until presence shows `connections` (ended connections leave in batches)."""
    deadline = time.monotonic() + within
    view = await ask_presence(url, user_id)
    while view["connections"] != connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        view = await ask_presence(url, user_id)
    return view


@pytest.mark.e2e
@pytest.mark.postgres
async def test_every_instance_sees_the_same_presence(cluster):
    user_id = cluster.users["carol"]
    token = cluster.token("carol")
    first, second = cluster.live.urls
    on_first = await HubSocket.open(ws(first, "/hubs/notifications"), token=token, negotiate=True)
    on_second = await HubSocket.open(ws(second, "/hubs/notifications"), token=token, negotiate=True)
    try:
        # Asked directly and twice through nginx (so each instance once more).
        urls = [first, second, cluster.url, cluster.url]
        seen = [await ask_presence(url, user_id) for url in urls]
    finally:
        await on_first.close()
    after_one_left = [await settled(url, user_id, _members(on_second)) for url in (first, second)]
    await on_second.close()
    after_both_left = [await settled(url, user_id, []) for url in (first, second)]

    assert {view["server"] for view in seen} == {cluster.live.pid(0), cluster.live.pid(1)}
    for view in seen:
        assert view["connections"] == _members(on_first, on_second)
        assert view["online"] is True
        assert str(user_id) in view["users"]
    for view in after_one_left:
        assert (view["connections"], view["online"]) == (_members(on_second), True)
    for view in after_both_left:
        assert (view["connections"], view["online"]) == ([], False)
        assert str(user_id) not in view["users"]


@pytest.mark.e2e
@pytest.mark.postgres
async def _indexed(process: str) -> tuple[int, bool]:
    """The size of a process's index over every shard, and whether a shard lists it."""
    sizes = [await redis.scard(index_key(process)) for redis in shards.every()]
    listed = [await redis.sismember(indexed_key(), process) for redis in shards.every()]
    return sum(sizes), any(listed)


@pytest.mark.e2e
@pytest.mark.postgres
async def test_a_killed_instance_s_connections_are_swept_by_the_survivor(cluster, report_number):
    """Nothing refreshes entries: the survivor finds the dead instance's liveness
    expired and removes what its index lists."""
    user_id = cluster.users["dave"]
    token = cluster.token("dave")
    survivor, victim = cluster.live.urls
    url = ws(victim, "/hubs/notifications")
    doomed = [await HubSocket.open(url, token=token, negotiate=True) for _ in range(3)]
    staying = await HubSocket.open(ws(survivor, "/hubs/notifications"), token=token, negotiate=True)
    try:
        assert (await ask_presence(survivor, user_id))["connections"] == _members(*doomed, staying)
        victim_channel = await store.owner_of(doomed[0].connection_id)
        # Registry entry, connection id owner and presence entry of each.
        assert await _indexed(victim_channel) == (3 * 3, True)

        cluster.live.kill(1)
        killed_at = time.monotonic()
        right_after = await ask_presence(survivor, user_id)
        views = []
        while time.monotonic() - killed_at < ALIVE_TTL + 10:
            views.append((time.monotonic() - killed_at, await ask_presence(survivor, user_id)))
            if views[-1][1]["connections"] == _members(staying):
                break
            await asyncio.sleep(0.2)
    finally:
        for socket in [*doomed, staying]:
            await socket.close()

    elapsed, final = views[-1]
    report_number(
        f"presence: connections of a SIGKILLed instance gone after {elapsed:.1f} s "
        f"(swept by the survivor; liveness mark {ALIVE_TTL:g} s)"
    )
    assert right_after["connections"] == _members(*doomed, staying)  # still marked alive
    assert final["connections"] == _members(staying)
    # The sweep's chunks on other shards may run a moment after this one's.
    deadline = time.monotonic() + 2
    while await _indexed(victim_channel) != (0, False) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await _indexed(victim_channel) == (0, False)
    for socket in doomed:
        assert await store.owner_of(socket.connection_id) is None
    assert final["online"] is True
    assert str(user_id) in final["users"]


async def test_concurrent_adds_and_removes_leave_exactly_the_expected_set():
    """Hundreds of tasks add and remove at once; no update is lost."""
    users = [f"atomic-{uuid.uuid4().hex[:8]}" for _ in range(8)]
    members = [f"hub|c{i}" for i in range(120)]

    async def life(user: str, index: int) -> None:
        await presence.add_connection(user, members[index])
        if index % 3:
            await presence.remove_connection(user, members[index])

    await asyncio.gather(*(life(u, i) for u in users for i in range(len(members))))
    expected = sorted(members[::3])
    for user in users:
        assert sorted(await presence.get_user_connections(user)) == expected
        assert await presence.is_user_online(user)
    # Half the users leave entirely while the others gain connections.
    gone, staying = users[::2], users[1::2]
    late = [f"hub|late{i}" for i in range(40)]
    await asyncio.gather(
        *(presence.remove_connection(u, m) for u in gone for m in members),
        *(presence.add_connection(u, m) for u in staying for m in late),
    )
    online = set(await presence.online_users())
    assert online & set(users) == set(staying)
    for user in gone:
        assert await presence.get_user_connections(user) == []
        assert not await presence.is_user_online(user)
    for user in staying:
        assert sorted(await presence.get_user_connections(user)) == sorted(expected + late)
    await asyncio.gather(
        *(presence.remove_connection(u, m) for u in staying for m in members + late)
    )
    assert not set(await presence.online_users()) & set(users)
