"""The registry epoch: which life of Redis the registry was rebuilt in.

The registry (connections, group -> processes, presence) lives only in
Redis. A Redis that restarts empty, fails over or is flushed loses it while
every server process still runs, and "no process has members of this group"
then means "the registry is gone", not "nobody listens". So Redis holds one
epoch key, ``<random id>:<creation time in ms, Redis clock>``, created with
SET NX by whoever finds it missing. Every server process reads it every
REGISTRY_CHECK_INTERVAL and re-registers everything it holds as soon as the
value is new to it. A sender trusts the registry only once the epoch is older
than REGISTRY_SETTLE, the time every live process needs to notice, and while no
process is still rebuilding (each holds sends back for the duration of its
rebuild, however long that takes). Until then a lookup answers None and the
sender keeps its row pending. The check is folded into the lookup script:
one round trip.

Part of the store layer: every key is built by ``store.key``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

from realtime import store

# Creates the epoch when it is missing; sets `now` (ms) and `epoch`.
_GATE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1] .. ':' .. now
  redis.call('SET', KEYS[1], epoch, 'NX')
end
"""

# KEYS[2] holds the processes rebuilding now, scored by when their hold ends.
_SETTLED = """
local created = tonumber(string.match(epoch, ':(%d+)$'))
if not created or now - created < tonumber(ARGV[2]) then return {0} end
if #redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf', 'LIMIT', 0, 1) > 0 then return {0} end
"""

# ARGV: new id, settle ms, liveness key prefix. Returns {1, {live processes}
# per group} or {0} while the epoch is unsettled; prunes dead processes.
_ROUTE_GROUPS = (
    _GATE
    + _SETTLED
    + """
local out = {1}
for i = 3, #KEYS do
  local live = {}
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if redis.call('EXISTS', ARGV[3] .. m) == 1 then
      table.insert(live, m)
    else
      redis.call('SREM', KEYS[i], m)
    end
  end
  out[i - 1] = live
end
return out
"""
)

# ARGV: new id, settle ms. Returns {1, owner or '' per connection} or {0}.
_ROUTE_CONNECTIONS = (
    _GATE
    + _SETTLED
    + """
local out = {1}
for i = 3, #KEYS do
  out[i - 1] = redis.call('GET', KEYS[i]) or ''
end
return out
"""
)

# Also the server's run_id, which changes with every start of Redis (a
# restart that kept its data, a failover), while the epoch does not.
_CURRENT = _GATE + "return {epoch, string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')}"

# ARGV: new id, age in ms, "1" to keep an epoch at least that old. Replaces
# the epoch with one created `age` ago (tests, tools).
_RESET = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local old = redis.call('GET', KEYS[1])
if old and ARGV[3] == '1' then
  local created = tonumber(string.match(old, ':(%d+)$'))
  if created and now - created >= tonumber(ARGV[2]) then return old end
end
local epoch = ARGV[1] .. ':' .. (now - tonumber(ARGV[2]))
redis.call('SET', KEYS[1], epoch)
return epoch
"""


# ARGV: process, seconds to hold at most (a process that dies mid-rebuild).
_HOLD = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]) * 1000, ARGV[1])
return 1
"""


def _new_id() -> str:
    return secrets.token_hex(8)


_SHA = {
    script: hashlib.sha1(script.encode()).hexdigest()
    for script in (_ROUTE_GROUPS, _ROUTE_CONNECTIONS)
}


async def _run(script: str, keys: list[str], *args: Any) -> Any:
    # EVALSHA on the hot path: the script text is sent only when Redis does
    # not know it yet (first use, or after a restart).
    redis = store.client()
    try:
        return await redis.evalsha(_SHA[script], len(keys), *keys, *args)
    except NoScriptError:
        return await redis.eval(script, len(keys), *keys, *args)


async def current() -> tuple[str, str]:
    """Return the registry epoch (creating it when Redis has none) and the run id
    of the Redis server that answered."""
    epoch, server = await store.client().eval(_CURRENT, 1, store.key("epoch"), _new_id())
    return epoch.decode(), server.decode()


async def reset(*, age: float = 0.0, keep_older: bool = False) -> str:
    """Start a new epoch, created `age` seconds ago; with `keep_older`, keep an
    epoch that is at least that old (tests)."""
    raw = await store.client().eval(
        _RESET, 1, store.key("epoch"), _new_id(), int(age * 1000), "1" if keep_older else "0"
    )
    return raw.decode()


async def hold(process: str, ttl: float) -> None:
    """Refuse sends while `process` rebuilds its registry (for `ttl` seconds at most)."""
    await store.client().eval(_HOLD, 1, store.key("rebuilding"), process, int(ttl))


async def release(process: str) -> None:
    """Let sends through again once `process` has rebuilt its registry."""
    await store.client().zrem(store.key("rebuilding"), process)


def _gate_keys() -> list[str]:
    return [store.key("epoch"), store.key("rebuilding")]


async def route_groups(groups: Sequence[str], settle: float) -> list[list[str]] | None:
    """Return the live processes of each group, or None while the epoch is unsettled."""
    keys = [*_gate_keys(), *(store.key("group", g) for g in groups)]
    result = await _run(_ROUTE_GROUPS, keys, _new_id(), int(settle * 1000), store.key("proc", ""))
    if int(result[0]) != 1:
        return None
    return [[m.decode() for m in live] for live in result[1:]]


async def route_connections(connection_ids: Sequence[str], settle: float) -> list[str] | None:
    """Return the owning process of each connection ('' if unknown), or None while
    the epoch is unsettled."""
    keys = [*_gate_keys(), *(store.key("cid", c) for c in connection_ids)]
    result = await _run(_ROUTE_CONNECTIONS, keys, _new_id(), int(settle * 1000))
    if int(result[0]) != 1:
        return None
    return [owner.decode() for owner in result[1:]]


async def wait_settled(settle: float, timeout: float) -> bool:
    """Wait until sends would trust the registry (tools that start on a fresh Redis)."""
    deadline = time.monotonic() + timeout
    while await route_groups([], settle) is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
