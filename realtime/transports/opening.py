"""Checks shared by every transport before a connection starts."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from realtime import admission, conf, handoff, metrics, store
from realtime.auth import Identity, authenticate, credential, query_param
from realtime.connection import Connection, Transport
from realtime.lifetime.running import get_backplane
from realtime.security import origin_allowed

logger = logging.getLogger(__name__)

#: Channels consumers with this alias get no channel-layer channel of their
#: own: the process's backplane routes every message.
NO_LAYER = "realtime-no-layer"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused, and its HTTP status."""

    status: int
    reason: str


def new_id() -> str:
    """Return a random, URL-safe connection id or token."""
    return secrets.token_urlsafe(16)


def refuse(scope: dict, refusal: Refusal, user_id: str = "") -> Refusal:
    """Log and count a refusal with its reason (never the token) and return it."""
    logger.warning(
        "refused %s %s: %s (%d)",
        scope.get("type"),
        scope.get("path"),
        refusal.reason,
        refusal.status,
        extra={"event": "refused", "reason": refusal.reason, "user_id": user_id},
    )
    metrics.refused(refusal.status, refusal.reason, user_id)
    return refusal


async def identify(scope: dict, hub_class: Any, *, token: str | None = None) -> Identity | Refusal:
    """Check origin and credentials for a hub.

    `token`: the connection token of a transport request, whose negotiate may
    have left its identity in `realtime.handoff`.
    """
    if not origin_allowed(scope):
        return refuse(scope, Refusal(403, "origin not allowed"))
    identity = handoff.take(token, credential(scope)) or await authenticate(scope)
    if identity.error:
        return refuse(scope, Refusal(401, identity.error))
    if hub_class.authentication_required and not identity.user_id:
        return refuse(scope, Refusal(401, "anonymous user on an authenticated hub"))
    if not hub_class.allows(identity.user):
        return refuse(scope, Refusal(403, "user not allowed on this hub"), identity.user_id)
    return identity


async def registered(
    scope: dict, hub_class: Any, identity: Identity
) -> store.Registration | Refusal:
    """Return the registration named by ``?id=``, checked against the caller."""
    token = query_param(scope, "id")
    if not token:
        return refuse(scope, Refusal(400, "Connection ID required"))
    registration = await store.lookup(token)
    if registration is None or registration.hub != hub_class.namespace:
        return refuse(scope, Refusal(404, "No Connection with that ID"))
    if registration.user_id != identity.user_id:
        return refuse(scope, Refusal(403, "connection belongs to another user"), identity.user_id)
    return registration


def presence_member(namespace: str, connection_id: str) -> str:
    """A connection's entry in its user's presence (as `Connection.presence_member`)."""
    return f"{namespace}|{connection_id}"


async def admit(
    scope: dict, hub_class: Any, identity: Identity, connection_id: str
) -> Refusal | None:
    """Count a new connection against its user's limit; a Refusal (429) past it.

    The connection counts from now on, for NEGOTIATE_TTL seconds or until it
    starts, on every instance.
    """
    if not identity.user_id:
        return None
    settings = conf.get()
    limit = settings.MAX_CONNECTIONS_PER_USER
    if await admission.admit(
        identity.user_id,
        presence_member(hub_class.namespace, connection_id),
        limit=limit,
        ttl=settings.NEGOTIATE_TTL,
    ):
        return None
    return refuse(scope, Refusal(429, f"Too many connections: the limit is {limit} per user."))


async def open_connection(
    scope: dict,
    hub_class: Any,
    transport: Transport,
    *,
    negotiated: bool,
    identity: Identity | None = None,
) -> Connection | Refusal:
    """Authenticate (unless `identity` is given), claim the negotiated id (or make one)
    and build the connection.

    What the client sent before the connection opened (`admission.send_early`)
    is fed to it first.
    """
    token = query_param(scope, "id")
    if identity is None:
        identity = await identify(scope, hub_class, token=token)
    if isinstance(identity, Refusal):
        return identity
    backplane = await get_backplane()
    ttl = conf.get().PRESENCE_TTL
    early = b""
    if token:
        registration = await registered(scope, hub_class, identity)
        if isinstance(registration, Refusal):
            return registration
        connection_id = registration.connection_id
        claimed = await store.claim(
            token,
            connection_id=connection_id,
            owner=backplane.channel,
            transport=transport.name,
            ttl=ttl,
        )
        if claimed.outcome == store.UNKNOWN:
            return refuse(scope, Refusal(404, "No Connection with that ID"))
        if claimed.outcome == store.CONFLICT:
            return refuse(scope, Refusal(409, "connection already has a transport"))
        early = claimed.early
    elif negotiated:
        return refuse(scope, Refusal(400, "Connection ID required"))
    else:
        token = connection_id = new_id()
        refusal = await admit(scope, hub_class, identity, connection_id)
        if refusal is not None:
            return refusal
        await store.register(
            token,
            connection_id=connection_id,
            hub=hub_class.namespace,
            user_id=identity.user_id,
            ttl=ttl,
            owner=backplane.channel,
        )
    connection = Connection(
        hub_class=hub_class,
        user=identity.user,
        user_id=identity.user_id,
        connection_id=connection_id,
        token=token,
        transport=transport,
        backplane=backplane,
        token_expires=identity.expires,
        identity=identity,
    )
    if early:
        connection.feed_soon(early)
    return connection
