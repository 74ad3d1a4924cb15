"""WebSocket frames: what the transport hands the server, as ASGI events or whole frames.

`FRAMES_EXTENSION` names an ASGI extension that the hubs' daphne
(`realtime.server`) puts in every WebSocket scope: a callable that writes
one complete frame, already encoded, to the socket if it is open, and
returns how many bytes of the connection are left unsent (-1 if the socket
is not open). A broadcast then encodes its WebSocket frame once per process
(as `websockets.broadcast` does) instead of once per recipient in the
server, and every other message (a reply, an event to one connection) is
written as one frame without an ASGI event through daphne and autobahn.
Without the extension (other servers, tests) the transport sends ordinary
``websocket.send`` events.

`SOCKET_EXTENSION` names a second one, in WebSocket and HTTP scopes alike: an
object with ``buffered()``, the bytes written to the connection that the
kernel has not taken yet (what a client that does not read leaves in the
server), and ``abort()``, which drops the connection and those bytes at once.
Without it a transport counts only what waits on its own side.
"""

import struct
from typing import Protocol

FRAMES_EXTENSION = "realtime.frames"
SOCKET_EXTENSION = "realtime.socket"


class Socket(Protocol):
    """The `SOCKET_EXTENSION` object of one connection."""

    def buffered(self) -> int:
        """Return the bytes written to the connection and not yet sent."""

    def abort(self) -> None:
        """Close the connection now, discarding what is not sent."""


def websocket_event(frame: bytes | str) -> dict:
    """Return the ASGI event that sends `frame`: text for str, binary for bytes."""
    if isinstance(frame, str):
        return {"type": "websocket.send", "text": frame}
    return {"type": "websocket.send", "bytes": frame}


def websocket_frame(payload: bytes, *, binary: bool) -> bytes:
    """Return one complete, unmasked server-to-client frame (RFC 6455, 5.2).

    `payload` of a text frame must be UTF-8 (the JSON protocol's encoder
    guarantees it).
    """
    first = 0x82 if binary else 0x81  # FIN + binary or text opcode
    size = len(payload)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload
