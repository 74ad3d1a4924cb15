"""Who is online: the seed's IConnectionTracker, on atomic Redis operations.

Connections add and remove themselves (``Connection.start``/``closed``);
each entry carries its own expiry, pushed forward by the owning process every
PRESENCE_TTL/3 seconds, so the connections of a crashed instance disappear
by themselves within PRESENCE_TTL without any cleanup job. Entries are
`realtime.groups.presence_member` strings.
"""

from __future__ import annotations

from realtime import conf, portal, store


async def add_connection(user_id: object, member: str) -> None:
    """Record a connection of a user (done for you by every hub connection)."""
    await store.presence_add(str(user_id), member, conf.get().PRESENCE_TTL)


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
