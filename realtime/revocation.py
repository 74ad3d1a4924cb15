"""Revocation: a signed-out, changed or deactivated user's live connections end.

A connection proves its user once, when it opens. Afterwards:

- **At once, on every instance.** Logging out, changing the password and
  deactivating the user send one control message (`Revoke`) to each process
  that runs a connection of that user (found through presence and the
  registry). That process closes the matching connections with an error and
  ``allowReconnect: false``: a logout closes the connections of the session
  that ended; a password change or deactivation closes all of the user's.
  The old credential no longer opens a connection (Django refuses the
  session; an access token carries `credential_stamp`, which the password
  change altered).
- **Periodically, in batches.** Every SESSION_RECHECK_INTERVAL seconds each
  process checks the sessions and access tokens of all its connections in
  one database round trip (sessions that expired, were deleted or belong to
  a changed password; tokens of an inactive user or an old password), and
  closes the connections whose credential is gone. This also covers what
  sends no signal (``queryset.update()``, a session that simply expires, a
  control message lost while Redis was away).

Only django.contrib.auth's signals and models are used: no app is imported.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from redis.exceptions import RedisError

from realtime import conf, handoff, portal, store
from realtime.auth import credential_stamp
from realtime.commit import after_commit
from realtime.lifetime.envelopes import Revoke

if TYPE_CHECKING:
    from realtime.connection import Connection

logger = logging.getLogger(__name__)

SIGNED_OUT = "The user signed out."
PASSWORD_CHANGED = "The user's password changed."
DEACTIVATED = "The user was deactivated."
CREDENTIAL_ENDED = "The session or access token is no longer valid."
#: User fields whose change revokes every connection and token of the user.
TRACKED_FIELDS = ("password", "is_active")
#: Users or session keys per database query of the periodic re-check.
CHUNK = 500


def session_digest(session_key: str) -> str:
    """Return the digest that names a session in control messages (never the key)."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


# Sending ----------------------------------------------------------------------------


async def arevoke(user_id: str, *, reason: str, session_key: str | None = None) -> int:
    """Close a user's connections on every instance; return how many processes were told.

    With `session_key`, only the connections that session authenticated.
    A failure is logged: the periodic re-check closes them later.
    """
    digest = session_digest(session_key) if session_key else None
    message = Revoke(str(user_id), reason, digest).to_message()
    handoff.discard_user(str(user_id))
    layer = get_channel_layer()
    told = 0
    try:
        for process in await store.owners_of_user(str(user_id)):
            try:
                await layer.send(process, message)
                told += 1
            except ChannelFull:
                logger.warning("revocation for user %s: channel of %s full", user_id, process)
    except (RedisError, OSError) as exc:
        logger.warning(
            "revocation for user %s not sent (%s); the periodic re-check closes them",
            user_id,
            type(exc).__name__,
        )
    return told


def revoke(user_id: str, *, reason: str, session_key: str | None = None) -> int:
    """`arevoke` for sync code (signal receivers)."""
    return portal.call(arevoke, user_id, reason=reason, session_key=session_key)


def _revoke_on_commit(user_id: str, *, reason: str, session_key: str | None = None) -> None:
    after_commit(revoke, user_id, reason=reason, session_key=session_key)


def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        _revoke_on_commit(str(user.pk), reason=SIGNED_OUT, session_key=session_key)


def _before_user_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(TRACKED_FIELDS) & set(update_fields):
        return  # e.g. the last_login update of every login
    instance._realtime_credentials = (
        sender._default_manager.filter(pk=instance.pk).values_list(*TRACKED_FIELDS).first()
    )


