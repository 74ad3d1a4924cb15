"""The sweep of dead processes' entries, and an idle process's Redis upkeep that
does not grow with its connections (real Redis)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.test import override_settings

from realtime import liveness, redis_pool, shards, store
from realtime.keys import index_key, indexed_key
from realtime.lifetime.redis import ALIVE_INTERVAL, ALIVE_TTL
from realtime.lifetime.running import get_backplane
from realtime.testing import HubCommunicator
from tests.realtime.hubs import EchoHub
from tests.support.redis import embedded_redis, redis_settings, shard_count

LEASE = 3600


@pytest.fixture(scope="module", autouse=True)
def _private_redis(tmp_path_factory, redis_url):
    """Redis servers of this module alone, as many shards as the session's.

    Every running process sweeps whatever a process without a liveness mark
    left, and these tests write such entries on purpose and count them: the
    session's servers also serve the session-wide daphne of the browser
    tests, whose sweep once took 21 of 30 entries before they were counted.
    """
    directory = tmp_path_factory.mktemp("liveness-redis")
    with (
        embedded_redis(directory, shard_count(redis_url)) as url,
        override_settings(**redis_settings(url)),
    ):
        yield


def _name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


async def _open(process: str, user: str, count: int) -> list[tuple[str, str, str, str]]:
    """Write what a process writes when `count` connections of `user` open."""
    opened = []
    for _ in range(count):
        token, cid = _name("tok"), _name("cid")
        await store.register(
            token, connection_id=cid, hub="h", user_id=user, ttl=LEASE, owner=process
        )
        await store.set_owner(cid, process, LEASE)
        await store.presence_add(user, f"h|{cid}", LEASE, process)
        opened.append((token, cid, user, f"h|{cid}"))
    return opened


async def _indexed(process: str) -> int:
    """Entries in the index of `process`, over every shard."""
    return sum([await redis.scard(index_key(process)) for redis in shards.every()])


async def _listed(process: str) -> bool:
    return any([await redis.sismember(indexed_key(), process) for redis in shards.every()])


async def _gone(opened) -> bool:
    for token, cid, user, member in opened:
        if await store.lookup(token) is not None or await store.owner_of(cid) is not None:
            return False
        if member in await store.connections_of(user):
            return False
    return True


async def _sweep_all(sweeper: str, chunk: int = liveness.CHUNK) -> None:
    while await liveness.sweep(sweeper, chunk) >= chunk:
        pass


async def test_the_entries_of_a_dead_process_are_swept_and_a_live_one_s_kept():
    live, dead, user, other = _name("proc"), _name("proc"), _name("user"), _name("user")
    await store.mark_alive(live, 30)
    kept = await _open(live, user, 3)
    swept = await _open(dead, user, 3) + await _open(dead, other, 2)
    # Resumed on the live process: the entries name it now, the dead index still lists them.
    resumed = await _open(dead, user, 1)
    token, cid, _, member = resumed[0]
    await store.register(token, connection_id=cid, hub="h", user_id=user, ttl=LEASE, owner=live)
    await store.set_owner(cid, live, LEASE)
    await store.presence_add(user, member, LEASE, live)
    assert await _indexed(dead) == 6 * 3
    assert await _listed(dead)

    await _sweep_all(live)

    assert await _gone(swept)
    assert sorted(await store.connections_of(user)) == sorted(m for *_, m in kept + resumed)
    assert await store.lookup(token) is not None
    assert await store.owner_of(cid) == live
    online = await store.online_users()
    assert (user in online, other in online) == (True, False)
    assert await _indexed(dead) == 0
    assert not await _listed(dead)
    assert await _indexed(live) == 3 * 4
    await store.forget_many(kept + resumed, (), live)
    assert await _indexed(live) == 0


async def test_a_sweep_stopped_between_chunks_leaves_the_rest_indexed_for_the_next():
    sweeper, dead, user = _name("proc"), _name("proc"), _name("user")
    opened = await _open(dead, user, 10)  # 30 entries over the shards
    assert await _indexed(dead) == 30

    await liveness.sweep(sweeper, chunk=4)  # then the sweeper dies

    left = await _indexed(dead)
    assert 30 - 4 * shards.count() <= left < 30
    # Whatever the dead process still has in Redis is still in its index.
    present = [o for o in opened if await store.lookup(o[0]) is not None]
    assert len(present) > 0
    # Two sweepers at once: neither does the other's part twice, and all goes.
    await asyncio.gather(_sweep_all(_name("proc"), 3), _sweep_all(_name("proc"), 5))
    assert await _gone(opened)
    assert await _indexed(dead) == 0
    assert not await _listed(dead)


async def test_a_process_never_sweeps_itself_nor_a_live_process():
    me, live, user = _name("proc"), _name("proc"), _name("user")
    await store.mark_alive(live, 30)
    mine, theirs = await _open(me, user, 2), await _open(live, user, 2)

    await _sweep_all(me)  # its own liveness key is missing (stalled)

    assert await _indexed(me) == 6
    assert await _indexed(live) == 6
    await store.forget_many(mine, (), me)
    await store.forget_many(theirs, (), live)
    assert await _indexed(me) == 0
    assert await _indexed(live) == 0


async def test_ending_connections_takes_them_out_of_the_index():
    process, user = _name("proc"), _name("user")
    opened = await _open(process, user, 4)
    assert await _indexed(process) == 12

    await store.forget_many(opened[:2], (), process)
    await store.presence_remove(user, opened[2][3])

    assert await _indexed(process) == 5


@pytest.mark.django_db(transaction=True)
async def test_a_process_whose_liveness_mark_expired_registers_again(customer):
    client = HubCommunicator(EchoHub, user=customer)
    assert await client.connect() == {}
    backplane = await get_backplane()
    connection = next(iter(backplane.connections.values()))
    # As if it stalled past ALIVE_TTL and another process swept its entries.
    await store.forget_many(
        [
            (
                connection.token,
                connection.connection_id,
                str(customer.pk),
                connection.presence_member,
            )
        ],
        (),
        backplane.channel,
    )
    for redis in shards.every():
        await redis.delete(store.alive_key(backplane.channel))

    idle = list(redis_pool.client().connection_pool._available_connections)
    # Its own liveness loop may find the expired mark first: either way, once.
    await backplane.liveness_once()
    await backplane.check_registry()

    # Redis did not go away: its connections stay open (no reconnect storm).
    assert idle
    assert all(connection.is_connected for connection in idle)

    assert await store.owner_of(connection.connection_id) == backplane.channel
    assert await store.connections_of(str(customer.pk)) == [connection.presence_member]
    assert await _indexed(backplane.channel) == 3
    await client.disconnect()


def _commands(info: dict) -> int:
    return sum(stats["calls"] for stats in info.values())


async def _idle_commands(seconds: float) -> int:
    """Commands every shard served in `seconds` of idleness."""
    before = [_commands(await redis.info("commandstats")) for redis in shards.every()]
    await asyncio.sleep(seconds)
    after = [_commands(await redis.info("commandstats")) for redis in shards.every()]
    return sum(after) - sum(before)


@pytest.mark.django_db(transaction=True)
async def test_idle_upkeep_does_not_grow_with_the_connections(settings, customer):
    # A short PRESENCE_TTL: per-connection refreshes (every PRESENCE_TTL / 3
    # before) would fall in every window.
    settings.REALTIME = {
        "PRESENCE_TTL": 3,
        "KEEPALIVE_INTERVAL": 60,
        "CLIENT_TIMEOUT": 120,
        "MAX_CONNECTIONS_PER_USER": 200,
    }
    few = [HubCommunicator(EchoHub, user=customer) for _ in range(2)]
    many = [HubCommunicator(EchoHub, user=customer) for _ in range(100)]
    for client in few:
        assert await client.connect() == {}
    await asyncio.sleep(1)
    with_few = await _idle_commands(4)
    for client in many:
        assert await client.connect() == {}
    await asyncio.sleep(1)
    with_many = await _idle_commands(4)

    # The same timers either way (liveness, sweep, registry check, stats,
    # the channel layer's reads), whatever their phase: not 100 x anything.
    assert with_many <= with_few * 1.5 + 10, (with_few, with_many)
    for client in few + many:
        await client.disconnect()


async def test_a_connection_resumed_elsewhere_leaves_only_the_old_owner_s_index():
    old, new, user = _name("proc"), _name("proc"), _name("user")
    await store.mark_alive(new, 30)
    opened = await _open(old, user, 2)
    for token, cid, _, member in opened:  # what the resume on `new` writes
        await store.register(token, connection_id=cid, hub="h", user_id=user, ttl=LEASE, owner=new)
        await store.set_owner(cid, new, LEASE)
        await store.presence_add(user, member, LEASE, new)

    await store.forget_many([], (), old, moved=opened)

    assert await _indexed(old) == 0
    assert await _indexed(new) == 6
    assert sorted(await store.connections_of(user)) == sorted(m for *_, m in opened)
    await store.forget_many(opened, (), new)
    assert await _gone(opened)


async def _alive_ms(process: str) -> int:
    """The least time left of `process`'s liveness mark over every shard (ms)."""
    return min(
        [await redis.pttl(store.alive_key(process)) for redis in redis_pool.liveness_clients()]
    )


