"""Long-poll buffers in Redis, and the wake-ups that end a waiting poll.

The owner of a long-polling connection appends its output to a list in
Redis; a poll, on whatever process it lands, takes the whole list. A poll
that finds nothing waits without holding a Redis connection: it records its
process's wake channel in the connection's poll key, and whoever changes
what the poll should answer (new frames, a newer poll, a DELETE) publishes
the buffer's key name on that channel in the same script. One subscription
per process and shard (`realtime.transports.waiter`) turns the messages
into local wake-ups. A connection's poll keys share its token's hash tag:
they live on one shard, with its registry entry.

The poll key also tells the owner when its client was last active
(`seen`): a poll counts as activity while it waits, as in ASP.NET Core.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from realtime.keys import alive_key, key, registry_key, token_key
from realtime.shards import client_for, pipelined

#: Seconds the poll bookkeeping of a connection outlives its last poll.
BOOKKEEPING_TTL = 3600


def buffer_key(token: str) -> str:
    """The Redis list of a long-polling connection's frames (also its wake-up)."""
    return token_key("lp", token)


def _poll_key(token: str) -> str:
    return token_key("lp", token, "poll")


def _seen_key(token: str) -> str:
    return token_key("lp", token, "seen")


def _taken_keys(token: str) -> tuple[str, str]:
    return token_key("lp", token, "taken"), token_key("lp", token, "taken-by")


def wake_channel(waiter: str) -> str:
    """The pub/sub channel of one process's poll waiter."""
    return key("wake", waiter)


# Publish the buffer's name to the waiter named in a poll value ("<channel>|<id>").
_WAKE = """
local function wake(value, name)
  if value then
    local channel = string.match(value, '^(.-)|')
    if channel then redis.call('PUBLISH', channel, name) end
  end
end
"""

_BUFFER = (
    _WAKE
    + """
local length = redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
wake(redis.call('GET', KEYS[2]), KEYS[1])
return length
"""
)

# Take the buffer, plus what a poll took earlier but never answered (its
# process died in between: `answered` clears it just before a response is
# written). What is taken stays in the "taken" list, marked with the poll.
_TAKE_FRAMES = """
local function take(buffer, taken, marker, value, ttl)
  local frames = redis.call('LRANGE', taken, 0, -1)
  for _, frame in ipairs(redis.call('LRANGE', buffer, 0, -1)) do
    table.insert(frames, frame)
  end
  redis.call('DEL', buffer, taken, marker)
  if #frames > 0 then
    redis.call('RPUSH', taken, unpack(frames))
    redis.call('EXPIRE', taken, ttl)
    redis.call('SET', marker, value, 'EX', ttl)
  end
  return frames
end
"""

_START = (
    _WAKE
    + _TAKE_FRAMES
    + """
local previous = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2])
wake(previous, KEYS[1])
return take(KEYS[1], KEYS[4], KEYS[5], ARGV[1], ARGV[2])
"""
)

_TAKE = (
    _TAKE_FRAMES
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0} end
local frames = take(KEYS[1], KEYS[4], KEYS[5], ARGV[1], ARGV[2])
if #frames == 0 and redis.call('EXISTS', KEYS[3]) == 0 then return {1} end
return {2, frames}
"""
)

_ANSWERED = """
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
return 1
"""

_DROP = (
    _WAKE
    + """
