"""Peer (b): a stock Django Channels consumer broadcasting with ``group_send``.

What the Channels tutorial builds: every client joins group "bench" on
connect, and a broadcast is ``channel_layer.group_send("bench", {...})``
from any process. It says "hello" once it has joined and echoes every
message (the RPC scenario).

    DJANGO_SETTINGS_MODULE=bench.peers.channels_settings \
        daphne bench.peers.channels_app:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.channels_settings")
django_application = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "bench"


class BenchConsumer(AsyncWebsocketConsumer):
    """Join the group, echo, and forward group messages."""

    groups = [GROUP]

    async def connect(self) -> None:
        await self.accept()
        await self.send(text_data="hello")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data)

    async def bench_event(self, event: dict) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter([path("ws/bench", BenchConsumer.as_asgi())]),
    }
)
