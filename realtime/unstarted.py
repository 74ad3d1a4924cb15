"""Connections that have not started yet: the per-user limit, and early sends.

A negotiated connection counts against its user's limit before any process
runs it, and what its client sends before then waits here. Both are single
Lua scripts, so parallel requests on any number of instances cannot
overshoot the limit or slip a send past the moment a process claims the
connection (`store.claim` hands over what waited).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from realtime.keys import admitted_key, early_key, presence_key, registry_key
from realtime.shards import Queued, client_for, scripted_write
from realtime.store import CLAIMED, UNKNOWN

BUFFERED, TOO_LARGE = "buffered", "too large"

# Connections admitted (negotiated or opening) but not yet in presence: they
# count against the user's limit until they start or their time runs out.
_RESERVE = """
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local open = redis.call('ZCOUNT', KEYS[1], now, '+inf') + redis.call('ZCARD', KEYS[2])
if open >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[4])) + 1)
return 1
"""


def _reserve_args(user_id: str, member: str, limit: int, ttl: float) -> tuple:
    return (
        _RESERVE, 2, presence_key(user_id), admitted_key(user_id),
        member, time.time(), limit, ttl,
    )  # fmt: skip


async def reserve(user_id: str, member: str, *, limit: int, ttl: float) -> bool:
    """Count a user's open and admitted connections and admit one more if under `limit`.

    Atomic, so parallel requests cannot overshoot. The new entry counts for
    `ttl` seconds, or until `presence_add` records the connection.
    """
    args = _reserve_args(user_id, member, limit, ttl)
    return bool(await client_for(presence_key(user_id)).eval(*args))


def reserve_write(user_id: str, member: str, *, limit: int, ttl: float) -> Queued:
    """`reserve` as one command of a pipeline; its result is 1 if admitted, else 0."""
    args = _reserve_args(user_id, member, limit, ttl)
    return scripted_write(presence_key(user_id), args)


# A send for a negotiated connection that no process runs yet waits in Redis
# (its first long poll or SSE stream may open it on any process); once an
# owner has claimed the token, the caller sends to it instead.
_SEND_EARLY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= '' then return {1, owner} end
if redis.call('STRLEN', KEYS[2]) + string.len(ARGV[1]) > tonumber(ARGV[2]) then return {3} end
redis.call('APPEND', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {2}
"""


@dataclass(frozen=True, slots=True)
class EarlySend:
    """The outcome of `send_early`: BUFFERED, TOO_LARGE, UNKNOWN, or the owner's."""

    outcome: str
    owner: str = ""


async def send_early(token: str, data: bytes, *, limit: int, ttl: float) -> EarlySend:
    """Keep a send for a negotiated connection until a process claims it.

    When a process has claimed it already, return its channel instead
    (outcome CLAIMED); keep at most `limit` bytes (else TOO_LARGE).
    """
    result = await client_for(registry_key(token)).eval(
        _SEND_EARLY, 2, registry_key(token), early_key(token),
        data, limit, int(ttl) + 1,
    )  # fmt: skip
    outcome = {0: UNKNOWN, 1: CLAIMED, 2: BUFFERED, 3: TOO_LARGE}[int(result[0])]
    return EarlySend(outcome, result[1].decode() if len(result) > 1 else "")
