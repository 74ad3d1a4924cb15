"""The key families the instances share, each on the shard of its owner.

Key names come from ``realtime.keys``, shards from ``realtime.shards``.
Here: which process holds members of which group, process liveness,
per-connection locks, and `write_all`, which sends writes of several
families in one round trip per shard; the connection registry (token ->
connection id, hub, user, owning process: ``realtime.registry_store``)
and presence (``realtime.presence_store``) are re-exported. The other
families live with their concept: long-poll buffers (``realtime.polls``),
sends before a connection starts (``realtime.unstarted``), the registry
epoch (``realtime.epoch``), parked connections (``realtime.parked_store``). Sign-in failure counters
(``realtime.throttle``) and dashboard snapshots (``realtime.stats``) are
small and stay on the first shard. Transports never come here: they ask
``realtime.registry`` and ``realtime.polls``.

Every operation is atomic on the Redis side (one command, MULTI, or a Lua
script on one shard); nothing reads a value, changes it in Python and
writes it back. A connection's registry entry and the owner of its
connection id live on different shards: the entry is written at
negotiate, the owner when the connection starts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from realtime.keys import alive_key, early_key, group_key, key, proc_key, registry_key, secret
from realtime.liveness import mark_alive
from realtime.presence_store import (
    connections_of,
    online_users,
    owners_of_user,
    presence_add,
    presence_refresh,
    presence_remove,
    presence_write,
)
from realtime.redis_pool import client, drop_idle, liveness_clients
from realtime.registry_store import (
    CLAIMED,
    CONFLICT,
    UNKNOWN,
    Claim,
    Registration,
    claim,
    forget,
    forget_many,
    lookup,
    owner_of,
    owner_write,
    refresh_registrations,
    register,
    registration_write,
    set_owner,
)
from realtime.shards import BATCH, Queued, chosen, client_for, gather, pipelined, scripted, tag

__all__ = [
    "BATCH", "CLAIMED", "CONFLICT", "UNKNOWN", "Claim", "Registration", "alive_key", "claim",
    "client", "connections_of", "early_key", "forget", "forget_many", "key", "lookup",
    "mark_alive", "online_users", "owner_of", "owner_write", "owners_of_user", "presence_add",
    "presence_refresh", "presence_remove", "presence_write", "refresh_registrations",
    "register", "registration_write", "registry_key", "secret", "set_owner",
]  # fmt: skip


async def write_all(writes: Iterable[Queued]) -> list:
    """Send writes (`owner_write`, `group_write`, `presence_write`, ...) in one
    round trip per shard; return their results in order."""
    return await pipelined(writes)


# Processes (their keys live on every shard) ----------------------------------


async def _on_shards(only: Collection[int] | None, command, among=None) -> None:
    await gather(*(command(redis) for _, redis in chosen(only, among)))


async def heartbeat(process: str, ttl: float, only: Collection[int] | None = None) -> None:
    """Mark a process channel alive for `ttl` seconds (on the liveness pool)."""
    await _on_shards(
        only, lambda redis: redis.set(proc_key(process), 1, ex=int(ttl) + 1), liveness_clients()
    )


async def is_alive(process: str) -> bool:
    """Return whether a process marked itself alive recently."""
    name = alive_key(process)
    return bool(await client_for(name).exists(name))


async def process_gone(process: str) -> None:
    """Remove a process's heartbeat and liveness (clean shutdown)."""
    await _on_shards(None, lambda redis: redis.delete(proc_key(process), alive_key(process)))


# Groups: which processes hold local members --------------------------------
# (senders look them up through realtime.epoch, behind the registry epoch)


async def add_to_group(group: str, process: str) -> None:
    """Record that `process` holds members of `group`."""
    name = group_key(group)
    await client_for(name).sadd(name, process)


def group_write(group: str, process: str) -> Queued:
    """`add_to_group` as one command of a `write_all`."""
    name = group_key(group)
    return name, lambda pipe: pipe.sadd(name, process)


# KEYS: group keys; ARGV[1]: the process.
_ADD_TO_GROUPS = "for i = 1, #KEYS do redis.call('SADD', KEYS[i], ARGV[1]) end return 1"


async def add_to_groups(
    groups: Iterable[str], process: str, only: Collection[int] | None = None
) -> None:
    """Record again every group a process holds members of (after a Redis restart).

    A script call per BATCH groups: every user with a connection here has a
    group, and a command each cost as much to encode as the SADD itself.
    """
    names = [group_key(group) for group in groups]
    await scripted(
        names, lambda name: name, lambda batch: (_ADD_TO_GROUPS, len(batch), *batch, process), only
    )


# Locks and health ----------------------------------------------------------


async def try_lock(name: str, token: str, ttl: float) -> bool:
    """Take a short lock (e.g. one POST at a time per connection)."""
    lock = key("lock", name, tag(secret(token)))
    return bool(await client_for(lock).set(lock, 1, nx=True, px=int(ttl * 1000)))


async def unlock(name: str, token: str) -> None:
    """Release a lock taken with try_lock."""
    lock = key("lock", name, tag(secret(token)))
    await client_for(lock).delete(lock)


async def drop_idle_connections(only: Collection[int] | None = None) -> None:
    """Close the pools' idle connections: after Redis restarted, all are dead
    (and a dead one can fail a command even through the retries)."""
    pools = [*chosen(only), *chosen(only, among=liveness_clients())]
    await gather(*(drop_idle(redis) for _, redis in pools))


async def ping() -> bool:
    """Return whether every shard answers."""
    return all(await gather(*(redis.ping() for _, redis in chosen())))
