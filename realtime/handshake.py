"""The server side of the SignalR handshake: buffering, bounds, protocol choice.

Pure: bytes in, the chosen protocol or the error for the client out. The
connection (realtime/connection.py) writes the response and starts the hub.
"""

from __future__ import annotations

from typing import Any

from realtime.protocol import ProtocolError, get_protocol, parse_handshake

#: Bytes a handshake request may take before its record separator.
HANDSHAKE_LIMIT = 1024
# ASP.NET Core's handshake errors: a timeout or an oversize request is
# "canceled"; a request that does not parse is "an unexpected error".
HANDSHAKE_CANCELED = "Handshake was canceled."
HANDSHAKE_FAILED = "An unexpected error occurred during connection handshake."


class HandshakeReader:
    """Collect a handshake request that may arrive in pieces, and answer it."""

    __slots__ = ("_buffer", "_text_only", "version")

    def __init__(self, *, text_only: bool) -> None:
        self._buffer = b""
        self._text_only = text_only
        #: The protocol version the client asked for (2: stateful reconnect).
        self.version = 0

    def feed(self, data: bytes) -> tuple[Any, bytes, str | None]:
        """Take more bytes; return ``(protocol, rest, error)``.

        A complete, acceptable request gives its protocol and the bytes after
        it; a refused one gives the error to send; an incomplete one gives
        neither (more bytes are needed).
        """
        self._buffer += data
        try:
            request, rest = parse_handshake(self._buffer)
        except ProtocolError as exc:
            return None, b"", f"{HANDSHAKE_FAILED} {exc}"
        if request is None:
            if len(self._buffer) > HANDSHAKE_LIMIT:
                return None, b"", HANDSHAKE_CANCELED
            return None, b"", None
        self._buffer = b""
        self.version = request.version
        try:
            protocol = get_protocol(request.protocol, request.version)
        except ProtocolError as exc:
            return None, b"", str(exc)
        if self._text_only and protocol.transfer_format != "Text":
            return (
                None,
                b"",
                (
                    f"Cannot use the '{protocol.name}' protocol on the current transport. "
                    "The transport does not support 'Binary' transfer format."
                ),
            )
        return protocol, rest, None
