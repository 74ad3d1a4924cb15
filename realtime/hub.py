"""Hub base classes: the Python face of a SignalR hub.

The naming rule: every public ``async def`` (or async generator, for a
server-to-client stream) defined on a Hub subclass is a hub method. Its target
is the PascalCase form of its name (``mark_as_read`` answers ``MarkAsRead``),
matched case-insensitively as ASP.NET Core does. ``_private`` names, the base
class API and the ``on_connected`` / ``on_disconnected`` / ``on_resync`` hooks
are never exposed; ``@hub_method("Name")`` overrides a target, like ``[HubMethodName]``.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from realtime import metrics
from realtime.errors import HubException

if TYPE_CHECKING:
    from realtime.clients import GroupManager, HubClients

__all__ = [
    "AuthenticatedHub",
    "Hub",
    "HubConnection",
    "HubException",
    "HubMethod",
    "hub_method",
    "upload_item_type",
]

HOOKS = frozenset({"on_connected", "on_disconnected", "on_resync"})
#: Every concrete hub class by namespace (metrics read `client_events` here).
registry: dict[str, type[Hub]] = {}


def hub_method(target: str) -> Callable[[Callable], Callable]:
    """Expose a hub method under an explicit target name."""

    def mark(func: Callable) -> Callable:
        func._hub_target = target  # type: ignore[attr-defined]
        return func

    return mark


def pascal_case(name: str) -> str:
    """Return the SignalR target for a snake_case method name."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


class HubConnection(Protocol):
    """What a hub instance reads of the connection it serves."""

    user: Any
    connection_id: str

    @property
    def clients(self) -> HubClients:
        """Audiences for this connection's hub."""

    @property
    def groups(self) -> GroupManager:
        """Group membership of this connection."""


_UPLOAD_TYPES = (collections.abc.AsyncIterator, collections.abc.AsyncIterable)


def upload_item_type(annotation: Any) -> Any | None:
    """Return T of an upload parameter's ``AsyncIterator[T]``; None for other parameters."""
    if annotation in _UPLOAD_TYPES:
        return Any
    if typing.get_origin(annotation) in _UPLOAD_TYPES:
        return (typing.get_args(annotation) or (Any,))[0]
    return None


@dataclass(frozen=True, slots=True)
class HubMethod:
    """One exposed method: its target, function, parameters and kind.

    `uploads` names the parameters a client stream feeds (``AsyncIterator[T]``).
    """

    name: str
    target: str
    parameters: tuple[inspect.Parameter, ...]
    hints: dict[str, Any]
    streaming: bool
    uploads: frozenset[str] = frozenset()


def _exposed(klass: type) -> dict[str, HubMethod]:
    table: dict[str, HubMethod] = {}
    for owner in reversed(klass.__mro__):
        if owner in (object, Hub) or owner.__dict__.get("_abstract_hub", False):
            continue
        for name, func in vars(owner).items():
            if name.startswith("_") or name in HOOKS:
                continue
            streaming = inspect.isasyncgenfunction(func)
            if not (streaming or inspect.iscoroutinefunction(func)):
                continue
            target = getattr(func, "_hub_target", pascal_case(name))
            parameters = tuple(inspect.signature(func).parameters.values())[1:]
            hints = typing.get_type_hints(func)
            hints.pop("return", None)
            table = {k: v for k, v in table.items() if v.name != name}
            if target.lower() in table:
                raise TypeError(f"{klass.__name__}: two hub methods answer {target!r}")
            uploads = frozenset(n for n, h in hints.items() if upload_item_type(h) is not None)
            table[target.lower()] = HubMethod(name, target, parameters, hints, streaming, uploads)
    return table


class Hub:
    """A SignalR hub: subclass it and write ``async def`` methods.

    One instance serves one connection. Inside a method: ``self.user``,
    ``self.connection_id``, ``self.clients`` and ``self.groups``.
    """

    #: Refuse anonymous users at negotiate and at connect.
    authentication_required: ClassVar[bool] = False
    #: Allow ``clients.all`` (every connection of this hub). Off by default.
    allow_broadcast_to_all: ClassVar[bool] = False
    #: Namespace of this hub's group names; defaults to the class name.
    namespace: ClassVar[str] = ""
    #: The client event names this hub sends (metrics label others "other").
    client_events: ClassVar[frozenset[str]] = frozenset()
    methods: ClassVar[dict[str, HubMethod]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.methods = _exposed(cls)
        if not cls.__dict__.get("namespace"):
            cls.namespace = cls.__name__.lower()
        if not cls.__dict__.get("_abstract_hub", False):
            registry[cls.namespace] = cls
            metrics.declare_hub(cls.namespace, cls.client_events)

    @classmethod
    def allows(cls, user: Any) -> bool:
        """Return whether `user` may connect (checked at negotiate and connect)."""
        return True

    def __init__(self, connection: HubConnection) -> None:
        self._connection = connection

    @property
    def user(self) -> Any:
        """The authenticated Django user (AnonymousUser on open hubs)."""
        return self._connection.user

    @property
    def connection_id(self) -> str:
        """The public id of this connection."""
        return self._connection.connection_id

    @property
    def clients(self) -> HubClients:
        """Audiences to send client events to (caller, group, user, connection)."""
        return self._connection.clients

    @property
    def groups(self) -> GroupManager:
        """This connection's group membership."""
        return self._connection.groups

    async def on_connected(self) -> None:
        """Run after the handshake; join groups derived from the user here."""

    async def on_disconnected(self, exception: Exception | None) -> None:
        """Run once when the connection ends, for any reason."""

    async def on_resync(self) -> None:
        """Run when client events sent to this connection may have been lost.

        Redis restarted empty, failed over or was flushed while the
        connection stayed open: messages waiting in Redis for this server
        were lost with it. Send the client what it needs to match the server
        again (current state, or an event telling it to catch up).
        """

    @classmethod
    def find_method(cls, target: str) -> HubMethod | None:
        """Return the method answering `target` (case-insensitive), or None."""
        return cls.methods.get(target.lower())


class AuthenticatedHub(Hub):
    """A hub that refuses anonymous users (like ``[Authorize]`` on a hub)."""

    _abstract_hub = True
    authentication_required = True
