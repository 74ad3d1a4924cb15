"""Every Redis key name of the package, and the owner that places it on a shard.

All keys are built by `key`. A key that belongs to one owner carries it
as a hash tag (`realtime.shards.tag`): a connection's keys its token digest,
a group's its name, a user's presence the user id. Keys without a tag are
per process or per shard and live on every shard (`realtime.shards`).
"""

from __future__ import annotations

import hashlib

from realtime.shards import tag

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


def token_key(family: str, token: str, *rest: str) -> str:
    """A key of a connection, on the shard of its token."""
    return key(family, tag(secret(token)), *rest)


def registry_key(token: str) -> str:
    """The registry entry of a connection token."""
    return token_key("conn", token)


def early_key(token: str) -> str:
    """What was sent for a negotiated connection before a process claimed it."""
    return token_key("early", token)


def cid_key(connection_id: str) -> str:
    """The owning process of a connection id (what senders by id look up)."""
    return key("cid", tag(connection_id))


def group_key(group: str) -> str:
    """The processes that hold members of a group."""
    return key("group", tag(group))


def presence_key(user_id: str) -> str:
    """A user's live connections, scored by when their lease ends."""
    return key("presence", tag(user_id))


def presence_owner_key(user_id: str) -> str:
    """The process that wrote each of a user's presence entries."""
    return key("powner", tag(user_id))


def admitted_key(user_id: str) -> str:
    """A user's admitted connections that have not started yet."""
    return key("admitted", tag(user_id))


def online_key() -> str:
    """The users online whose presence lives on a shard (one such set per shard)."""
    return key("online")


def proc_key(process: str) -> str:
    """A process's heartbeat (on every shard): groups trust it."""
    return key("proc", process)


def alive_key(process: str) -> str:
    """The short-lived key that says a process runs (on every shard)."""
    return key("alive", process)


def index_key(process: str) -> str:
    """What a process wrote on a shard (one such set per shard): its sweep list."""
    return key("index", process)


def indexed_key() -> str:
    """The processes with an index on a shard (one such set per shard)."""
    return key("indexed")
