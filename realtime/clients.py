"""Audiences and group membership as a hub method sees them (``self.clients``).

The same audience family as ``hub_context`` (realtime/context.py), with an
async ``send`` and the caller's own audiences on top: ``caller``,
``others`` and ``others_in_group``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from realtime import conf, metrics, results
from realtime.context import Audience, AudienceProxy, Audiences
from realtime.errors import HubException
from realtime.groups import layer_group_name
from realtime.lifetime.manager import HubLifetimeManager
from realtime.protocol import HubMessage, Invocation

logger = logging.getLogger(__name__)


class Member(Protocol):
    """What the hub's views need of the connection they serve."""

    connection_id: str
    #: The layer names of the groups the connection is in.
    joined: set[str]
    backplane: HubLifetimeManager

    async def send(self, message: HubMessage) -> None:
        """Encode and send one hub message to this connection."""


class HubClientProxy(AudienceProxy):
    """An audience inside a hub: ``await ....send(target, *args)``."""

    __slots__ = ()

    async def send(self, target: str, *arguments: Any) -> int:
        """Send a client event to the audience."""
        return await self.asend(target, *arguments)


class SingleClientProxy(HubClientProxy):
    """One connection by id: a client event, or a method whose result is awaited."""

    __slots__ = ()

    async def invoke(self, target: str, *arguments: Any, timeout: float | None = None) -> Any:
        """Invoke a client method and return its result (``InvokeAsync<T>``).

        Errors as ``hub_context(...).connection(id).ainvoke``.
        """
        (connection_id,) = self._audience.names
        return await results.invoke_connection(
            self._namespace, connection_id, target, arguments, timeout
        )


class CallerProxy:
    """The connection that made the current call (written to directly)."""

    __slots__ = ("_connection", "_namespace")

    def __init__(self, connection: Member, namespace: str) -> None:
        self._connection = connection
        self._namespace = namespace

    async def send(self, target: str, *arguments: Any) -> int:
        """Send a client event to the caller only."""
        metrics.sent(self._namespace, target)
        await self._connection.send(Invocation(target, tuple(arguments)))
        return 1

    async def invoke(self, target: str, *arguments: Any, timeout: float | None = None) -> Any:
        """Invoke a method of the caller's client and return its result.

        Errors as ``hub_context(...).connection(id).ainvoke``. Inside a hub
        method the invocation steps off the connection's reader while it
        waits, so the client's answer is read; other invocations of the
        caller may run meanwhile (ASP.NET Core releases its invocation limit
        the same way).
        """
        return await results.invoke(self._connection, target, arguments, timeout)


class HubClients(Audiences[HubClientProxy]):
    """``self.clients`` of a hub: ASP.NET Core's IHubCallerClients."""

    proxy = HubClientProxy

    def __init__(self, connection: Member, namespace: str, *, allow_all: bool) -> None:
        super().__init__(namespace, allow_all=allow_all, sender=connection.backplane)
        self._connection = connection

    @property
    def caller(self) -> CallerProxy:
        """The calling connection."""
        return CallerProxy(self._connection, self.namespace)

    def connection(self, connection_id: str) -> SingleClientProxy:
        """Address one connection by id (``Clients.Client``): send, or invoke for a result."""
        audience = Audience("connections", (connection_id,))
        return SingleClientProxy(self._sender, self.namespace, audience)

    def others_in_group(self, name: str) -> HubClientProxy:
        """Address every connection in a group except the caller."""
        return self.group_except(name, (self._connection.connection_id,))

    @property
    def others(self) -> HubClientProxy:
        """Every connection of the hub but the caller (where the hub opts in)."""
        return self.all_except((self._connection.connection_id,))


class GroupManager:
    """``self.groups`` of a hub: join and leave groups for this connection."""

    __slots__ = ("_connection", "_namespace")

    def __init__(self, connection: Member, namespace: str) -> None:
        self._connection = connection
        self._namespace = namespace

    def _layer_name(self, name: str) -> str:
        return layer_group_name(self._namespace, name)

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
