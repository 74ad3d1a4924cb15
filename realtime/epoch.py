"""The registry epoch: which life of Redis the registry was rebuilt in.

The registry (connections, group -> processes, presence) lives only in
Redis, spread over the shards. A shard that restarts empty, fails over or
is flushed loses its part while every server process still runs, and "no
process has members of this group" then means "the registry is gone", not
"nobody listens". So each shard holds its own epoch key, ``<random
id>:<creation time in ms, Redis clock>``, created with SET NX by whoever
finds it missing. Every server process reads them every
REGISTRY_CHECK_INTERVAL and re-registers what it holds on a shard as soon
as that shard's value is new to it. A sender trusts a shard's part of the
registry only once its epoch is older than REGISTRY_SETTLE, the time every
live process needs to notice, and while no process is still rebuilding
there (each holds sends back for the duration of its rebuild, however long
that takes). Until then a lookup answers None and the sender keeps its row
pending. The check is folded into the lookup script, which runs on the
shard of the keys it looks up, against that shard's epoch: one round trip
per shard involved.

Part of the store layer: every key is built by ``realtime.keys``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Collection, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from realtime import keys, shards

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


async def _run(redis: Redis, script: str, keys: list[str], *args: Any) -> Any:
    # EVALSHA on the hot path: the script text is sent only when Redis does
    # not know it yet (first use, or after a restart).
    try:
        return await redis.evalsha(_SHA[script], len(keys), *keys, *args)
    except NoScriptError:
        return await redis.eval(script, len(keys), *keys, *args)


async def current() -> list[tuple[str, str] | None]:
    """Return each shard's registry epoch (creating it when the shard has none) and
    the run id of the Redis server that answered, in shard order; None for a
    shard that did not answer."""
    answers = await asyncio.gather(
        *(redis.eval(_CURRENT, 1, keys.key("epoch"), _new_id()) for redis in shards.every()),
        return_exceptions=True,
    )
    out: list[tuple[str, str] | None] = []
    for answer in answers:
        if isinstance(answer, (RedisError, OSError)):
            out.append(None)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            out.append((answer[0].decode(), answer[1].decode()))
    return out


async def reset(*, age: float = 0.0, keep_older: bool = False) -> list[str]:
    """Start a new epoch on every shard, created `age` seconds ago; with
    `keep_older`, keep an epoch that is at least that old (tests)."""
    args = (keys.key("epoch"), _new_id(), int(age * 1000), "1" if keep_older else "0")
    raw = await shards.gather(*(redis.eval(_RESET, 1, *args) for redis in shards.every()))
    return [epoch.decode() for epoch in raw]


async def hold(process: str, ttl: float, only: Collection[int] | None = None) -> None:
    """Refuse sends while `process` rebuilds its registry on the shards `only` (every
    shard by default), for `ttl` seconds at most."""
    await shards.gather(
        *(
            redis.eval(_HOLD, 1, keys.key("rebuilding"), process, int(ttl))
            for _, redis in shards.chosen(only)
        )
    )


async def release(process: str, only: Collection[int] | None = None) -> None:
    """Let sends through again once `process` has rebuilt its registry."""
    await shards.gather(
        *(redis.zrem(keys.key("rebuilding"), process) for _, redis in shards.chosen(only))
    )


_GATE_KEYS = [keys.key("epoch"), keys.key("rebuilding")]


async def _route(script: str, names: Sequence[str], args: tuple, decode) -> list | None:
    """Run a lookup script on the shard of each name, behind that shard's epoch;
    return the answers in the order of `names`, or None if any shard is unsettled."""
    parts = shards.by_shard(range(len(names)), lambda i: names[i])
    if not names:  # only the gates: is every shard settled?
        parts = {index: [] for index in range(shards.count())}
    clients = shards.every()
    answers = await shards.gather(
        *(
            _run(clients[index], script, [*_GATE_KEYS, *(names[i] for i in part)], *args)
            for index, part in parts.items()
        )
    )
    out: list = [None] * len(names)
    for part, answer in zip(parts.values(), answers, strict=True):
        if int(answer[0]) != 1:
            return None
        for i, value in zip(part, answer[1:], strict=True):
            out[i] = decode(value)
    return out


async def route_groups(groups: Sequence[str], settle: float) -> list[list[str]] | None:
    """Return the live processes of each group, or None while the epoch of a shard
    holding one of them is unsettled."""
    return await _route(
        _ROUTE_GROUPS,
        [keys.group_key(g) for g in groups],
        (_new_id(), int(settle * 1000), keys.proc_key("")),
        lambda live: [m.decode() for m in live],
    )


async def route_connections(connection_ids: Sequence[str], settle: float) -> list[str] | None:
    """Return the owning process of each connection ('' if unknown), or None while
    the epoch of a shard holding one of them is unsettled."""
    return await _route(
        _ROUTE_CONNECTIONS,
        [keys.cid_key(c) for c in connection_ids],
        (_new_id(), int(settle * 1000)),
        lambda owner: owner.decode(),
    )


async def wait_settled(settle: float, timeout: float) -> bool:
    """Wait until sends would trust the registry on every shard (tools that start
    on a fresh Redis)."""
    deadline = time.monotonic() + timeout
    while await route_groups([], settle) is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