wake(redis.call('GET', KEYS[2]), KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
"""
)

#: Outcomes of `take`.
SUPERSEDED, GONE, FRAMES = "superseded", "gone", "frames"


@dataclass(frozen=True, slots=True)
class Taken:
    """What a woken poll found: SUPERSEDED, GONE or FRAMES (maybe none)."""

    outcome: str
    frames: tuple[bytes, ...] = ()


async def buffer_frames(token: str, frames: list[bytes], *, limit: int, ttl: float) -> bool:
    """Append frames for a long-polling client and wake its poll; False if full."""
    length = await client_for(buffer_key(token)).eval(
        _BUFFER, 2, buffer_key(token), _poll_key(token), int(ttl) + 1, *frames
    )
    return int(length) <= limit


async def start_poll(token: str, value: str, *, until: float) -> list[bytes]:
    """Make the poll `value` (see `poll_value`) current and take what is buffered.

    A previous poll is woken (and answers 204). `until` (epoch seconds) is when
    this poll will have ended at the latest: the client counts as active
    until then.
    """
    return await client_for(buffer_key(token)).eval(
        _START, 5, buffer_key(token), _poll_key(token), _seen_key(token), *_taken_keys(token),
        value, BOOKKEEPING_TTL, until,
    )  # fmt: skip


async def take(token: str, value: str) -> Taken:
    """Take the frames of the woken poll `value`, unless a newer poll or a DELETE came.

    GONE when nothing is buffered and the connection ended (its registry
    entry is gone).
    """
    result = await client_for(buffer_key(token)).eval(
        _TAKE, 5, buffer_key(token), _poll_key(token), registry_key(token), *_taken_keys(token),
        value, BOOKKEEPING_TTL,
    )  # fmt: skip
    outcome = {0: SUPERSEDED, 1: GONE, 2: FRAMES}[int(result[0])]
    return Taken(outcome, tuple(result[1]) if len(result) > 1 else ())


async def answered(token: str, value: str) -> None:
    """Forget what the poll `value` took: its response is being written now.

    Until then a later poll (on any process) takes those frames again, so a
    process that dies between taking and answering loses nothing.
    """
    await client_for(buffer_key(token)).eval(_ANSWERED, 2, *_taken_keys(token), value)


async def end_poll(token: str) -> None:
    """Note that the connection's poll ended just now."""
    name = _seen_key(token)
    await client_for(name).set(name, time.time(), ex=BOOKKEEPING_TTL)


async def last_seen(tokens: list[str]) -> list[float]:
    """Return when each connection's client last polled, or polls until (epoch s, 0 if never)."""
    if not tokens:
        return []
    names = [_seen_key(t) for t in tokens]
    raw = await pipelined((name, lambda pipe, name=name: pipe.get(name)) for name in names)
    return [float(value) if value else 0.0 for value in raw]


async def drop(token: str) -> None:
    """Delete a connection's buffer and poll bookkeeping; its waiting poll ends."""
    await client_for(buffer_key(token)).eval(
        _DROP, 5, buffer_key(token), _poll_key(token), _seen_key(token), *_taken_keys(token)
    )


def poll_value(waiter: str, poll: str) -> str:
    """What the poll key holds while `poll` waits on the waiter `waiter`."""
    return f"{wake_channel(waiter)}|{poll}"


async def need_waking(
    polls: Iterable[tuple[str, str]], owners: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Check waiting polls, given as (token, poll value), in one round trip per shard.

    Return the tokens whose poll has something to answer (frames, a newer
    poll, an ended connection) and the `owners` that are not alive.
    """
    polls, owners = list(polls), list(owners)
    commands = []
    for token, _value in polls:
        buffer, poll, entry = buffer_key(token), _poll_key(token), registry_key(token)
        commands += [
            (buffer, lambda pipe, name=buffer: pipe.exists(name)),
            (poll, lambda pipe, name=poll: pipe.get(name)),
            (entry, lambda pipe, name=entry: pipe.exists(name)),
        ]
    for owner in owners:
        alive = alive_key(owner)
        commands.append((alive, lambda pipe, name=alive: pipe.exists(name)))
    results = await pipelined(commands)
    due = set()
    for i, (token, value) in enumerate(polls):
        has_frames, current, registered = results[3 * i : 3 * i + 3]
        if has_frames or not registered or (current or b"").decode() != value:
            due.add(token)
    alive = results[3 * len(polls) :]
    dead = {owner for owner, up in zip(owners, alive, strict=True) if not up}
    return due, dead
