"""The only module that knows Redis keys.

Everything the instances of a deployment share lives here: the connection
registry (token -> connection id, hub, user, owning process), which process
holds members of which group, presence (user -> connections, with expiry),
long-poll buffers and per-connection locks. Every operation is atomic on the
Redis side (one command, MULTI, or a Lua script); nothing reads a value,
changes it in Python and writes it back.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

PREFIX = "rt"
#: Redis connections per event loop, and seconds a command waits for one.
POOL_SIZE = 500
POOL_WAIT = 30.0

_clients: weakref.WeakKeyDictionary[AbstractEventLoop, tuple[str, Redis]] = (
    weakref.WeakKeyDictionary()
)


def key(*parts: str | int) -> str:
    """Build a Redis key: every key of the package goes through here."""
    return ":".join((PREFIX, *map(str, parts)))


def secret(token: str) -> str:
    """Return the digest of a connection token that names its keys.

    Connection tokens are secrets: only a digest of one is ever a key name,
    so `redis-cli monitor` and key dumps never show a usable token.
    """
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def registry_key(token: str) -> str:
    """The registry entry of a connection token."""
    return key("conn", secret(token))


def early_key(token: str) -> str:
    """What was sent for a negotiated connection before a process claimed it."""
    return key("early", secret(token))


def alive_key(process: str) -> str:
    """The short-lived key that says a process runs (`mark_alive`)."""
    return key("alive", process)


def client() -> Redis:
    """Return the Redis client of the running event loop (one pool per loop)."""
    loop = get_running_loop()
    url = settings.REDIS_URL
    cached = _clients.get(loop)
    if cached is None or cached[0] != url:
        # A pool that makes callers wait for a free connection: a burst (ten
        # thousand clients leaving at once) queues. redis-py's default pool
        # raised MaxConnectionsError at its limit, and the cleanup was lost.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT,
            socket_timeout=None,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        redis = Redis.from_pool(pool)
        _clients[loop] = (url, redis)
        _close_with(loop, redis)
        return redis
    return cached[1]


def _close_with(loop: AbstractEventLoop, redis: Redis) -> None:
    # Sync callers (async_to_sync) run each call on a short-lived loop; close
    # the loop's pool with it, as channels_redis does for its own pools.
    original = loop.close

    def close() -> None:
        if not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(redis.aclose())
        original()

    loop.close = close  # type: ignore[method-assign]


# Connection registry -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """What the registry holds for one connection token."""

    connection_id: str
    hub: str
    user_id: str
    owner: str
    transport: str


_CLAIM = """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {0} end
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= '' then return {1} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'transport', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
local early = redis.call('GET', KEYS[3]) or ''
redis.call('DEL', KEYS[3])
return {2, early}
"""

CLAIMED, UNKNOWN, CONFLICT = "claimed", "unknown", "conflict"


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of `claim`, with what the client sent before it."""

    outcome: str
    early: bytes = b""


async def register(
    token: str, *, connection_id: str, hub: str, user_id: str, ttl: float, owner: str = ""
) -> None:
    """Record a negotiated (or directly opened) connection."""
    redis = client()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            key("conn", secret(token)),
            mapping={"id": connection_id, "hub": hub, "user": user_id, "owner": owner},
        )
        pipe.expire(key("conn", secret(token)), int(ttl) + 1)
        if owner:
            pipe.set(key("cid", connection_id), owner, ex=int(ttl) + 1)
        await pipe.execute()


async def claim(token: str, *, connection_id: str, owner: str, transport: str, ttl: float) -> Claim:
    """Bind a negotiated token to the process that will run it.

    The outcome is CLAIMED (with the bytes sent before, see `send_early`),
    UNKNOWN (no such token) or CONFLICT (already bound).
    """
    result = await client().eval(
        _CLAIM,
        3,
        key("conn", secret(token)),
        key("cid", connection_id),
        early_key(token),
        owner,
        transport,
        int(ttl) + 1,
    )
    outcome = {0: UNKNOWN, 1: CONFLICT, 2: CLAIMED}[int(result[0])]
    return Claim(outcome, result[1] if len(result) > 1 else b"")


async def lookup(token: str) -> Registration | None:
    """Return the registration of `token`, or None."""
    raw = await client().hgetall(key("conn", secret(token)))
    if not raw:
        return None
    data = {k.decode(): v.decode() for k, v in raw.items()}
    return Registration(
        connection_id=data.get("id", ""),
        hub=data.get("hub", ""),
        user_id=data.get("user", ""),
        owner=data.get("owner", ""),
        transport=data.get("transport", ""),
    )


async def owner_of(connection_id: str) -> str | None:
    """Return the process channel that runs `connection_id`, or None."""
    raw = await client().get(key("cid", connection_id))
    return raw.decode() if raw else None


async def forget(token: str, connection_id: str) -> None:
    """Remove a connection from the registry."""
    await client().delete(key("conn", secret(token)), key("cid", connection_id))


async def forget_many(
    connections: Iterable[tuple[str, str, str, str]], groups: Iterable[str], process: str
) -> None:
    """In one pipeline: forget connections (token, connection id, user id, presence
    member) and remove `process` from `groups`."""
    now = time.time()
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for token, connection_id, user_id, member in connections:
            pipe.delete(key("conn", secret(token)), key("cid", connection_id))
            if user_id:
                pipe.eval(*_presence_remove_args(user_id, member, now))
        for group in groups:
            pipe.srem(key("group", group), process)
        await pipe.execute()


