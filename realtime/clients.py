"""Audiences and group membership as a hub method sees them (``self.clients``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from realtime import conf, metrics
from realtime.context import ALL, Audience, HubContext, deliver, layer_group_name
from realtime.hub import HubException
from realtime.protocol import Invocation

if TYPE_CHECKING:
    from realtime.connection import Connection

logger = logging.getLogger(__name__)


class AsyncClientProxy:
    """An audience inside a hub: ``await ....send(target, *args)``."""

    __slots__ = ("_audience", "_namespace")

    def __init__(self, namespace: str, audience: Audience) -> None:
        self._namespace = namespace
        self._audience = audience

    async def send(self, target: str, *arguments: Any) -> int:
        """Send a client event to the audience."""
        return await deliver(self._namespace, self._audience, target, arguments)


class CallerProxy:
    """The connection that made the current call (written to directly)."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def send(self, target: str, *arguments: Any) -> int:
        """Send a client event to the caller only."""
        metrics.sent(self._connection.hub_class.namespace, target)
        await self._connection.send(Invocation(target, tuple(arguments)))
        return 1


class HubClients:
    """``self.clients`` of a hub: ASP.NET Core's IHubCallerClients."""

    __slots__ = ("_connection", "_context")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        hub = connection.hub_class
        self._context = HubContext(hub.namespace, allow_all=hub.allow_broadcast_to_all)

    @property
    def caller(self) -> CallerProxy:
        """The calling connection."""
        return CallerProxy(self._connection)

    def _proxy(self, audience: Audience) -> AsyncClientProxy:
        return AsyncClientProxy(self._connection.hub_class.namespace, audience)

    def group(self, name: str) -> AsyncClientProxy:
        """Every connection in a group."""
        return self._proxy(self._context.group(name)._audience)

    def groups(self, names: Iterable[str]) -> AsyncClientProxy:
        """Every connection in any of the groups."""
        return self._proxy(self._context.groups(names)._audience)

    def others_in_group(self, name: str) -> AsyncClientProxy:
        """Every connection in a group except the caller."""
        return self.group_except(name, (self._connection.connection_id,))

    def group_except(self, name: str, connection_ids: Iterable[str]) -> AsyncClientProxy:
        """Every connection in a group but the given ones."""
        return self._proxy(self._context.group_except(name, connection_ids)._audience)

    def user(self, user_id: object) -> AsyncClientProxy:
        """Every connection of a user."""
        return self._proxy(self._context.user(user_id)._audience)

    def users(self, user_ids: Iterable[object]) -> AsyncClientProxy:
        """Every connection of each user."""
        return self._proxy(self._context.users(user_ids)._audience)

    def connection(self, connection_id: str) -> AsyncClientProxy:
        """One connection by id."""
        return self._proxy(self._context.connection(connection_id)._audience)

    def clients(self, connection_ids: Iterable[str]) -> AsyncClientProxy:
        """Each of the connections, by id."""
        return self._proxy(self._context.clients(connection_ids)._audience)

    @property
    def all(self) -> AsyncClientProxy:
        """Every connection of the hub (only where the hub opts in)."""
        return self._proxy(self._context.everyone())

    def all_except(self, connection_ids: Iterable[str]) -> AsyncClientProxy:
        """Every connection of the hub but the given ones (where the hub opts in)."""
        return self._proxy(self._context.everyone(connection_ids))

    @property
    def others(self) -> AsyncClientProxy:
        """Every connection of the hub but the caller (where the hub opts in)."""
        return self.all_except((self._connection.connection_id,))


class GroupManager:
    """``self.groups`` of a hub: join and leave groups for this connection."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _layer_name(self, name: str) -> str:
        return layer_group_name(self._connection.hub_class.namespace, name)

    async def add(self, name: str) -> None:
        """Join a group; refuse past MAX_GROUPS_PER_CONNECTION."""
        connection = self._connection
        group = self._layer_name(name)
        if group in connection.joined:
            return
        limit = conf.get().MAX_GROUPS_PER_CONNECTION
        if len(connection.joined) >= limit:
            logger.warning("group limit reached on %s", connection.connection_id)
            raise HubException(f"A connection may join at most {limit} groups.")
        connection.joined.add(group)
        await connection.backplane.join(connection, group)

    async def discard(self, name: str) -> None:
        """Leave a group (no error if not a member)."""
        connection = self._connection
        group = self._layer_name(name)
        if group in connection.joined:
            connection.joined.discard(group)
            await connection.backplane.leave(connection, group)

    def __contains__(self, name: str) -> bool:
        return self._layer_name(name) in self._connection.joined

    async def join_all(self) -> None:
        """Join the hub-wide group (hubs with allow_broadcast_to_all)."""
        connection = self._connection
        connection.joined.add(self._layer_name(ALL))
        await connection.backplane.join(connection, self._layer_name(ALL))
