"""Presence in Redis: which connections each user has, on the user's shard.

A user's presence, presence owner and admitted keys share the user's hash
tag, so one script updates them all; the set of online users is one per
shard (the users whose presence lives there), and `online_users` reads them
all. An entry is scored by the end of its lease (ENTRY_LEASE, a safety net):
the owning process removes it when its connection ends, and the others
when that process dies (`realtime.liveness`), through the owner it records
and the index entry it adds in the same script.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable

from realtime.keys import (
    admitted_key,
    cid_key,
    index_key,
    indexed_key,
    online_key,
    presence_key,
    presence_owner_key,
)
from realtime.shards import (
    Queued,
    client_for,
    every,
    gather,
    pipelined,
    scripted,
    scripted_write,
)

# KEYS: the online set, the owner's index, the indexed processes, then a
# user's presence, admitted and presence owner keys per entry (an entry leaves
# admitted when it enters presence); ARGV: the lease end (score), the key
# expiry in seconds, the owner ('' for none), then member, user per entry.
_PRESENCE_ADD = """
local owner = ARGV[3]
if owner ~= '' then redis.call('SADD', KEYS[3], owner) end
for i = 4, #KEYS, 3 do
  local a = 4 + (i - 4) / 3 * 2
  local member, user = ARGV[a], ARGV[a + 1]
  redis.call('ZADD', KEYS[i], ARGV[1], member)
  redis.call('EXPIRE', KEYS[i], ARGV[2])
  redis.call('ZREM', KEYS[i + 1], member)
  if owner ~= '' then
    redis.call('HSET', KEYS[i + 2], member, owner)
    redis.call('EXPIRE', KEYS[i + 2], ARGV[2])
    redis.call('SADD', KEYS[2], 'p' .. user .. '\\n' .. member)
  end
  local top = redis.call('ZREVRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[1], top[2], user)
end
return 1
"""

# KEYS: the presence, online and presence owner keys; ARGV: member, now, user,
# the index key prefix.
_PRESENCE_REMOVE = """
local owner = redis.call('HGET', KEYS[3], ARGV[1])
if owner then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('SREM', ARGV[4] .. owner, 'p' .. ARGV[3] .. '\\n' .. ARGV[1])
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #top == 0 then
  redis.call('ZREM', KEYS[2], ARGV[3])
else
  redis.call('ZADD', KEYS[2], top[2], ARGV[3])
end
return 1
"""


def _add_args(entries: list[tuple[str, str]], ttl: float, now: float, owner: str) -> tuple:
    # Entries of one shard: its own online set and index.
    keys = [online_key(), index_key(owner), indexed_key()]
    for user_id, _ in entries:
        keys += [presence_key(user_id), admitted_key(user_id), presence_owner_key(user_id)]
    values = [v for user_id, member in entries for v in (member, user_id)]
    return (_PRESENCE_ADD, len(keys), *keys, now + ttl, int(ttl) + 1, owner, *values)


def remove_args(user_id: str, member: str, now: float) -> tuple:
    """Return the EVAL arguments that remove `member` from a user's presence."""
    return (
        _PRESENCE_REMOVE, 3, presence_key(user_id), online_key(), presence_owner_key(user_id),
        member, now, user_id, index_key(""),
    )  # fmt: skip


async def presence_add(user_id: str, member: str, ttl: float, owner: str = "") -> None:
    """Add a connection (`hub|connection_id`) to a user's presence, for `ttl` seconds
    at most; with `owner`, until that process ends it or dies."""
    args = _add_args([(user_id, member)], ttl, time.time(), owner)
    await client_for(presence_key(user_id)).eval(*args)


def presence_write(user_id: str, member: str, ttl: float, owner: str = "") -> Queued:
    """`presence_add` as one command of a pipeline (`realtime.shards.pipelined`)."""
    args = _add_args([(user_id, member)], ttl, time.time(), owner)
    return scripted_write(presence_key(user_id), args)


async def presence_refresh(
    entries: Iterable[tuple[str, str]],
    ttl: float,
    only: Collection[int] | None = None,
    *,
    owner: str,
) -> None:
    """Write again the presence of the live connections (user_id, member) of
    `owner`, with its index of them (on the shards `only`)."""
    now = time.time()
    await scripted(
        entries,
        lambda e: presence_key(e[0]),
        lambda batch: _add_args(batch, ttl, now, owner),
        only,
    )


async def presence_remove(user_id: str, member: str) -> None:
    """Remove a connection from a user's presence."""
    await client_for(presence_key(user_id)).eval(*remove_args(user_id, member, time.time()))


async def connections_of(user_id: str) -> list[str]:
    """Return the live connections (`hub|connection_id`) of a user."""
    name = presence_key(user_id)
    raw = await client_for(name).zrangebyscore(name, time.time(), "+inf")
    return [m.decode() for m in raw]


async def owners_of_user(user_id: str) -> set[str]:
    """Return the processes that run live connections of a user."""
    names = [cid_key(member.partition("|")[2]) for member in await connections_of(user_id)]
    owners = await pipelined((name, lambda pipe, name=name: pipe.get(name)) for name in names)
    return {owner.decode() for owner in owners if owner}


async def online_users() -> list[str]:
    """Return the ids of users with at least one live connection (every shard's set)."""
    now = time.time()
    parts = await gather(*(redis.zrangebyscore(online_key(), now, "+inf") for redis in every()))
    return [m.decode() for part in parts for m in part]
