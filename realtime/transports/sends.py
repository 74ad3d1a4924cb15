"""The client-to-server half of SSE and long polling: sends (POST) and the end (DELETE).

A POST or DELETE may land on any process. A sent body travels to the
process that runs the connection through that process's channel-layer
channel, in order. A POST that arrives before the first poll or stream
waits in Redis (`realtime.unstarted`) and is handed to whichever process
opens the connection, as ASP.NET Core buffers it. Requests are admitted
before their body is read, and a body is never read past MAX_MESSAGE_SIZE.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from channels.exceptions import ChannelFull

from realtime import conf, metrics, registry, unstarted
from realtime.lifetime.envelopes import CloseConnection, Inbound
from realtime.lifetime.running import get_backplane
from realtime.transports.admission import Admission, Refusal, admit, refuse
from realtime.transports.exchange import TOO_LARGE, HttpExchange
from realtime.transports.longpolling import owner_alive

NOT_STARTED = Refusal(404, "connection has not started")


async def _admit(exchange: HttpExchange, hub_class: Any) -> Admission | None:
    admission = await admit(exchange.scope, hub_class, opening=False)
    if isinstance(admission, Refusal):
        await exchange.refuse(admission)
        return None
    return admission


async def send(exchange: HttpExchange, hub_class: Any) -> None:
    """Hand a sent body to the connection's process (or keep it until one opens it)."""
    limit = conf.get().MAX_MESSAGE_SIZE
    if exchange.declares_more_than(limit):
        await exchange.refuse(refuse(exchange.scope, TOO_LARGE))
        return
    admission = await _admit(exchange, hub_class)
    if admission is None:
        return
    body = await exchange.read_body(limit)
    if body is None:
        return
    token, registration = admission.token, admission.registration
    if not registration.owner:
        early = await unstarted.send_early(token, body, limit=limit, ttl=conf.get().NEGOTIATE_TTL)
        if early.outcome == unstarted.BUFFERED:
            await exchange.respond(200)
            return
        if early.outcome != unstarted.CLAIMED:
            refusal = TOO_LARGE if early.outcome == unstarted.TOO_LARGE else NOT_STARTED
            await exchange.refuse(refuse(exchange.scope, refusal))
            return
        registration = replace(registration, owner=early.owner)
    if not await owner_alive(exchange, token, registration):
        return
    async with registry.sending(token) as locked:
        if not locked:
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
    await exchange.respond(200)


async def end(exchange: HttpExchange, hub_class: Any) -> None:
    """End the connection at the client's request."""
    admission = await _admit(exchange, hub_class)
    if admission is None:
        return
    token, registration = admission.token, admission.registration
    if not registration.owner:
        await exchange.refuse(refuse(exchange.scope, NOT_STARTED))
        return
    if not await owner_alive(exchange, token, registration):
        return
    backplane = await get_backplane()
    message = CloseConnection(registration.connection_id).to_message()
    await backplane.layer.send(registration.owner, message)
    await exchange.respond(202)
