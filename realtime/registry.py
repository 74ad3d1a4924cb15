"""The connection registry as requests see it: register, claim, look up, check the owner.

A request for a connection may land on any process. The transports learn
here who runs the connection it names and whether that process still runs;
they hold no Redis keys themselves. The keys and scripts behind these
operations are in `realtime.store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from realtime import store
from realtime.groups import presence_member
from realtime.store import (
    CONFLICT,
    UNKNOWN,
    Registration,
    claim,
    forget,
    lookup,
    register,
    registration_write,
    write_all,
)

__all__ = [
    "CONFLICT",
    "UNKNOWN",
    "Registration",
    "claim",
    "forget",
    "lookup",
    "owner_runs",
    "register",
    "registration_write",
    "sending",
    "write_all",
]

#: Seconds a send holds its connection's lock at most (a crash releases it).
SEND_LOCK_TTL = 10


async def owner_runs(token: str, registration: Registration) -> bool:
    """Return whether the connection's process runs; else forget the connection.

    Its presence entry goes too: the client's reconnect must not count twice
    against its user's connection limit.
    """
    if await store.is_alive(registration.owner):
        return True
    member = presence_member(registration.hub, registration.connection_id)
    await store.forget_many(
        [(token, registration.connection_id, registration.user_id, member)],
        (),
        registration.owner,
    )
    return False


@asynccontextmanager
async def sending(token: str) -> AsyncIterator[bool]:
    """Hold the connection's send lock for the block; yield False if another send has it.

    One send at a time per connection, whichever processes the sends land on.
    """
    locked = await store.try_lock("post", token, ttl=SEND_LOCK_TTL)
    try:
        yield locked
    finally:
        if locked:
            await store.unlock("post", token)
