"""Admission: who may use a hub connection, checked once per request.

Every transport request passes `admit` before it does anything: the Origin,
the credentials (or the identity its negotiate left in `realtime.handoff`),
the hub's permission and, when the request names a connection (``?id=``),
that connection's registration, looked up once and checked against the
caller. Negotiate, which names no connection yet, uses `identify` and then
`reserve`, the per-user connection limit. `open_connection` builds the
connection that an admission allows. The Redis side of connections that
have not started yet (the limit's count, sends that come early) is
`realtime.unstarted`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from realtime import conf, handoff, metrics, parked_store, registry, unstarted
from realtime.auth import Identity, authenticate, credential, query_param
from realtime.connection import Transport
from realtime.groups import presence_member
from realtime.lifetime.running import get_backplane
from realtime.resumable import ResumableConnection, resume
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


@dataclass(frozen=True, slots=True)
class Admission:
    """Who sent a request, and the connection it names (if it names one)."""

    identity: Identity
    #: The connection token of ``?id=``; "" for a WebSocket without negotiate.
    token: str = ""
    #: The token's registration, checked against hub and user; None without one.
    registration: registry.Registration | None = None


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

    `token`: the connection token of a request that may open the connection,
    whose negotiate may have left its identity in `realtime.handoff`.
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


async def admit(scope: dict, hub_class: Any, *, opening: bool) -> Admission | Refusal:
    """Identify the caller and look up the connection named by ``?id=``, once.

    `opening`: the request may open the connection (an SSE stream, a long
    poll, a WebSocket), so it may take the identity its negotiate left; a
    send or a DELETE authenticates on its own. Only a WebSocket may name no
    connection (the client skipped negotiate).
    """
    token = query_param(scope, "id") or ""
    identity = await identify(scope, hub_class, token=token if opening else None)
    if isinstance(identity, Refusal):
        return identity
    if not token:
        if scope.get("type") == "websocket":
            return Admission(identity)
        return refuse(scope, Refusal(400, "Connection ID required"))
    registration = await registry.lookup(token)
    if registration is None or registration.hub != hub_class.namespace:
        return refuse(scope, Refusal(404, "No Connection with that ID"))
    if registration.user_id != identity.user_id:
        return refuse(scope, Refusal(403, "connection belongs to another user"), identity.user_id)
    return Admission(identity, token, registration)


async def reserve(
    scope: dict, hub_class: Any, identity: Identity, connection_id: str
) -> Refusal | None:
    """Count a new connection against its user's limit; a Refusal (429) past it.

    The connection counts from now on, for NEGOTIATE_TTL seconds or until it
    starts, on every instance.
    """
    if not identity.user_id:
        return None
    settings = conf.get()
    if await unstarted.reserve(
        identity.user_id,
        presence_member(hub_class.namespace, connection_id),
        limit=settings.MAX_CONNECTIONS_PER_USER,
        ttl=settings.NEGOTIATE_TTL,
    ):
        return None
    return _too_many(scope, settings.MAX_CONNECTIONS_PER_USER)


async def enrol(
    scope: dict,
    hub_class: Any,
    identity: Identity,
    *,
    token: str,
    connection_id: str,
    stateful: bool,
) -> Refusal | None:
    """Register a negotiated connection and `reserve` it, in one Redis round trip
    per shard. Past its user's limit: a Refusal (429), and the registration,
    which the client never learns of, is forgotten."""
    settings = conf.get()
    writes = [
        registry.registration_write(
            token, connection_id=connection_id, hub=hub_class.namespace,
            user_id=identity.user_id, ttl=settings.NEGOTIATE_TTL, stateful=stateful,
        )
    ]  # fmt: skip
    if identity.user_id:
        member = presence_member(hub_class.namespace, connection_id)
        limit = settings.MAX_CONNECTIONS_PER_USER
        ttl = settings.NEGOTIATE_TTL
        writes.append(unstarted.reserve_write(identity.user_id, member, limit=limit, ttl=ttl))
    admitted = (await registry.write_all(writes))[-1]
    if not identity.user_id or admitted:
        return None
    await registry.forget(token, connection_id)
    return _too_many(scope, settings.MAX_CONNECTIONS_PER_USER)


def _too_many(scope: dict, limit: int) -> Refusal:
    return refuse(scope, Refusal(429, f"Too many connections: the limit is {limit} per user."))


async def open_connection(
    scope: dict, hub_class: Any, transport: Transport, admission: Admission
) -> ResumableConnection | Refusal:
    """Claim the admitted connection for this process (or make one) and build it.

    What the client sent before the connection opened
    (`realtime.unstarted.send_early`) is fed to it first. A stateful
    connection that is parked (its transport dropped) is resumed instead.
    """
    identity = admission.identity
    backplane = await get_backplane()
    ttl = conf.get().ENTRY_LEASE
    early = b""
    registration = admission.registration
    if registration is not None:
        token = admission.token
        connection_id = registration.connection_id
        if registration.stateful and registration.owner and transport.name == "WebSockets":
            outcome, resumed = await resume(
                token, registration, hub_class, transport, identity, backplane
            )
            if outcome == parked_store.LOST:
                return refuse(scope, Refusal(404, "No Connection with that ID"), identity.user_id)
            if resumed is not None:
                return resumed
        claimed = await registry.claim(
            token,
            connection_id=connection_id,
            owner=backplane.channel,
            transport=transport.name,
            ttl=ttl,
        )
        if claimed.outcome == registry.UNKNOWN:
            return refuse(scope, Refusal(404, "No Connection with that ID"))
        if claimed.outcome == registry.CONFLICT:
            return refuse(scope, Refusal(409, "connection already has a transport"))
        early = claimed.early
    else:
        token = connection_id = new_id()
        refusal = await reserve(scope, hub_class, identity, connection_id)
        if refusal is not None:
            return refusal
        await registry.register(
            token,
            connection_id=connection_id,
            hub=hub_class.namespace,
            user_id=identity.user_id,
            ttl=ttl,
            owner=backplane.channel,
        )
    connection = ResumableConnection(
        hub_class=hub_class,
        user=identity.user,
        user_id=identity.user_id,
        connection_id=connection_id,
        token=token,
        transport=transport,
        backplane=backplane,
        token_expires=identity.expires,
        identity=identity,
        stateful_offered=registration is not None and registration.stateful,
    )
    if early:
        connection.feed_soon(early)
    return connection
