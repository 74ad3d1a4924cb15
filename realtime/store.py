"""The key families the instances share, each on the shard of its owner.

Key names come from ``realtime.keys``, shards from ``realtime.shards``.
Here: the connection registry (token -> connection id, hub, user, owning
process), which process holds members of which group, presence
(``realtime.presence_store``, re-exported), process liveness and
per-connection locks. The other families live with their concept:
long-poll buffers (``realtime.polls``), sends before a connection starts
(``realtime.unstarted``), the registry epoch (``realtime.epoch``),
parked connections (``realtime.parked_store``). Sign-in failure counters
(``realtime.throttle``) and dashboard snapshots (``realtime.stats``) are
small and stay on the first shard. Transports never come here: they ask
``realtime.registry`` and ``realtime.polls``.

Every operation is atomic on the Redis side (one command, MULTI, or a Lua
script on one shard); nothing reads a value, changes it in Python and
writes it back. A connection's registry entry and the owner of its
connection id live on different shards and are written one after the
other.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from realtime.keys import (
    alive_key,
    cid_key,
    early_key,
    group_key,
    index_key,
    indexed_key,
    key,
    presence_key,
    proc_key,
    registry_key,
    secret,
)
from realtime.liveness import mark_alive, owner_entry, presence_entry, registry_entry
from realtime.presence_store import (
    connections_of,
    online_users,
    owners_of_user,
    presence_add,
    presence_refresh,
    presence_remove,
    remove_args,
)
from realtime.redis_pool import client, drop_idle, liveness_clients
from realtime.shards import BATCH, chosen, client_for, gather, pipelined, scripted, tag

__all__ = [
    "BATCH", "alive_key", "client", "connections_of", "early_key", "key", "mark_alive",
    "online_users", "owners_of_user", "presence_add", "presence_refresh", "presence_remove",
    "registry_key", "secret",
]  # fmt: skip

# Connection registry -------------------------------------------------------
# (the entry of a token on the token's shard; the owner of a connection id on
# the connection id's shard, where senders by id look it up)


@dataclass(frozen=True, slots=True)
class Registration:
    """What the registry holds for one connection token."""

    connection_id: str
    hub: str
    user_id: str
    owner: str
    transport: str
    #: Stateful reconnect was offered at negotiate.
    stateful: bool = False


# KEYS: the registry entry, the early sends (one token: one shard), the
# claimer's index and the indexed processes there (realtime.liveness).
_CLAIM = """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {0} end
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= '' then return {1} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'transport', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[3], 'r' .. KEYS[1])
redis.call('SADD', KEYS[4], ARGV[1])
local early = redis.call('GET', KEYS[2]) or ''
redis.call('DEL', KEYS[2])
return {2, early}
"""

CLAIMED, UNKNOWN, CONFLICT = "claimed", "unknown", "conflict"


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of `claim`, with what the client sent before it."""

    outcome: str
    early: bytes = b""


