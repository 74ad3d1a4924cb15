"""The hub route for HTTP transports: it sends each request to its transport.

No sticky sessions: a connection runs in the process that opened its
server-to-client half (`sse`, `longpolling`); its polls, sends and DELETE
(`sends`) may land on any process.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import AsyncConsumer

from realtime.transports import longpolling, outage, sends, sse
from realtime.transports.admission import NO_LAYER
from realtime.transports.exchange import HttpExchange


class HttpTransportConsumer(AsyncConsumer):
    """``<hub>``: GET (SSE stream or long poll), POST (send), DELETE (end)."""

    channel_layer_alias = NO_LAYER
    hub_class: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        exchange = HttpExchange(scope, receive, send)
        refusal = await outage.guard(scope, self.route(exchange))
        if refusal is outage.UNAVAILABLE and not exchange.started:
            await exchange.refuse(refusal)

    async def route(self, exchange: HttpExchange) -> None:
        method = self.scope["method"]
        if method == "GET" and b"text/event-stream" in exchange.header(b"accept"):
            await sse.stream(exchange, self.hub_class)
        elif method == "GET":
            await longpolling.poll(exchange, self.hub_class)
        elif method == "POST":
            await sends.send(exchange, self.hub_class)
        elif method == "DELETE":
            await sends.end(exchange, self.hub_class)
        else:
            await exchange.respond(405, b"method not allowed")
