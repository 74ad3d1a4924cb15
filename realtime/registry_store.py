"""The connection registry in Redis: a token's entry, and who runs a connection id.

The entry of a token lives on the token's shard; the owner of a connection
id on the connection id's shard, where senders by id look it up. Both are
indexed for the process that wrote them (`realtime.liveness`), so the
others remove them when it dies. `realtime.store` re-exports all of it;
requests reach it through `realtime.registry`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from realtime.keys import (
    cid_key,
    early_key,
    group_key,
    index_key,
    indexed_key,
    presence_key,
    registry_key,
)
from realtime.liveness import owner_entry, presence_entry, registry_entry
from realtime.presence_store import remove_args
from realtime.shards import Queued, client_for, gather, pipelined, scripted, scripted_write


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


def _owner_args(connection_id: str, owner: str, ttl: float) -> tuple:
    name = cid_key(connection_id)
    return (_SET_OWNER, 3, name, index_key(owner), indexed_key(), owner, int(ttl) + 1)


async def set_owner(connection_id: str, owner: str, ttl: float) -> None:
    """Record which process runs a connection id (and index it for that process)."""
    await client_for(cid_key(connection_id)).eval(*_owner_args(connection_id, owner, ttl))


def owner_write(connection_id: str, owner: str, ttl: float) -> Queued:
    """`set_owner` as one command of a `write_all`."""
    return scripted_write(cid_key(connection_id), _owner_args(connection_id, owner, ttl))


# KEYS: the registry entry, the owner's index and the indexed processes on
# its shard; ARGV: the expiry, the owner ('' for none), then field, value.
_REGISTER = """
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('SADD', KEYS[2], 'r' .. KEYS[1])
  redis.call('SADD', KEYS[3], ARGV[2])
end
return 1
"""


def registration_write(
    token: str,
    *,
    connection_id: str,
    hub: str,
    user_id: str,
    ttl: float,
    owner: str = "",
    stateful: bool = False,
) -> Queued:
    """Record a negotiated (or directly opened) connection: `register` as one
    command of a pipeline (`realtime.store.write_all`).

    With `owner`, the entry is in that process's index. Which process runs
    the connection id is written when the connection starts (`owner_write`).
    """
    name = registry_key(token)
    fields = ["id", connection_id, "hub", hub, "user", user_id, "owner", owner]
    if stateful:
        fields += ["stateful", "1"]
    args = (_REGISTER, 3, name, index_key(owner), indexed_key(), int(ttl) + 1, owner, *fields)
    return scripted_write(name, args)


async def register(token: str, **entry: Any) -> None:
    """Record a connection now; `entry`: the keyword arguments of `registration_write`."""
    await pipelined([registration_write(token, **entry)])


async def claim(token: str, *, connection_id: str, owner: str, transport: str, ttl: float) -> Claim:
    """Bind a negotiated token to the process that will run it.

    The outcome is CLAIMED (with the bytes sent before, see `send_early`),
    UNKNOWN (no such token) or CONFLICT (already bound). Which process runs
    the connection id is written when the connection starts (`owner_write`).
    """
    name = registry_key(token)
    result = await client_for(name).eval(
        _CLAIM, 4, name, early_key(token), index_key(owner), indexed_key(),
        owner, transport, int(ttl) + 1,
    )  # fmt: skip
    outcome = {0: UNKNOWN, 1: CONFLICT, 2: CLAIMED}[int(result[0])]
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
            commands.append(scripted_write(presence_key(user_id), args))
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
