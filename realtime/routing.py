"""URL routes for hubs: negotiate, the HTTP transports and WebSockets."""

from __future__ import annotations

import re
from typing import Any

from django.urls import re_path

from realtime.transports.http import HttpTransportConsumer
from realtime.transports.negotiate import NegotiateConsumer
from realtime.transports.websocket import WebSocketTransport


def _bound(consumer: type, hub: Any) -> Any:
    """Return an ASGI app of `consumer` serving `hub`."""
    subclass = type(f"{hub.__name__}{consumer.__name__}", (consumer,), {"hub_class": hub})
    return subclass.as_asgi()


def _pattern(prefix: str, suffix: str = "") -> str:
    return rf"^{re.escape(prefix.strip('/'))}{suffix}/?$"


def http_routes(hubs: dict[str, Any]) -> list:
    """Routes for ``POST <path>/negotiate`` and ``<path>`` (SSE, long polling, sends)."""
    routes = []
    for path, hub in hubs.items():
        routes.append(re_path(_pattern(path, "/negotiate"), _bound(NegotiateConsumer, hub)))
        routes.append(re_path(_pattern(path), _bound(HttpTransportConsumer, hub)))
    return routes


def websocket_routes(hubs: dict[str, Any]) -> list:
    """Routes for the WebSocket transport of each hub."""
    return [re_path(_pattern(path), _bound(WebSocketTransport, hub)) for path, hub in hubs.items()]
