"""Which hub answers at which path, and the protocol router around them."""

import logging

from channels.routing import URLRouter
from django.urls import re_path

from notifications.hubs import NotificationHub
from orders.hubs import OrderHub
from realtime.dashboard import DashboardHub
from realtime.logtext import clip
from realtime.routing import ProtocolRouter, WebSocketRouter, http_routes

logger = logging.getLogger("config")

HUBS = {
    "hubs/notifications": NotificationHub,
    "hubs/orders": OrderHub,
    "hubs/dashboard": DashboardHub,
}


async def refuse_unknown_websocket(scope, receive, send):
    """Close WebSocket requests for paths without a hub (logged, not a traceback)."""
    logger.warning("refused websocket %s: no hub at this path", clip(scope.get("path", "")))
    await receive()
    await send({"type": "websocket.close"})


def build_application(hubs, django_application):
    """Route hub paths to the SignalR transports and everything else to Django."""
    return ProtocolRouter(
        {
            "http": URLRouter([*http_routes(hubs), re_path(r"", django_application)]),
            "websocket": WebSocketRouter(hubs, refuse_unknown_websocket),
        }
    )
