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


class WebSocketRouter:
    """Send each WebSocket request to the hub at its path, others to `fallback`.

    An exact-path table rather than Channels' URLRouter: URLRouter copies the
    scope for every request and its frame keeps the copy for as long as the
    socket lives, about 1.4 KiB per idle connection. Paths match as the HTTP
    routes do: no leading slash, one optional trailing slash.
    """

    def __init__(self, hubs: dict[str, Any], fallback: Any) -> None:
        self.apps = {path.strip("/"): _bound(WebSocketTransport, hub) for path, hub in hubs.items()}
        self.fallback = fallback

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        path = path.lstrip("/")
        if path.endswith("/"):
            path = path[:-1]
        await self.apps.get(path, self.fallback)(scope, receive, send)
