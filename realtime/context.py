"""Send client events from anywhere: hubs, views, signals, commands, workers.

``hub_context(OrderHub).group("order:42").send("OrderStatusUpdated", ...)``
from sync code, ``await ....asend(...)`` from async code. A broadcast is
encoded once (JSON and MessagePack) by the sender and travels as one
channel-layer message per server process that holds members of the audience;
that process writes the ready frame to each local member.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from realtime import conf, epoch, metrics
from realtime.protocol import PROTOCOLS

if TYPE_CHECKING:
    from realtime.hub import Hub

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")
ALL = "\x00all"


class DeliveryError(Exception):
    """A client event could not be handed to every server that should get it."""


def layer_group_name(namespace: str, name: str) -> str:
    """Map a public group name ("order:42") to a channel-layer-safe one.

    A readable, sanitised part plus a short hash of the exact name: satisfies
    Channels' ``^[a-zA-Z0-9\\-_.]+$`` under 100 characters, cannot collide
    ("order:42" and "order_42" differ), and namespaces each hub.
    """
    digest = hashlib.blake2s(f"{namespace}\x00{name}".encode(), digest_size=5).hexdigest()
    readable = _UNSAFE.sub("-", name).strip("-")[:40] or "g"
    return f"{_UNSAFE.sub('-', namespace)[:40]}.{readable}.{digest}"


def encode_frames(target: str, arguments: Iterable[Any]) -> dict[str, bytes]:
    """Encode one client event in every protocol, once."""
    arguments = list(arguments)
    return {
        name: protocol.encode_invocation_frame(target, arguments)
        for name, protocol in PROTOCOLS.items()
    }


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a client event goes to: groups (incl. users) or connection ids."""

    kind: str  # "groups" or "connections"
    names: tuple[str, ...]
    exclude: tuple[str, ...] = ()


async def _send(layer: Any, process: str, message: dict, target: str) -> bool:
    try:
        await layer.send(process, message)
    except ChannelFull:
        metrics.increment("messages_dropped")
        logger.warning(
            "dropped %s: the channel of process %s is full",
            target,
            process,
            extra={"event": "dropped", "reason": "channel_full"},
        )
        return False
    return True


class RegistryUnsettled(Exception):
    """The registry epoch is new: server processes may still be re-registering."""


async def _route(namespace: str, audience: Audience) -> tuple[str, str, dict[str, list[str]]]:
    # One round trip: the registry epoch's check and the lookup in one script.
    settle = conf.get().REGISTRY_SETTLE
    batches: dict[str, list[str]] = {}
    if audience.kind == "connections":
        owners = await epoch.route_connections(audience.names, settle)
        if owners is None:
            raise RegistryUnsettled
        for connection_id, owner in zip(audience.names, owners, strict=True):
            if owner:
                batches.setdefault(owner, []).append(connection_id)
        return "rt.conn", "cs", batches
    groups = [layer_group_name(namespace, name) for name in audience.names]
    routes = await epoch.route_groups(groups, settle)
    if routes is None:
        raise RegistryUnsettled
    for group, processes in zip(groups, routes, strict=True):
        for process in processes:
            batches.setdefault(process, []).append(group)
    return "rt.groups", "gs", batches


async def deliver(namespace: str, audience: Audience, target: str, arguments: Iterable[Any]) -> int:
    """Send a client event to an audience; return how many processes got it.

    Raise DeliveryError when Redis cannot be reached, when its registry may
    be incomplete (a new epoch: Redis restarted empty, failed over or was
    flushed, and the server processes are re-registering), or when a
    process's channel is full, after trying every process, so the caller
    can keep its record pending and retry.
    """
    frames = encode_frames(target, arguments)
    metrics.sent(namespace, target)
    layer = get_channel_layer()
    try:
        kind, key, batches = await _route(namespace, audience)
        delivered = 0
        for process, names in batches.items():
            message = {"type": kind, key: names, "f": frames, "x": list(audience.exclude)}
            message["t"] = time.time()  # fan-out latency and backplane lag
            delivered += await _send(layer, process, message, target)
    except RegistryUnsettled:
        metrics.increment("send_failures")
        logger.warning("could not send %s: the registry is being rebuilt (new epoch)", target)
        raise DeliveryError(
            f"Could not send {target}: the registry is being rebuilt after a Redis restart."
        ) from None
    except (RedisError, OSError) as exc:
        metrics.increment("send_failures")
        metrics.redis_failed("send")
        logger.warning("could not send %s: Redis unavailable (%s)", target, type(exc).__name__)
        raise DeliveryError(f"Could not send {target}: Redis is unavailable.") from exc
    if delivered < len(batches):
        metrics.increment("send_failures")
        raise DeliveryError(
            f"Could not send {target} to {len(batches) - delivered} of {len(batches)} servers."
        )
    return delivered


