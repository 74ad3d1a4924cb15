"""The lifetime manager's interface, as the views and connections see it.

`Sender` is what a view over audiences needs (``hub_context`` outside hubs,
``self.clients`` inside them); `HubLifetimeManager` adds what a connection
needs (its tables and its group membership). The Redis lifetime manager
implements both; `publish.PUBLISHER` implements `Sender` for code that only
sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from realtime.lifetime.publish import Audience


class Sender(Protocol):
    """Send client events to audiences of a hub."""

    async def send(
        self, namespace: str, audience: Audience, target: str, arguments: Iterable[Any]
    ) -> int:
        """Send a client event to an audience; return how many processes got it."""

    async def remove_users_from_group(
        self, namespace: str, name: str, user_ids: Iterable[object]
    ) -> int:
        """Take the users' connections out of a public group, on every instance."""


class HubLifetimeManager(Sender, Protocol):
    """Own this process's connections and groups, and send to any audience.

    `member` is a connection (typed loosely here: the connection module
    sits above this interface).
    """

    #: The process's channel-layer channel (its address in the registry).
    channel: str

    async def attach(self, member: Any) -> None:
        """Make a connection reachable by id in this process."""

    async def enter(self, member: Any, groups: Iterable[str]) -> None:
        """Attach a starting connection, add it to (layer-named) groups, and
        record it (owner of its id, presence) where other processes look."""

    async def detach(self, member: Any) -> None:
        """Forget a connection and leave all its groups."""

    async def join(self, member: Any, group: str) -> None:
        """Add a connection to a (layer-named) group."""

    async def leave(self, member: Any, group: str) -> None:
        """Remove a connection from a (layer-named) group."""

    def forget(self, member: Any, *, moved: bool = False) -> None:
        """Queue the Redis cleanup of a connection that ended (`moved`: that was
        resumed on another process)."""
