"""Process liveness, and the sweep of what a dead process left in Redis.

A process writes its connections' registry entries, connection id owners
and presence entries once, when a connection opens, and removes them when
it closes (`realtime.departures`); nothing refreshes them while they live.
Alongside each entry, in the same script or transaction, it adds the entry
to its index on that shard (``rt:index:<process>``, one per shard, listed
in the shard's ``rt:indexed``). Its liveness is one short-lived key per
shard (``rt:alive:<process>``), set every ALIVE_INTERVAL.

Every live process sweeps every shard each ALIVE_INTERVAL: one script that
looks at the indexed processes, and for one whose liveness has expired pops
a bounded chunk of its index and removes those entries. The script is
atomic, so two sweepers never do the same work and a sweeper that dies
between chunks leaves the rest to the next one. An entry is removed only
while it still names the dead process (a connection resumed elsewhere keeps
its entries). A process that finds its own liveness key gone (it stalled
past ALIVE_TTL, or the shard restarted) may have been swept: it writes its
entries again (`realtime.lifetime.rebuild`).

Entries also carry a long expiry (ENTRY_LEASE, re-written every third of
it): a safety net, not the mechanism.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from realtime.keys import (
    alive_key,
    index_key,
    indexed_key,
    online_key,
    presence_key,
    presence_owner_key,
)
from realtime.redis_pool import liveness_clients
from realtime.shards import chosen, gather

#: Index entries popped per script call (a sweep holds Redis this long at most).
CHUNK = 200

# KEYS[1] the indexed processes. ARGV: alive prefix, index prefix, chunk, the
# sweeping process, presence prefix, presence owner prefix, online key.
# Returns how many entries it removed (CHUNK: maybe more to do).
_SWEEP = """
local budget = tonumber(ARGV[3])
local done = 0
for _, p in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if p ~= ARGV[4] and redis.call('EXISTS', ARGV[1] .. p) == 0 then
    local index = ARGV[2] .. p
    local entries = redis.call('SPOP', index, budget - done)
    for _, e in ipairs(entries) do
      local kind, rest = string.sub(e, 1, 1), string.sub(e, 2)
      if kind == 'r' then
        if redis.call('HGET', rest, 'owner') == p then redis.call('DEL', rest) end
      elseif kind == 'c' then
        if redis.call('GET', rest) == p then redis.call('DEL', rest) end
      elseif kind == 'p' then
        local cut = string.find(rest, '\\n', 1, true)
        local user, member = string.sub(rest, 1, cut - 1), string.sub(rest, cut + 1)
        local owners = ARGV[6] .. user .. '}'
        if redis.call('HGET', owners, member) == p then
          redis.call('HDEL', owners, member)
          local presence = ARGV[5] .. user .. '}'
          redis.call('ZREM', presence, member)
          local top = redis.call('ZREVRANGE', presence, 0, 0, 'WITHSCORES')
          if #top == 0 then
            redis.call('ZREM', ARGV[7], user)
          else
            redis.call('ZADD', ARGV[7], top[2], user)
          end
        end
      end
    end
    done = done + #entries
    if redis.call('SCARD', index) == 0 then redis.call('SREM', KEYS[1], p) end
    if done >= budget then return done end
  end
end
return done
"""
_SWEEP_SHA = hashlib.sha1(_SWEEP.encode()).hexdigest()


def registry_entry(name: str) -> str:
    """The index entry of a registry key (removed if it still names the process)."""
    return "r" + name


def owner_entry(name: str) -> str:
    """The index entry of a connection id owner key."""
    return "c" + name


def presence_entry(user_id: str, member: str) -> str:
    """The index entry of a presence member."""
    return "p" + user_id + "\n" + member


def prefix(name: str) -> str:
    """A tagged key built for the empty owner, without its closing brace."""
    return name[:-1]


async def mark_alive(process: str, ttl: float, only: Collection[int] | None = None) -> set[int]:
    """Say that a process runs, for `ttl` seconds, on every shard (or the shards
    `only`); return the shards where its previous mark had expired.

    Refreshed every ALIVE_INTERVAL: requests for a crashed process's
    connections (long polls, sends) are refused within seconds, and its
    entries swept. Group registrations go by the longer heartbeat
    (``rt:proc:``), which rides out a slow moment.
    """
    shards = chosen(only, among=liveness_clients())
    name = alive_key(process)
    before = await gather(
        *(redis.set(name, 1, px=int(ttl * 1000), get=True) for _, redis in shards)
    )
    return {index for (index, _), old in zip(shards, before, strict=True) if old is None}


async def sweep(process: str, chunk: int = CHUNK) -> int:
    """Remove up to `chunk` entries of dead processes per shard; return how many
    went (call again while that is `chunk` or more)."""
    args = (
        indexed_key(), alive_key(""), index_key(""), chunk, process,
        prefix(presence_key("")), prefix(presence_owner_key("")), online_key(),
    )  # fmt: skip
    done = await gather(*(_sweep_on(redis, args) for _, redis in chosen()))
    return max(done, default=0)


async def _sweep_on(redis: Redis, args: tuple) -> int:
    # EVALSHA every second: the script text goes out only when Redis lacks it.
    try:
        return await redis.evalsha(_SWEEP_SHA, 1, *args)
    except NoScriptError:
        return await redis.eval(_SWEEP, 1, *args)
