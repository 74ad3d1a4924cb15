"""Presence in Redis: which connections each user has, with expiry, on the user's shard.

A user's presence and admitted keys share the user's hash tag, so one
script updates both; the set of online users is one per shard (the users
whose presence lives there), and `online_users` reads them all.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable

from realtime.keys import admitted_key, cid_key, online_key, presence_key
from realtime.shards import client_for, every, gather, pipelined, scripted

# KEYS[1] the online set, then a user's presence and admitted keys per entry
# (an entry leaves admitted when it enters presence); ARGV[1] the expiry score,
# ARGV[2] the key expiry in seconds, then member, user per entry.
_PRESENCE_ADD = """
for i = 2, #KEYS, 2 do
  local a = i + 1
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[a])
  redis.call('EXPIRE', KEYS[i], ARGV[2])
  redis.call('ZREM', KEYS[i + 1], ARGV[a])
  local top = redis.call('ZREVRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[1], top[2], ARGV[a + 1])
end
return 1
"""

_PRESENCE_REMOVE = """
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


def _add_args(entries: list[tuple[str, str]], ttl: float, now: float) -> tuple:
    # Entries of one shard: its own online set.
    keys = [online_key()]
    for user_id, _ in entries:
        keys += [presence_key(user_id), admitted_key(user_id)]
    values = [v for user_id, member in entries for v in (member, user_id)]
    return (_PRESENCE_ADD, len(keys), *keys, now + ttl, int(ttl) + 1, *values)


def remove_args(user_id: str, member: str, now: float) -> tuple:
    """Return the EVAL arguments that remove `member` from a user's presence."""
    return (_PRESENCE_REMOVE, 2, presence_key(user_id), online_key(), member, now, user_id)


async def presence_add(user_id: str, member: str, ttl: float) -> None:
    """Add a connection (`hub|connection_id`) to a user's presence."""
    await client_for(presence_key(user_id)).eval(*_add_args([(user_id, member)], ttl, time.time()))


async def presence_refresh(
    entries: Iterable[tuple[str, str]], ttl: float, only: Collection[int] | None = None
) -> None:
    """Push the expiry of live connections (user_id, member) forward (on the shards `only`)."""
    now = time.time()
    await scripted(
        entries, lambda e: presence_key(e[0]), lambda batch: _add_args(batch, ttl, now), only
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
