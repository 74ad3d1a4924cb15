"""Group naming: public group names, their channel-layer-safe forms, presence members.

Hubs and senders use public names (``order:42``, ``user:7``); the tables and
Redis use the layer-safe name that `layer_group_name` makes of one. A
connection's entry in its user's presence is a `presence_member`. Every
such name is built here, so that hubs, `hub_context`, the presence store
and the transports cannot disagree on a format.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")
#: The public name of the hub-wide group (hubs with allow_broadcast_to_all).
ALL = "\x00all"


def user_group(user_id: object) -> str:
    """Return the public name of the group of every connection of a user."""
    return f"user:{user_id}"


def layer_group_name(namespace: str, name: str) -> str:
    """Map a public group name ("order:42") to a channel-layer-safe one.

    A readable, sanitised part plus a short hash of the exact name: satisfies
    Channels' ``^[a-zA-Z0-9\\-_.]+$`` under 100 characters, cannot collide
    ("order:42" and "order_42" differ), and namespaces each hub.
    """
    digest = hashlib.blake2s(f"{namespace}\x00{name}".encode(), digest_size=5).hexdigest()
    readable = _UNSAFE.sub("-", name).strip("-")[:40] or "g"
    return f"{_UNSAFE.sub('-', namespace)[:40]}.{readable}.{digest}"


def presence_member(namespace: str, connection_id: str) -> str:
    """Return a connection's entry in its user's presence set."""
    return f"{namespace}|{connection_id}"
