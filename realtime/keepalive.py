"""Keep-alive Pings, encoded once per hub protocol.

Every open connection that sent nothing for KEEPALIVE_INTERVAL gets a Ping,
so an idle process sends one a connection every interval. Where the
transport writes whole WebSocket frames (`Transport.write_frame`), the
Ping's frame is encoded once per protocol and written as it is, the way a
broadcast is; elsewhere it is sent as any message.
"""

from __future__ import annotations

import time
from typing import Protocol

from realtime import conf, metrics
from realtime.protocol import HubProtocol, Ping
from realtime.transport import Transport
from realtime.transports.frames import websocket_frame

#: The Ping of each hub protocol, as its hub message and its WebSocket frame.
_PINGS: dict[str, tuple[bytes, bytes]] = {}


class Pinged(Protocol):
    """What a Ping needs of a connection."""

    transport: Transport
    protocol: HubProtocol
    last_sent: float

    async def send(self, message: Ping) -> None: ...

    async def overflowed(self) -> None: ...


def encoded(protocol: HubProtocol) -> tuple[bytes, bytes]:
    """Return the Ping of `protocol` as a hub message and as a WebSocket frame."""
    ping = _PINGS.get(protocol.name)
    if ping is None:
        message = protocol.encode(Ping())
        binary = protocol.transfer_format == "Binary"
        ping = _PINGS[protocol.name] = (message, websocket_frame(message, binary=binary))
    return ping


async def ping(connection: Pinged) -> None:
    """Send a Ping to a connection whose handshake is done."""
    write_frame = connection.transport.write_frame
    if write_frame is None:
        await connection.send(Ping())
        return
    message, frame = encoded(connection.protocol)
    connection.last_sent = time.monotonic()
    metrics.wrote(len(message))
    if write_frame(frame) > conf.get().MAX_UNSENT_BYTES:
        await connection.overflowed()
