"""Who is online: the seed's IConnectionTracker, on atomic Redis operations.

Connections add and remove themselves (``Connection.start``/``closed``),
once each: nothing refreshes an entry while its connection lives. The
entries of a crashed instance are removed within seconds by the instances
that remain (`realtime.liveness`). Entries are
`realtime.groups.presence_member` strings.
"""

from __future__ import annotations

from realtime import conf, portal, store


async def add_connection(user_id: object, member: str, owner: str = "") -> None:
    """Record a connection of a user (done for you by every hub connection).

    With `owner` (a process channel), the entry goes when that process dies;
    without, it stays until removed or ENTRY_LEASE passes.
    """
    await store.presence_add(str(user_id), member, conf.get().ENTRY_LEASE, owner)


async def remove_connection(user_id: object, member: str) -> None:
    """Forget a connection of a user (done for you when a connection ends)."""
    await store.presence_remove(str(user_id), member)


async def get_user_connections(user_id: object) -> list[str]:
    """Return the live connections of a user, on every instance."""
    return await store.connections_of(str(user_id))


async def is_user_online(user_id: object) -> bool:
    """Return whether a user has at least one live connection."""
    return bool(await store.connections_of(str(user_id)))


async def online_users() -> list[str]:
    """Return the ids of every user with a live connection (show to staff only)."""
    return await store.online_users()


def online_users_sync() -> list[str]:
    """Return `online_users()` from sync code (views, the admin)."""
    return portal.call(online_users)
