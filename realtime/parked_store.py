"""Redis keys of parked connections: stateful connections waiting for their client.

A stateful connection whose transport dropped is "parked" for the reconnect
window: its owner writes here what must survive (counters, unacknowledged
frames, groups, identity) with a TTL of the window, so that the client's
reconnect may land on any instance. Three scripts, each atomic: `save`
(re-written by the owner as frames arrive, unless a resume claimed it),
`claim` (once: the resuming instance takes the state and the registry
entry) and `expire` (once: the owner ends the connection at the window's
end, unless it was claimed). Keys are named by the token's digest
(``realtime.keys.token_key``), on the shard of the token's registry entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from realtime import store
from realtime.keys import group_key, index_key, indexed_key, registry_key, token_key
from realtime.shards import client_for, pipelined
from realtime.stateful import Snapshot

SAVED, CLAIMED, UNKNOWN, LOST = "saved", "claimed", "unknown", "lost"


def state_keys(token: str) -> tuple[str, str]:
    """The state hash and the frames list of a parked connection."""
    return token_key("parked", token), token_key("parked", token, "frames")


@dataclass(frozen=True, slots=True)
class Parked:
    """The state of a parked connection, as `claim` hands it over."""

    connection_id: str
    hub: str
    user_id: str
    owner: str
    protocol: str
    groups: tuple[str, ...]
    #: Ids of the channel-layer messages among the frames (deduplication).
    message_ids: frozenset[str]
    snapshot: Snapshot


# Who may write a parked connection's state: its owner, for the park it
# started (`park` names each park), until a resume claims it; then only the
# claimer, for a later park of its own. Anyone else learns who holds it.
_HOLDER = """
local function holder()
  local owner, park, claimed = unpack(redis.call('HMGET', KEYS[1], 'owner', 'park', 'claimed'))
  if not owner then return false end
  if claimed and claimed ~= '' then
    if claimed ~= ARGV[1] or park == ARGV[2] then return claimed end
    return false
  end
  if owner ~= ARGV[1] or park ~= ARGV[2] then return owner end
  return false
end
local other = holder()
if other then return {1, other} end
"""

# KEYS: state hash, frames list. ARGV: owner, park, ttl, resumable, the number
# of fields, their field/value pairs (_FIELDS), then the frames.
_SAVE = (
    _HOLDER
    + """
local last = 4 + 2 * tonumber(ARGV[5])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'park', ARGV[2], 'ok', ARGV[4],
           unpack(ARGV, 6, last + 1))