def _after_user_save(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    before = instance.__dict__.pop("_realtime_credentials", None)
    if before is None or created:
        return
    password, was_active = before
    if was_active and not instance.is_active:
        _revoke_on_commit(str(instance.pk), reason=DEACTIVATED)
    elif password != instance.password:
        _revoke_on_commit(str(instance.pk), reason=PASSWORD_CHANGED)


def connect_signals() -> None:
    """Listen to logouts and to user saves (from RealtimeConfig.ready)."""
    user_logged_out.connect(_logged_out, dispatch_uid="realtime.revocation.logout")
    model = settings.AUTH_USER_MODEL
    pre_save.connect(_before_user_save, sender=model, dispatch_uid="realtime.revocation.pre")
    post_save.connect(_after_user_save, sender=model, dispatch_uid="realtime.revocation.post")


# Receiving ------------------------------------------------------------------------


async def _close(connections: Iterable[Connection], reason: str) -> int:
    closed = 0
    for connection in connections:
        logger.info("closing %s: %s", connection.connection_id, reason)
        connection.ended_because("revoked")
        await connection.close(f"Connection closed with an error. {reason}")
        closed += 1
    return closed


async def apply(connections: Iterable[Connection], revoke: Revoke) -> int:
    """Close the local connections a revocation names; return how many."""
    user_id, digest = revoke.user_id, revoke.session
    handoff.discard_user(user_id)  # identities negotiated here, not yet used
    matching = [
        c
        for c in connections
        if c.user_id == user_id
        and (
            digest is None
            or (
                c.identity is not None
                and c.identity.session_key
                and session_digest(c.identity.session_key) == digest
            )
        )
    ]
    return await _close(matching, revoke.reason or CREDENTIAL_ENDED)


# The periodic re-check ------------------------------------------------------------


def _session_data(keys: list[str]) -> dict[str, dict]:
    """Return the decoded data of the live sessions among `keys`."""
    engine = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(engine, "get_model_class"):  # cache, file, signed cookies
        return {key: data for key in keys if (data := engine(key).load())}
    model, decoder, now = engine.get_model_class(), engine(), timezone.now()
    found = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = model.objects.filter(session_key__in=chunk, expire_date__gt=now)
        for key, data in rows.values_list("session_key", "session_data"):
            found[key] = decoder.decode(data)
    return found


def _session_holds(data: dict | None, user: Any) -> bool:
    """Return whether session data still logs `user` in (django.contrib.auth's rule)."""
    if not data or user is None or data.get(SESSION_KEY) != str(user.pk):
        return False
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    session_hash = data.get(HASH_SESSION_KEY) or ""
    hashes = (user.get_session_auth_hash(), *user.get_session_auth_fallback_hash())
    return bool(session_hash) and any(constant_time_compare(session_hash, h) for h in hashes)


@database_sync_to_async
def _still_valid(
    sessions: dict[str, str], token_users: set[str]
) -> tuple[set[str], dict[str, str]]:
    """Return the sessions still valid and the current stamp of each active token user."""
    user_ids = sorted(set(sessions.values()) | token_users)
    manager = get_user_model()._default_manager
    users = {
        str(user.pk): user
        for start in range(0, len(user_ids), CHUNK)
        for user in manager.filter(pk__in=user_ids[start : start + CHUNK], is_active=True)
    }
    data = _session_data(list(sessions))
    valid = {key for key, uid in sessions.items() if _session_holds(data.get(key), users.get(uid))}
    stamps = {uid: credential_stamp(users[uid]) for uid in token_users if uid in users}
    return valid, stamps


async def recheck(connections: Iterable[Connection]) -> int:
    """Check every connection's session or token in one batch; close the invalid ones."""
    sessions: dict[str, str] = {}
    token_users: set[str] = set()
    checked = []
    for connection in connections:
        identity = connection.identity
        if identity is None or not connection.user_id:
            continue
        if identity.session_key:
            sessions[identity.session_key] = connection.user_id
        elif identity.stamp:
            token_users.add(connection.user_id)
        else:
            continue
        checked.append(connection)
    if not checked:
        return 0
    valid, stamps = await _still_valid(sessions, token_users)
    gone = [
        c
        for c in checked
        if (c.identity.session_key and c.identity.session_key not in valid)
        or (
            not c.identity.session_key
            and not constant_time_compare(stamps.get(c.user_id, ""), c.identity.stamp)
        )
    ]
    return await _close(gone, CREDENTIAL_ENDED)


async def recheck_forever(connections: Mapping[str, Connection]) -> None:
    """Run `recheck` over a process's connections every SESSION_RECHECK_INTERVAL seconds."""
    while True:
        await asyncio.sleep(conf.get().SESSION_RECHECK_INTERVAL)
        try:
            await recheck(list(connections.values()))
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be away: connections stay until the next round.
            logger.warning("session re-check failed", exc_info=True)
