"""Checks shared by every transport before a connection starts."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from realtime import conf, handoff, metrics, store
from realtime.auth import Identity, authenticate, credential, query_param
from realtime.backplane import get_backplane
from realtime.connection import Connection, Transport
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


async def open_connection(
    scope: dict, hub_class: Any, transport: Transport, *, negotiated: bool
) -> Connection | Refusal:
    """Authenticate, claim the negotiated id (or make one) and build the connection."""
    token = query_param(scope, "id")
    identity = await identify(scope, hub_class, token=token)
    if isinstance(identity, Refusal):
        return identity
    backplane = await get_backplane()
    ttl = conf.get().PRESENCE_TTL
    if token:
        registration = await registered(scope, hub_class, identity)
        if isinstance(registration, Refusal):
            return registration
        connection_id = registration.connection_id
        outcome = await store.claim(
            token,
            connection_id=connection_id,
            owner=backplane.channel,
            transport=transport.name,
            ttl=ttl,
        )
        if outcome == store.UNKNOWN:
            return refuse(scope, Refusal(404, "No Connection with that ID"))
        if outcome == store.CONFLICT:
            return refuse(scope, Refusal(409, "connection already has a transport"))
    elif negotiated:
        return refuse(scope, Refusal(400, "Connection ID required"))
    else:
        token = connection_id = new_id()
        await store.register(
            token,
            connection_id=connection_id,
            hub=hub_class.namespace,
            user_id=identity.user_id,
            ttl=ttl,
            owner=backplane.channel,
        )
    return Connection(
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
