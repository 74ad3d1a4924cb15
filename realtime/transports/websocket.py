"""The WebSockets transport: a Channels consumer carrying one Connection."""

from __future__ import annotations

import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from realtime.connection import Connection
from realtime.transports.opening import NO_LAYER, Refusal, open_connection

logger = logging.getLogger(__name__)


class WebSocketTransport(AsyncWebsocketConsumer):
    """Text frames for JSON, binary frames for MessagePack; with or without negotiate."""

    channel_layer_alias = NO_LAYER
    hub_class: Any = None
    name = "WebSockets"
    text_only = False
    connection: Connection | None = None

    async def connect(self) -> None:
        opened = await open_connection(self.scope, self.hub_class, self, negotiated=False)
        if isinstance(opened, Refusal):
            await self.close()
            return
        await self.accept()
        self.connection = opened
        await opened.start()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.connection is not None:
            await self.connection.feed(bytes_data if bytes_data is not None else text_data.encode())

    async def disconnect(self, code: int) -> None:
        if self.connection is not None:
            await self.connection.closed()

    async def write(self, frame: bytes | str, binary: bool) -> None:
        if binary:
            await self.base_send({"type": "websocket.send", "bytes": frame})
        else:
            text = frame if isinstance(frame, str) else frame.decode()
            await self.base_send({"type": "websocket.send", "text": text})

    async def close(
        self, code: int | bool | None = None, reason: str | None = None, *, discard: bool = False
    ) -> None:
        await super().close(code if isinstance(code, int) and code else None)
