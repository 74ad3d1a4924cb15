"""The hub route for HTTP transports: SSE streams, long polls, sends and DELETE.

No sticky sessions: a connection runs in the process that opened its
server-to-client half (`sse`, `longpolling`); a POST or poll may land on any
process. POSTed bodies travel to the owning process through its
channel-layer channel, in order. A POST that arrives before the first poll
or stream waits in Redis and is handed to whichever process opens the
connection, as ASP.NET Core buffers it. Requests are identified before
their body is read, and a body is never read past MAX_MESSAGE_SIZE.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import ChannelFull

from realtime import admission, conf, metrics, store
from realtime.auth import query_param
from realtime.lifetime.envelopes import CloseConnection, Inbound
from realtime.lifetime.running import get_backplane
from realtime.transports import longpolling, sse
from realtime.transports.exchange import TOO_LARGE, HttpExchange
from realtime.transports.opening import NO_LAYER, Refusal, identify, refuse, registered

NOT_STARTED = Refusal(404, "connection has not started")


class HttpTransportConsumer(AsyncConsumer):
    """``<hub>``: GET (SSE stream or long poll), POST (send), DELETE (end)."""

    channel_layer_alias = NO_LAYER
    hub_class: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        exchange = HttpExchange(scope, receive, send)
        method = scope["method"]
        if method == "GET" and b"text/event-stream" in exchange.header(b"accept"):
            await sse.stream(exchange, self.hub_class)
        elif method == "GET":
            await longpolling.poll(exchange, self.hub_class)
        elif method == "POST":
            await self.post(exchange)
        elif method == "DELETE":
            await self.delete(exchange)
        else:
            await exchange.respond(405, b"method not allowed")

    async def _registration(self, exchange: HttpExchange) -> store.Registration | None:
        identity = await identify(exchange.scope, self.hub_class)
        if isinstance(identity, Refusal):
            await exchange.refuse(identity)
            return None
        registration = await registered(exchange.scope, self.hub_class, identity)
        if isinstance(registration, Refusal):
            await exchange.refuse(registration)
            return None
        return registration

    async def post(self, exchange: HttpExchange) -> None:
        """Hand a sent body to the connection's process (or keep it until one opens it)."""
        limit = conf.get().MAX_MESSAGE_SIZE
        if exchange.declares_more_than(limit):
            await exchange.refuse(refuse(exchange.scope, TOO_LARGE))
            return
        registration = await self._registration(exchange)
        if registration is None:
            return
        body = await exchange.read_body(limit)
        if body is None:
            return
        token = query_param(exchange.scope, "id") or ""
        if not registration.owner:
            early = await admission.send_early(
                token, body, limit=limit, ttl=conf.get().NEGOTIATE_TTL
            )
            if early.outcome == admission.BUFFERED:
                await exchange.respond(200)
                return
            if early.outcome != store.CLAIMED:
                refusal = TOO_LARGE if early.outcome == admission.TOO_LARGE else NOT_STARTED
                await exchange.refuse(refuse(exchange.scope, refusal))
                return
            registration = replace(registration, owner=early.owner)
        if not await longpolling.owner_alive(exchange, token, registration):
            return
        if not await store.try_lock("post", token, ttl=10):
            await exchange.refuse(Refusal(409, "another send is in progress"))
            return
        try:
            backplane = await get_backplane()
            message = Inbound(registration.connection_id, body).to_message()
            # Always through the owner's channel, even when local, so that
            # sends arriving at different processes keep their order.
            await backplane.layer.send(registration.owner, message)
        except ChannelFull:
            metrics.increment("messages_dropped")
            await exchange.refuse(Refusal(503, "server busy"))
            return
        finally:
            await store.unlock("post", token)
        await exchange.respond(200)

    async def delete(self, exchange: HttpExchange) -> None:
        """End the connection at the client's request."""
        registration = await self._registration(exchange)
        if registration is None:
            return
        if not registration.owner:
            await exchange.refuse(refuse(exchange.scope, NOT_STARTED))
            return
        token = query_param(exchange.scope, "id") or ""
        if not await longpolling.owner_alive(exchange, token, registration):
            return
        backplane = await get_backplane()
        message = CloseConnection(registration.connection_id).to_message()
        await backplane.layer.send(registration.owner, message)
        await exchange.respond(202)
