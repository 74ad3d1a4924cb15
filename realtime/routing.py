"""URL routes for hubs: negotiate, the HTTP transports and WebSockets.

Hub routes never pass through Django's request handling, so they apply
ALLOWED_HOSTS themselves (`realtime.security.host_allowed`): a request for
another host gets 400 over HTTP, as Django answers, and 403 at a WebSocket
upgrade.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from asgiref.sync import markcoroutinefunction
from django.urls import re_path

from realtime.bodies import register_hub
from realtime.lifetime.running import warm_up
from realtime.security import host_allowed, request_host
from realtime.transports.http import HttpTransportConsumer
from realtime.transports.negotiate import NegotiateConsumer
from realtime.transports.websocket import WebSocketTransport

logger = logging.getLogger(__name__)


def _serving(consumer: type, hub: Any) -> type:
    """Return a subclass of `consumer` serving `hub`."""
    return type(f"{hub.__name__}{consumer.__name__}", (consumer,), {"hub_class": hub})


def _bound(consumer: type, hub: Any) -> Any:
    """Return an ASGI app of `consumer` serving `hub`."""
    return _serving(consumer, hub).as_asgi()


class Passthrough:
    """An ASGI router whose ``__call__`` hands back the chosen app's coroutine.

    An ``async def __call__`` that awaits the inner app keeps its frame alive
    for as long as the connection lives; three levels of routing (protocol,
    path, ``as_asgi``) cost an idle WebSocket about 1.5 KiB. A plain method
    returning the coroutine costs nothing once it has returned. It is marked
    as a coroutine function so servers and asgiref treat it as ASGI 3.
    """

    _asgi_single_callable = True

    def route(self, scope: dict) -> Any:
        """Return the ASGI app for `scope` (subclasses)."""
        raise NotImplementedError

    @markcoroutinefunction
    def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        return self.route(scope)(scope, receive, send)


class ProtocolRouter(Passthrough):
    """Channels' ProtocolTypeRouter, without a frame kept per connection."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.apps = apps

    def route(self, scope: dict) -> Any:
        warm_up()
        try:
            return self.apps[scope["type"]]
        except KeyError:
            raise ValueError(
                f"No application configured for scope type {scope['type']!r}"
            ) from None


def _refuse_host(scope: dict) -> None:
    # The Host header is the client's text: shortened and quoted in the log.
    logger.warning(
        "refused %s %s: host %r is not in ALLOWED_HOSTS",
        scope["type"],
        scope.get("path"),
        request_host(scope)[:100],
    )


async def bad_host_http(scope: dict, receive: Any, send: Any) -> None:
    """Answer 400 as Django does for a host outside ALLOWED_HOSTS."""
    _refuse_host(scope)
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": b"Bad Request (400)"})


async def bad_host_websocket(scope: dict, receive: Any, send: Any) -> None:
    """Refuse the upgrade (403) of a WebSocket for a host outside ALLOWED_HOSTS."""
    _refuse_host(scope)
    await receive()
    await send({"type": "websocket.close"})


class HostGuard(Passthrough):
    """Pass requests for an allowed host to `app`; answer the others 400."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def route(self, scope: dict) -> Any:
        return self.app if host_allowed(scope) else bad_host_http


def _pattern(prefix: str, suffix: str = "") -> str:
    return rf"^{re.escape(prefix.strip('/'))}{suffix}/?$"


def http_routes(hubs: dict[str, Any]) -> list:
    """Routes for ``POST <path>/negotiate`` and ``<path>`` (SSE, long polling, sends)."""
    routes = []
    for path, hub in hubs.items():
        register_hub(path)
        negotiate = HostGuard(_bound(NegotiateConsumer, hub))
        routes.append(re_path(_pattern(path, "/negotiate"), negotiate))
        routes.append(re_path(_pattern(path), HostGuard(_bound(HttpTransportConsumer, hub))))
    return routes


class WebSocketRouter(Passthrough):
    """Send each WebSocket request to the hub at its path, others to `fallback`.

    An exact-path table rather than Channels' URLRouter: URLRouter copies the
    scope for every request and its frame keeps the copy for as long as the
    socket lives, about 1.4 KiB per idle connection. Paths match as the HTTP
    routes do: no leading slash, one optional trailing slash.
    """

    def __init__(self, hubs: dict[str, Any], fallback: Any) -> None:
        self.consumers = {
            path.strip("/"): _serving(WebSocketTransport, hub) for path, hub in hubs.items()
        }
        self.fallback = fallback

    def route(self, scope: dict) -> Any:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        path = path.lstrip("/")
        if path.endswith("/"):
            path = path[:-1]
        consumer = self.consumers.get(path)
        if consumer is None:
            return self.fallback
        return consumer() if host_allowed(scope) else bad_host_websocket
