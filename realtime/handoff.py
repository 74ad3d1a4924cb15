"""Identities proven at negotiate, handed to the transport request that follows.

A client negotiates and then, milliseconds later, opens its transport with the
connection token it was given and the same credentials. Checking those
credentials twice cost a database round trip per connection, on the one
thread that serves every ORM call of the process; in a reconnect storm that
queue decided how many clients got in. The negotiate request leaves its
result here, keyed by connection token, and the transport request takes it
when it presents the same credential (compared by digest) within `MAX_AGE`
seconds. Otherwise, or when the transport lands on another instance, the
transport request authenticates from scratch.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from realtime.auth import Identity

#: Seconds a negotiated identity waits for its transport request.
MAX_AGE = 10.0
#: Entries kept at most (the oldest go first).
LIMIT = 20_000

_entries: OrderedDict[str, tuple[str, Identity, float]] = OrderedDict()


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def leave(token: str, credential: str | None, identity: Identity) -> None:
    """Keep the identity of a successful negotiate for its transport request."""
    if not credential or not identity.user_id:
        return
    _entries[token] = (_digest(credential), identity, time.monotonic() + MAX_AGE)
    while len(_entries) > LIMIT:
        _entries.popitem(last=False)


def take(token: str | None, credential: str | None) -> Identity | None:
    """Return the identity left for `token` if `credential` matches; use it once."""
    if not token or not credential:
        return None
    entry = _entries.pop(token, None)
    if entry is None:
        return None
    digest, identity, deadline = entry
    if digest != _digest(credential) or time.monotonic() > deadline:
        return None
    if identity.expires is not None and identity.expires <= time.time():
        return None
    return identity


def discard_user(user_id: str) -> None:
    """Drop the identities left for a user whose credentials were just revoked."""
    for token in [t for t, entry in _entries.items() if entry[1].user_id == user_id]:
        del _entries[token]