# KEYS: the owner key of a connection id, the owner's index and the indexed
# processes on its shard; ARGV: the owner, the expiry.
_SET_OWNER = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], 'c' .. KEYS[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""


async def set_owner(connection_id: str, owner: str, ttl: float) -> None:
    """Record which process runs a connection id (and index it for that process)."""
    name = cid_key(connection_id)
    await client_for(name).eval(
        _SET_OWNER, 3, name, index_key(owner), indexed_key(), owner, int(ttl) + 1
    )


async def register(
    token: str,
    *,
    connection_id: str,
    hub: str,
    user_id: str,
    ttl: float,
    owner: str = "",
    stateful: bool = False,
) -> None:
    """Record a negotiated (or directly opened) connection."""
    name = registry_key(token)
    entry = {"id": connection_id, "hub": hub, "user": user_id, "owner": owner}
    if stateful:
        entry["stateful"] = "1"
    async with client_for(name).pipeline(transaction=True) as pipe:
        pipe.hset(name, mapping=entry)
        pipe.expire(name, int(ttl) + 1)
        if owner:
            pipe.sadd(index_key(owner), registry_entry(name))
            pipe.sadd(indexed_key(), owner)
        await pipe.execute()
    if owner:
        await set_owner(connection_id, owner, ttl)


async def claim(token: str, *, connection_id: str, owner: str, transport: str, ttl: float) -> Claim:
    """Bind a negotiated token to the process that will run it.

    The outcome is CLAIMED (with the bytes sent before, see `send_early`),
    UNKNOWN (no such token) or CONFLICT (already bound).
    """
    name = registry_key(token)
    result = await client_for(name).eval(
        _CLAIM, 4, name, early_key(token), index_key(owner), indexed_key(),
        owner, transport, int(ttl) + 1,
    )  # fmt: skip
    outcome = {0: UNKNOWN, 1: CONFLICT, 2: CLAIMED}[int(result[0])]
    if outcome == CLAIMED:
        await set_owner(connection_id, owner, ttl)
    return Claim(outcome, result[1] if len(result) > 1 else b"")


async def lookup(token: str) -> Registration | None:
    """Return the registration of `token`, or None."""
    name = registry_key(token)
    raw = await client_for(name).hgetall(name)
    if not raw:
        return None
    data = {k.decode(): v.decode() for k, v in raw.items()}
    return Registration(
        connection_id=data.get("id", ""),
        hub=data.get("hub", ""),
        user_id=data.get("user", ""),
        owner=data.get("owner", ""),
        transport=data.get("transport", ""),
        stateful=data.get("stateful") == "1",
    )


async def owner_of(connection_id: str) -> str | None:
    """Return the process channel that runs `connection_id`, or None."""
    name = cid_key(connection_id)
    raw = await client_for(name).get(name)
    return raw.decode() if raw else None


def _delete(name: str) -> tuple:
    return name, lambda pipe: pipe.delete(name)


def _unindex(name: str, process: str, entry: str) -> tuple:
    # Routed by the entry's key: the index of its shard.
    return name, lambda pipe: pipe.srem(index_key(process), entry)


def _unindex_connection(token: str, connection_id: str, process: str) -> list[tuple]:
    entry, owner = registry_key(token), cid_key(connection_id)
    return [
        _unindex(entry, process, registry_entry(entry)),
        _unindex(owner, process, owner_entry(owner)),
    ]


async def forget(token: str, connection_id: str) -> None:
    """Remove a connection from the registry."""
    await pipelined([_delete(registry_key(token)), _delete(cid_key(connection_id))])


async def forget_many(
    connections: Iterable[tuple[str, str, str, str]],
    groups: Iterable[str],
    process: str,
    moved: Iterable[tuple[str, str, str, str]] = (),
) -> None:
    """In one pipeline per shard: forget connections (token, connection id, user id,
    presence member) of `process`, out of its index too, take connections
    resumed on another process out of its index only (`moved`), and remove
    `process` from `groups`."""
    now = time.time()
    commands = []
    for token, connection_id, user_id, member in connections:
        commands += [_delete(registry_key(token)), _delete(cid_key(connection_id))]
        if process:
            commands += _unindex_connection(token, connection_id, process)
        if user_id:
            args = remove_args(user_id, member, now)
            commands.append((args[2], lambda pipe, args=args: pipe.eval(*args)))
    for token, connection_id, user_id, member in moved:
        commands += _unindex_connection(token, connection_id, process)
        if user_id:
            entry = presence_entry(user_id, member)
            commands.append(_unindex(presence_key(user_id), process, entry))
    for group in groups:
        name = group_key(group)
        commands.append((name, lambda pipe, name=name: pipe.srem(name, process)))
    await pipelined(commands)


# KEYS: the process's index, the indexed processes, then registry keys; ARGV:
# the expiry in seconds, the process, then id, hub, user, transport per
# connection.
_REGISTER_MANY = """
redis.call('SADD', KEYS[2], ARGV[2])
for i = 3, #KEYS do
  local a = 2 + (i - 3) * 4
  redis.call('HSET', KEYS[i], 'id', ARGV[a + 1], 'hub', ARGV[a + 2],
             'user', ARGV[a + 3], 'owner', ARGV[2], 'transport', ARGV[a + 4])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
  redis.call('SADD', KEYS[1], 'r' .. KEYS[i])
end
return 1
"""

# KEYS: the process's index, the indexed processes, then connection id keys;
# ARGV: the expiry in seconds, the process (the value of every key).
_SET_MANY = """
redis.call('SADD', KEYS[2], ARGV[2])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[1])
  redis.call('SADD', KEYS[1], 'c' .. KEYS[i])
end
return 1
"""


async def refresh_registrations(
    entries: Iterable[Registration],
    tokens: Iterable[str],
    ttl: float,
    only: Collection[int] | None = None,
    *,
    process: str,
) -> None:
    """Re-write the registry entries of the live connections of `process`, and its
    index of them (after a Redis restart), on every shard or on the shards `only`."""
    pairs = list(zip(entries, tokens, strict=True))
    expiry = int(ttl) + 1
    mine = (index_key(process), indexed_key())

    def entries_args(batch: list[tuple[Registration, str]]) -> tuple:
        values = [v for e, _ in batch for v in (e.connection_id, e.hub, e.user_id, e.transport)]
        keys = [*mine, *(registry_key(token) for _, token in batch)]
        return (_REGISTER_MANY, len(keys), *keys, expiry, process, *values)

    def owners_args(batch: list[tuple[Registration, str]]) -> tuple:
        keys = [*mine, *(cid_key(e.connection_id) for e, _ in batch)]
        return (_SET_MANY, len(keys), *keys, expiry, process)

    await gather(
        scripted(pairs, lambda pair: registry_key(pair[1]), entries_args, only),
        scripted(pairs, lambda pair: cid_key(pair[0].connection_id), owners_args, only),
    )


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