for i = last + 2, #ARGV, 500 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {0}
"""
)

#: The fields of the state hash (besides owner, ok and claimed).
_FIELDS = ("id", "hub", "user", "protocol", "groups", "ids", "counters")


async def save(
    token: str,
    *,
    connection_id: str,
    hub: str,
    user_id: str,
    owner: str,
    park: str,
    protocol: str,
    groups: list[str],
    message_ids: list[str],
    snapshot: Snapshot,
    resumable: bool,
    ttl: float,
) -> tuple[str, str]:
    """Write a parked connection's state; return (SAVED, "") or (CLAIMED, holder).

    Refused when another process holds the connection now (it claimed it,
    or parked it again after that), or when this park was claimed.
    """
    counters = [
        snapshot.sent, snapshot.acked, snapshot.lost_through,
        snapshot.received, snapshot.next_receive,
    ]  # fmt: skip
    values = [connection_id, hub, user_id, protocol, json.dumps(groups), " ".join(message_ids),
              json.dumps(counters)]  # fmt: skip
    fields = [v for pair in zip(_FIELDS, values, strict=True) for v in pair]
    result = await client_for(registry_key(token)).eval(
        _SAVE, 2, *state_keys(token),
        owner, park, int(ttl) + 1, int(resumable), len(_FIELDS), *fields, *snapshot.frames,
    )  # fmt: skip
    if int(result[0]) == 1:
        return CLAIMED, result[1].decode()
    return SAVED, ""


# KEYS: state hash, frames list, registry entry (one token: one shard), the
# claimer's index and the indexed processes there (realtime.liveness).
# ARGV: the claimer, its transport, the registry TTL.
_CLAIM = """
local state = redis.call('HGETALL', KEYS[1])
if #state == 0 then return {0} end
local claimer = redis.call('HGET', KEYS[1], 'claimed')
if claimer and claimer ~= '' then return {1} end
if redis.call('HGET', KEYS[1], 'ok') ~= '1' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {3}
end
redis.call('HSET', KEYS[1], 'claimed', ARGV[1])
local frames = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[3], 'owner', ARGV[1], 'transport', ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], 'r' .. KEYS[3])
redis.call('SADD', KEYS[5], ARGV[1])
return {2, state, frames}
"""


async def claim(
    token: str,
    *,
    connection_id: str,
    claimer: str,
    transport: str,
    ttl: float,
    holds: Callable[[str], bool] = lambda group: False,
) -> tuple[str, Parked | None]:
    """Take a parked connection over, once: (CLAIMED, state), or (UNKNOWN or LOST, None).

    UNKNOWN: not parked (never, no longer, or claimed already). LOST: parked,
    but frames the client had not acknowledged were dropped at the buffer's
    bound; the state is deleted and the client must start afresh.

    The claimer joins the connection's groups before the claim (they live
    on other shards than the state): from the claim on, a broadcast reaches
    it even if the old owner leaves the groups at once. A claim that fails
    takes it out of those groups again, except the ones `holds` says it has
    members of already.
    """
    state_key = state_keys(token)[0]
    redis = client_for(state_key)
    raw = await redis.hget(state_key, "groups")
    joined = json.loads(raw) if raw else []
    await _in_groups(joined, claimer, join=True)
    result = await redis.eval(
        _CLAIM, 5, *state_keys(token), registry_key(token), index_key(claimer), indexed_key(),
        claimer, transport, int(ttl) + 1,
    )  # fmt: skip
    outcome = int(result[0])
    if outcome != 2:
        await _in_groups([g for g in joined if not holds(g)], claimer, join=False)
        return (LOST if outcome == 3 else UNKNOWN), None
    raw = result[1]
    state = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
    groups = json.loads(state["groups"])
    # The groups written since the read above, and the owner of the id (a
    # sender that looks up the old owner meanwhile is forwarded by it).
    await _in_groups([g for g in groups if g not in joined], claimer, join=True)
    await store.set_owner(connection_id, claimer, ttl)
    sent, acked, lost_through, received, next_receive = json.loads(state["counters"])
    snapshot = Snapshot(sent, acked, lost_through, received, next_receive, tuple(result[2]))
    return CLAIMED, Parked(
        connection_id=state["id"],
        hub=state["hub"],
        user_id=state["user"],
        owner=state["owner"],
        protocol=state["protocol"],
        groups=tuple(groups),
        message_ids=frozenset(state["ids"].split()),
        snapshot=snapshot,
    )


async def _in_groups(groups: list[str], process: str, *, join: bool) -> None:
    commands = [
        (name, lambda pipe, name=name: (pipe.sadd if join else pipe.srem)(name, process))
        for name in map(group_key, groups)
    ]
    await pipelined(commands)


_EXPIRE = (
    _HOLDER
    + """
redis.call('DEL', KEYS[1], KEYS[2])
return {0}
"""
)


async def expire(token: str, *, owner: str, park: str) -> tuple[str, str]:
    """End a parked connection for good, unless a resume claimed it first.

    Return (UNKNOWN, "") when it ended here (or was never saved), or
    (CLAIMED, holder).
    """
    result = await client_for(registry_key(token)).eval(_EXPIRE, 2, *state_keys(token), owner, park)
    if int(result[0]) == 1:
        return CLAIMED, result[1].decode()
    return UNKNOWN, ""
