"""Every Redis key of the package, and the key families the instances share.

All keys are built by `key`. Here: the connection registry (token ->
connection id, hub, user, owning process), which process holds members of
which group, presence (user -> connections, with expiry), process liveness
and per-connection locks. The other families live with their concept and
take their keys from here: long-poll buffers (``realtime.polls``), sends
before a connection starts (``realtime.unstarted``), the registry epoch
(``realtime.epoch``), sign-in failure counters (``realtime.throttle``) and
dashboard snapshots (``realtime.stats``). Transports never come here:
they ask ``realtime.registry`` and ``realtime.polls``.

Every operation is atomic on the Redis side (one command, MULTI, or a Lua
script); nothing reads a value, changes it in Python and writes it back.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from realtime.redis_pool import client

PREFIX = "rt"


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


# Connection registry -------------------------------------------------------


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
    redis = client()
    entry = {"id": connection_id, "hub": hub, "user": user_id, "owner": owner}
    if stateful:
        entry["stateful"] = "1"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key("conn", secret(token)), mapping=entry)
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
        stateful=data.get("stateful") == "1",
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


#: Connections (or presence entries) re-written per script call.
BATCH = 500

# KEYS: the registry key and the connection id key of each connection; ARGV[1]
# the expiry in seconds, then id, hub, user, owner, transport per connection.
_REGISTER_MANY = """
for i = 1, #KEYS / 2 do
  local a = 1 + (i - 1) * 5
  redis.call('HSET', KEYS[2 * i - 1], 'id', ARGV[a + 1], 'hub', ARGV[a + 2],
             'user', ARGV[a + 3], 'owner', ARGV[a + 4], 'transport', ARGV[a + 5])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[1])
  redis.call('SET', KEYS[2 * i], ARGV[a + 4], 'EX', ARGV[1])
end
return 1
"""


def _batches(items: Iterable, size: int = BATCH) -> Iterable[list]:
    items = list(items)
    return (items[start : start + size] for start in range(0, len(items), size))


async def refresh_registrations(
    entries: Iterable[Registration], tokens: Iterable[str], ttl: float
) -> None:
    """Re-write the registry entries of live connections (survives a Redis restart).

    A script call per BATCH connections: a rebuild of thousands of entries
    costs a few commands to encode, not thousands.
    """
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for batch in _batches(zip(entries, tokens, strict=True)):
            keys, values = [], []
            for e, token in batch:
                keys += [key("conn", secret(token)), key("cid", e.connection_id)]
                values += [e.connection_id, e.hub, e.user_id, e.owner, e.transport]
            pipe.eval(_REGISTER_MANY, len(keys), *keys, int(ttl) + 1, *values)
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
# (senders look them up through realtime.epoch, behind the registry epoch)


async def add_to_group(group: str, process: str) -> None:
    """Record that `process` holds members of `group`."""
    await client().sadd(key("group", group), process)


# KEYS: group keys; ARGV[1]: the process.
_ADD_TO_GROUPS = "for i = 1, #KEYS do redis.call('SADD', KEYS[i], ARGV[1]) end return 1"


async def add_to_groups(groups: Iterable[str], process: str) -> None:
    """Record again every group a process holds members of (after a Redis restart).

    A script call per BATCH groups: every user with a connection here has a
    group, and a command each cost as much to encode as the SADD itself.
    """
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for batch in _batches(key("group", group) for group in groups):
            pipe.eval(_ADD_TO_GROUPS, len(batch), *batch, process)
        await pipe.execute()


# Presence ------------------------------------------------------------------

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


def _presence_args(entries: list[tuple[str, str]], ttl: float, now: float) -> tuple:
    keys = [key("online")]
    for user_id, _ in entries:
        keys += [key("presence", user_id), key("admitted", user_id)]
    values = [v for user_id, member in entries for v in (member, user_id)]
    return (_PRESENCE_ADD, len(keys), *keys, now + ttl, int(ttl) + 1, *values)


def _presence_remove_args(user_id: str, member: str, now: float) -> tuple:
    return (_PRESENCE_REMOVE, 2, key("presence", user_id), key("online"), member, now, user_id)


async def presence_add(user_id: str, member: str, ttl: float) -> None:
    """Add a connection (`hub|connection_id`) to a user's presence."""
    await client().eval(*_presence_args([(user_id, member)], ttl, time.time()))


async def presence_refresh(entries: Iterable[tuple[str, str]], ttl: float) -> None:
    """Push the expiry of live connections (user_id, member) forward."""
    now = time.time()
    redis = client()
    async with redis.pipeline(transaction=False) as pipe:
        for batch in _batches(entries):
            pipe.eval(*_presence_args(batch, ttl, now))
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


# Locks and health ----------------------------------------------------------


async def try_lock(name: str, token: str, ttl: float) -> bool:
    """Take a short lock (e.g. one POST at a time per connection)."""
    return bool(
        await client().set(key("lock", name, secret(token)), 1, nx=True, px=int(ttl * 1000))
    )


async def unlock(name: str, token: str) -> None:
    """Release a lock taken with try_lock."""
    await client().delete(key("lock", name, secret(token)))


async def drop_idle_connections() -> None:
    """Close the pool's idle connections: after Redis restarted, all are dead
    (and a dead one can fail a command even through the retries)."""
    await client().connection_pool.disconnect(inuse_connections=False)


async def ping() -> bool:
    """Return whether Redis answers."""
    return bool(await client().ping())
