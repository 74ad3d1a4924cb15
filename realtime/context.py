"""Audiences of a hub, as thin views over the lifetime manager.

``hub_context(OrderHub).group("order:42").send("OrderStatusUpdated", ...)``
from sync code, ``await ....asend(...)`` from async code. Inside a hub,
``self.clients`` (realtime/clients.py) is the same family with async
``send`` and the caller's audiences on top. Both hand every event to a
`Sender` (realtime/lifetime/manager.py), which routes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

from realtime import portal, results
from realtime.groups import ALL, user_group
from realtime.lifetime.manager import Sender
from realtime.lifetime.publish import PUBLISHER, Audience, DeliveryError

__all__ = [
    "Audience",
    "Audiences",
    "ClientProxy",
    "DeliveryError",
    "HubContext",
    "SingleClientProxy",
    "hub_context",
]


class AudienceProxy:
    """One audience of one hub, bound to the sender that routes its events."""

    __slots__ = ("_audience", "_namespace", "_sender")

    def __init__(self, sender: Sender, namespace: str, audience: Audience) -> None:
        self._sender = sender
        self._namespace = namespace
        self._audience = audience

    async def asend(self, target: str, *arguments: Any) -> int:
        """Send a client event from async code; return how many processes got it."""
        return await self._sender.send(self._namespace, self._audience, target, arguments)


class ClientProxy(AudienceProxy):
    """An audience seen from outside a hub: ``send`` (sync) and ``asend``."""

    __slots__ = ()

    def send(self, target: str, *arguments: Any) -> int:
        """Send a client event from sync code (views, signals, commands)."""
        return portal.call(self.asend, target, *arguments)


class SingleClientProxy(ClientProxy):
    """One connection seen from outside a hub: events, and client results."""

    __slots__ = ()

    async def ainvoke(self, target: str, *arguments: Any, timeout: float | None = None) -> Any:
        """Invoke a client method and return its result, from async code.

        The client's error raises HubException; a client that is gone or
        unknown raises ClientResultError, one that does not answer within
        `timeout` (CLIENT_RESULT_TIMEOUT) ClientResultTimeout.
        """
        (connection_id,) = self._audience.names
        return await results.invoke_connection(
            self._namespace, connection_id, target, arguments, timeout
        )

    def invoke(self, target: str, *arguments: Any, timeout: float | None = None) -> Any:
        """Invoke a client method and return its result, from sync code."""
        return portal.call(self.ainvoke, target, *arguments, timeout=timeout)


P = TypeVar("P", bound=AudienceProxy)


class Audiences(Generic[P]):
    """The audiences of one hub (``IHubClients``); subclasses pick the proxy."""

    proxy: type[P]

    def __init__(self, namespace: str, *, allow_all: bool = False, sender: Sender) -> None:
        self.namespace = namespace
        self._allow_all = allow_all
        self._sender = sender

    def _proxy(self, kind: str, names: Iterable[str], exclude: Iterable[str] = ()) -> P:
        audience = Audience(kind, tuple(names), tuple(exclude))
        return self.proxy(self._sender, self.namespace, audience)

    def group(self, name: str) -> P:
        """Address every connection in the group."""
        return self._proxy("groups", (name,))

    def groups(self, names: Iterable[str]) -> P:
        """Address every connection in any of the groups (each once per process)."""
        return self._proxy("groups", names)

    def group_except(self, name: str, connection_ids: Iterable[str]) -> P:
        """Address every connection in the group but the given ones (``GroupExcept``)."""
        return self._proxy("groups", (name,), connection_ids)

    def user(self, user_id: object) -> P:
        """Address every connection of one user, on every server."""
        return self._proxy("groups", (user_group(user_id),))

    def users(self, user_ids: Iterable[object]) -> P:
        """Address every connection of each user."""
        return self._proxy("groups", (user_group(u) for u in user_ids))

    def connection(self, connection_id: str) -> P:
        """Address one connection, by its public id."""
        return self._proxy("connections", (connection_id,))

    def clients(self, connection_ids: Iterable[str]) -> P:
        """Address each of the connections, by public id (``Clients.Clients``)."""
        return self._proxy("connections", connection_ids)

    def _everyone(self, exclude: Iterable[str] = ()) -> P:
        if not self._allow_all:
            raise PermissionError(
                f"Hub {self.namespace!r} does not allow broadcasts to all clients; "
                "set allow_broadcast_to_all = True or send to a group."
            )
        return self._proxy("groups", (ALL,), exclude)

    @property
    def all(self) -> P:
        """Every connection of the hub: only for hubs that opt in."""
        return self._everyone()

    def all_except(self, connection_ids: Iterable[str]) -> P:
        """Address the hub's connections but the given ones (``AllExcept``; opt-in)."""
        return self._everyone(connection_ids)


class HubContext(Audiences[ClientProxy]):
    """The audiences of one hub, for code that is not a hub method."""

    proxy = ClientProxy

    def __init__(
        self, namespace: str, *, allow_all: bool = False, sender: Sender = PUBLISHER
    ) -> None:
        super().__init__(namespace, allow_all=allow_all, sender=sender)

    def connection(self, connection_id: str) -> SingleClientProxy:
        """Address one connection, by its public id: send, or invoke for a result."""
        audience = Audience("connections", (connection_id,))
        return SingleClientProxy(self._sender, self.namespace, audience)

    def remove_users_from_group(self, name: str, user_ids: Iterable[object]) -> int:
        """Take the users' live connections out of a group, on every instance (sync).

        For access that ended (e.g. a topic's audience narrowed): like
        ``Groups.RemoveFromGroupAsync`` of ASP.NET Core, but by user.
        """
        remove = self._sender.remove_users_from_group
        return portal.call(remove, self.namespace, name, user_ids)


class HubClass(Protocol):
    """What `hub_context` reads of a hub class."""

    namespace: str
    allow_broadcast_to_all: bool


def hub_context(hub: type[HubClass] | str) -> HubContext:
    """Return the audiences of a hub (class or namespace) for code outside hubs.

    Passing the namespace string lets a services module address its hub
    without importing the hub module (which imports the services).
    """
    if isinstance(hub, str):
        return HubContext(hub)
    return HubContext(hub.namespace, allow_all=hub.allow_broadcast_to_all)
