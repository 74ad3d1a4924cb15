"""SignalR hubs on Django Channels.

Speaks the public SignalR protocols (negotiate; WebSockets, Server-Sent
Events, long polling; JSON and MessagePack), so the official clients connect
unchanged, and scales out across processes through Redis.
"""

from realtime import presence, stats
from realtime.commit import after_commit
from realtime.context import DeliveryError, hub_context
from realtime.hub import AuthenticatedHub, Hub, HubException, hub_method
from realtime.prepared import PreparedQuery
from realtime.results import ClientResultError, ClientResultTimeout

__all__ = [
    "AuthenticatedHub",
    "ClientResultError",
    "ClientResultTimeout",
    "DeliveryError",
    "Hub",
    "HubException",
    "PreparedQuery",
    "after_commit",
    "hub_context",
    "hub_method",
    "presence",
    "stats",
]