#: The channel-layer message that removes users' connections from a group.
DISCARD = "rt.discard"


async def discard_users(namespace: str, name: str, user_ids: Iterable[object]) -> int:
    """Remove every connection of the users from a group, on every instance.

    Return how many processes were told; raise DeliveryError when Redis
    cannot be reached.
    """
    group = layer_group_name(namespace, name)
    message = {"type": DISCARD, "g": group, "u": [str(u) for u in user_ids]}
    layer = get_channel_layer()
    try:
        routes = await epoch.route_groups([group], conf.get().REGISTRY_SETTLE)
        if routes is None:
            raise DeliveryError(
                f"Could not leave {name}: the registry is being rebuilt after a Redis restart."
            )
        told = [await _send(layer, process, message, DISCARD) for process in routes[0]]
    except (RedisError, OSError) as exc:
        raise DeliveryError(f"Could not leave {name}: Redis is unavailable.") from exc
    if not all(told):
        raise DeliveryError(f"Could not leave {name} on {told.count(False)} servers.")
    return len(told)


class ClientProxy:
    """An audience seen from outside a hub: ``send`` (sync) and ``asend``."""

    __slots__ = ("_audience", "_namespace")

    def __init__(self, namespace: str, audience: Audience) -> None:
        self._namespace = namespace
        self._audience = audience

    async def asend(self, target: str, *arguments: Any) -> int:
        """Send a client event from async code."""
        return await deliver(self._namespace, self._audience, target, arguments)

    def send(self, target: str, *arguments: Any) -> int:
        """Send a client event from sync code (views, signals, commands)."""
        return async_to_sync(self.asend)(target, *arguments)


class HubContext:
    """The audiences of one hub, for code that is not a hub method."""

    def __init__(self, namespace: str, *, allow_all: bool = False) -> None:
        self.namespace = namespace
        self._allow_all = allow_all

    def group(self, name: str) -> ClientProxy:
        """Every connection in the group."""
        return ClientProxy(self.namespace, Audience("groups", (name,)))

    def groups(self, names: Iterable[str]) -> ClientProxy:
        """Every connection in any of the groups (each once per process)."""
        return ClientProxy(self.namespace, Audience("groups", tuple(names)))

    def user(self, user_id: object) -> ClientProxy:
        """Every connection of one user, on every server."""
        return ClientProxy(self.namespace, Audience("groups", (f"user:{user_id}",)))

    def users(self, user_ids: Iterable[object]) -> ClientProxy:
        """Every connection of each user."""
        return ClientProxy(self.namespace, Audience("groups", tuple(f"user:{u}" for u in user_ids)))

    def connection(self, connection_id: str) -> ClientProxy:
        """One connection, by its public id."""
        return ClientProxy(self.namespace, Audience("connections", (connection_id,)))

    def remove_users_from_group(self, name: str, user_ids: Iterable[object]) -> int:
        """Take the users' live connections out of a group, on every instance (sync).

        For access that ended (e.g. a topic's audience narrowed): like
        ``Groups.RemoveFromGroupAsync`` of ASP.NET Core, but by user.
        """
        return async_to_sync(discard_users)(self.namespace, name, user_ids)

    def clients(self, connection_ids: Iterable[str]) -> ClientProxy:
        """Each of the connections, by public id (``Clients.Clients``)."""
        return ClientProxy(self.namespace, Audience("connections", tuple(connection_ids)))

    def group_except(self, name: str, connection_ids: Iterable[str]) -> ClientProxy:
        """Every connection in the group but the given ones (``GroupExcept``)."""
        return ClientProxy(self.namespace, Audience("groups", (name,), tuple(connection_ids)))

    def everyone(self, exclude: Iterable[str] = ()) -> Audience:
        """Return the whole hub as an audience; raise unless the hub opts in."""
        if not self._allow_all:
            raise PermissionError(
                f"Hub {self.namespace!r} does not allow broadcasts to all clients; "
                "set allow_broadcast_to_all = True or send to a group."
            )
        return Audience("groups", (ALL,), tuple(exclude))

    @property
    def all(self) -> ClientProxy:
        """Every connection of the hub: only for hubs that opt in."""
        return ClientProxy(self.namespace, self.everyone())

    def all_except(self, connection_ids: Iterable[str]) -> ClientProxy:
        """Every connection of the hub but the given ones (``AllExcept``; opt-in)."""
        return ClientProxy(self.namespace, self.everyone(connection_ids))


def hub_context(hub: type[Hub] | str) -> HubContext:
    """Return the audiences of a hub (class or namespace) for code outside hubs.

    Passing the namespace string lets a services module address its hub
    without importing the hub module (which imports the services).
    """
    if isinstance(hub, str):
        return HubContext(hub)
    return HubContext(hub.namespace, allow_all=hub.allow_broadcast_to_all)
