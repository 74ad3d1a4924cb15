"""The sending half of the Redis lifetime manager: route, encode once, hand over.

A client event is encoded once (JSON and MessagePack) by the sender and
travels as one channel-layer message per server process that holds members
of its audience; that process writes the ready frame to each local member.
Nothing here needs the receiving side of the process that sends: views,
signals and workers send without running a backplane.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from realtime import conf, epoch, metrics
from realtime.groups import layer_group_name
from realtime.lifetime.envelopes import DiscardUsers, ToConnections, ToGroups
from realtime.protocol import PROTOCOLS

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A client event could not be handed to every server that should get it."""


class RegistryUnsettled(Exception):
    """The registry epoch is new: server processes may still be re-registering."""


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a client event goes to: public group names (incl. users) or connection ids."""

    kind: str  # "groups" or "connections"
    names: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def encode_frames(target: str, arguments: Iterable[Any]) -> dict[str, bytes]:
    """Encode one client event in every protocol, once."""
    arguments = list(arguments)
    return {
        name: protocol.encode_invocation_frame(target, arguments)
        for name, protocol in PROTOCOLS.items()
    }


async def _hand_over(layer: Any, process: str, message: dict, target: str) -> bool:
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


async def _route(namespace: str, audience: Audience) -> dict[str, list[str]]:
    """Return the names of the audience each process holds (one Redis round trip).

    The registry epoch's check and the lookup run in one script.
    """
    settle = conf.get().REGISTRY_SETTLE
    batches: dict[str, list[str]] = {}
    if audience.kind == "connections":
        owners = await epoch.route_connections(audience.names, settle)
        if owners is None:
            raise RegistryUnsettled
        for connection_id, owner in zip(audience.names, owners, strict=True):
            if owner:
                batches.setdefault(owner, []).append(connection_id)
        return batches
    groups = [layer_group_name(namespace, name) for name in audience.names]
    routes = await epoch.route_groups(groups, settle)
    if routes is None:
        raise RegistryUnsettled
    for group, processes in zip(groups, routes, strict=True):
        for process in processes:
            batches.setdefault(process, []).append(group)
    return batches


async def send(namespace: str, audience: Audience, target: str, arguments: Iterable[Any]) -> int:
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
    exclude = list(audience.exclude)
    try:
        batches = await _route(namespace, audience)
        delivered = 0
        message_id = secrets.token_hex(8)
        for process, names in batches.items():
            if audience.kind == "connections":
                envelope: ToGroups | ToConnections = ToConnections(
                    names, frames, time.time(), message_id
                )
            else:
                envelope = ToGroups(names, frames, exclude, time.time(), message_id)
            delivered += await _hand_over(layer, process, envelope.to_message(), target)
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


async def remove_users_from_group(namespace: str, name: str, user_ids: Iterable[object]) -> int:
    """Remove every connection of the users from a group, on every instance.

    Return how many processes were told; raise DeliveryError when Redis
    cannot be reached.
    """
    group = layer_group_name(namespace, name)
    message = DiscardUsers(group, [str(u) for u in user_ids]).to_message()
    layer = get_channel_layer()
    try:
        routes = await epoch.route_groups([group], conf.get().REGISTRY_SETTLE)
        if routes is None:
            raise DeliveryError(
                f"Could not leave {name}: the registry is being rebuilt after a Redis restart."
            )
        told = [await _hand_over(layer, p, message, DiscardUsers.TYPE) for p in routes[0]]
    except (RedisError, OSError) as exc:
        raise DeliveryError(f"Could not leave {name}: Redis is unavailable.") from exc
    if not all(told):
        raise DeliveryError(f"Could not leave {name} on {told.count(False)} servers.")
    return len(told)


class Publisher:
    """The sending half of the lifetime manager, for code outside a backplane."""

    async def send(
        self, namespace: str, audience: Audience, target: str, arguments: Iterable[Any]
    ) -> int:
        """Send a client event to an audience; see `send`."""
        return await send(namespace, audience, target, arguments)

    async def remove_users_from_group(
        self, namespace: str, name: str, user_ids: Iterable[object]
    ) -> int:
        """Take users' connections out of a group everywhere; see `remove_users_from_group`."""
        return await remove_users_from_group(namespace, name, user_ids)


PUBLISHER = Publisher()
