"""The standalone project's ASGI application, as docs/realtime.md shows it."""

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()

from channels.routing import URLRouter  # noqa: E402  (after Django is set up)
from django.urls import re_path  # noqa: E402

from realtime.routing import ProtocolRouter, WebSocketRouter, http_routes  # noqa: E402
from tests.realtime.hubs import EchoHub  # noqa: E402

HUBS = {"hubs/echo": EchoHub}


async def no_hub_here(scope, receive, send):
    """Close WebSocket requests for paths without a hub."""
    await receive()
    await send({"type": "websocket.close"})


application = ProtocolRouter(
    {
        "http": URLRouter([*http_routes(HUBS), re_path(r"", django_application)]),
        "websocket": WebSocketRouter(HUBS, no_hub_here),
    }
)