async def refresh_registrations(
    entries: Iterable[Registration], tokens: Iterable[str], ttl: float
) -> None:
    """Re-write the registry entries of live connections (survives a Redis restart)."""
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for entry, token in zip(entries, tokens, strict=True):
            name = key("conn", secret(token))
            pipe.hset(
                name,
                mapping={
                    "id": entry.connection_id,
                    "hub": entry.hub,
                    "user": entry.user_id,
                    "owner": entry.owner,
                    "transport": entry.transport,
                },
            )
            pipe.expire(name, int(ttl) + 1)
            pipe.set(key("cid", entry.connection_id), entry.owner, ex=int(ttl) + 1)
        await pipe.execute()


# Processes -----------------------------------------------------------------


async def heartbeat(process: str, ttl: float) -> None:
    """Mark a process channel alive for `ttl` seconds."""
    await client().set(key("proc", process), 1, ex=int(ttl) + 1)


async def mark_alive(process: str, ttl: float) -> None:
    """Say that a process runs, for `ttl` seconds (refreshed every second or so).

    Shorter-lived than `heartbeat`: requests for a crashed process's
    connections (long polls, sends) are refused within seconds. Group
    registrations go by the heartbeat, which rides out a slow moment.
    """
    await client().set(alive_key(process), 1, px=int(ttl * 1000))


async def is_alive(process: str) -> bool:
    """Return whether a process marked itself alive recently."""
    return bool(await client().exists(alive_key(process)))


async def process_gone(process: str) -> None:
    """Remove a process's heartbeat and liveness (clean shutdown)."""
    await client().delete(key("proc", process), alive_key(process))


# Groups: which processes hold local members --------------------------------

_LIVE_MEMBERS = """
local members = redis.call('SMEMBERS', KEYS[1])
local live = {}
for _, m in ipairs(members) do
  if redis.call('EXISTS', ARGV[1] .. m) == 1 then
    table.insert(live, m)
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return live
"""


async def add_to_group(group: str, process: str) -> None:
    """Record that `process` holds members of `group`."""
    await client().sadd(key("group", group), process)


async def add_to_groups(groups: Iterable[str], process: str) -> None:
    """Record again every group a process holds members of (after a Redis restart)."""
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.sadd(key("group", group), process)
        await pipe.execute()


async def group_processes(group: str) -> list[str]:
    """Return the live processes holding members of `group` (prunes dead ones)."""
    live = await client().eval(_LIVE_MEMBERS, 1, key("group", group), key("proc", ""))
    return [m.decode() for m in live]


# Presence ------------------------------------------------------------------

_PRESENCE_ADD = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[1])
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[2], top[2], ARGV[3])
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


def _presence_args(user_id: str, member: str, ttl: float, now: float) -> tuple:
    return (_PRESENCE_ADD, 3, key("presence", user_id), key("online"),
            key("admitted", user_id), member, now + ttl, user_id, int(ttl) + 1)  # fmt: skip


def _presence_remove_args(user_id: str, member: str, now: float) -> tuple:
    return (_PRESENCE_REMOVE, 2, key("presence", user_id), key("online"), member, now, user_id)


async def presence_add(user_id: str, member: str, ttl: float) -> None:
    """Add a connection (`hub|connection_id`) to a user's presence."""
    await client().eval(*_presence_args(user_id, member, ttl, time.time()))


async def presence_refresh(entries: Iterable[tuple[str, str]], ttl: float) -> None:
    """Push the expiry of live connections (user_id, member) forward."""
    now = time.time()
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for user_id, member in entries:
            pipe.eval(*_presence_args(user_id, member, ttl, now))
        await pipe.execute()


async def presence_remove(user_id: str, member: str) -> None:
    """Remove a connection from a user's presence."""
    await client().eval(*_presence_remove_args(user_id, member, time.time()))


async def connections_of(user_id: str) -> list[str]:
    """Return the live connections (`hub|connection_id`) of a user."""
    raw = await client().zrangebyscore(key("presence", user_id), time.time(), "+inf")
    return [m.decode() for m in raw]


async def owners_of_user(user_id: str) -> set[str]:
    """Return the processes that run live connections of a user."""
    ids = [member.partition("|")[2] for member in await connections_of(user_id)]
    if not ids:
        return set()
    owners = await client().mget([key("cid", connection_id) for connection_id in ids])
    return {owner.decode() for owner in owners if owner}


async def online_users() -> list[str]:
    """Return the ids of users with at least one live connection."""
    raw = await client().zrangebyscore(key("online"), time.time(), "+inf")
    return [m.decode() for m in raw]


# Locks ------------------------------------------------------------------


# Failure counters (throttling) ----------------------------------------------

_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


async def count_failure(kind: str, name: str, window: float) -> int:
    """Count a failure of `name`; the count expires `window` s after the first."""
    return int(await client().eval(_COUNT, 1, key("fail", kind, secret(name)), int(window)))


async def failures(kind: str, name: str) -> tuple[int, int]:
    """Return the failures counted for `name` and the seconds until they expire."""
    redis, name = client(), key("fail", kind, secret(name))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(name)
        pipe.ttl(name)
        count, ttl = await pipe.execute()
    return int(count or 0), max(int(ttl), 0)


async def clear_failures(kind: str, name: str) -> None:
    """Forget the failures of `name` (after a success)."""
    await client().delete(key("fail", kind, secret(name)))


async def try_lock(name: str, token: str, ttl: float) -> bool:
    """Take a short lock (e.g. one POST at a time per connection)."""
    return bool(
        await client().set(key("lock", name, secret(token)), 1, nx=True, px=int(ttl * 1000))
    )


async def unlock(name: str, token: str) -> None:
    """Release a lock taken with try_lock."""
    await client().delete(key("lock", name, secret(token)))


async def ping() -> bool:
    """Return whether Redis answers."""
    return bool(await client().ping())