async def test_the_liveness_mark_goes_out_while_every_pooled_connection_is_busy(monkeypatch):
    backplane = await get_backplane()
    pool = redis_pool.client().connection_pool
    # A connect storm's moment: every connection of the pool taken, more
    # commands waiting for one.
    monkeypatch.setattr(pool, "max_connections", len(pool._available_connections) + 1)
    held = [await pool.get_connection() for _ in range(pool.max_connections)]
    try:
        assert not pool.can_get_connection()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(redis_pool.client().ping(), 0.3)
        for redis in redis_pool.liveness_clients():
            await redis.delete(store.alive_key(backplane.channel))

        async with asyncio.timeout(2):
            await backplane.liveness_once()
            await store.heartbeat(backplane.channel, 30)
        assert await _marked(backplane.channel)
    finally:
        for connection in held:
            await pool.release(connection)


async def _marked(process: str) -> bool:
    return all(
        [await redis.exists(store.alive_key(process)) for redis in redis_pool.liveness_clients()]
    )


async def test_a_slow_sweep_of_dead_processes_does_not_hold_the_liveness_marks_back(monkeypatch):
    backplane = await get_backplane()
    stuck = asyncio.Event()

    async def sweep(process: str, chunk: int = liveness.CHUNK) -> int:
        await stuck.wait()  # as long as the test runs
        return 0

    monkeypatch.setattr(liveness, "sweep", sweep)
    await asyncio.sleep(2 * ALIVE_INTERVAL)  # every sweeper is stuck by now

    lowest = ALIVE_TTL * 1000
    for _ in range(8):  # 2 s: past ALIVE_TTL, had the marks waited for the sweep
        await asyncio.sleep(ALIVE_INTERVAL / 4)
        lowest = min(lowest, await _alive_ms(backplane.channel))
    stuck.set()
    assert lowest > (ALIVE_TTL - 2 * ALIVE_INTERVAL) * 1000, lowest
