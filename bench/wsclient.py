"""A lean RFC 6455 client and a one-shot HTTP POST, on plain asyncio.

The load generator holds thousands of connections per process. A full
client library costs more CPU per received frame than the servers under
test spend sending it, so this one does only what the benchmark needs:
the upgrade, unfragmented and fragmented data frames, ping/pong, close.
Client frames are masked with a random key, as RFC 6455 requires, so the
servers do their usual unmasking work.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import Callable
from urllib.parse import urlencode

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0

OnMessage = Callable[[bytes, bool], None]
OnClose = Callable[[], None]


class HandshakeFailed(Exception):
    """The server did not upgrade the connection."""


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte `key` repeated (one big-int operation)."""
    size = len(payload)
    if not size:
        return payload
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """Return one masked, final client frame."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    key = os.urandom(4)
    return header + key + mask(payload, key)


class WebSocketClient(asyncio.Protocol):
    """One client connection; delivers whole messages to `on_message`."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        headers: dict[str, str],
        on_message: OnMessage,
        on_close: OnClose,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.headers = headers
        # Set before connecting: a server may send a message in the same
        # segment as its 101 response.
        self.on_message = on_message
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self._buffer = bytearray()
        self._upgraded = False
        self._fragments: list[bytes] = []
        self._fragment_opcode = TEXT

    # asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end == -1:
                return
            status_line = bytes(self._buffer[: self._buffer.find(b"\r\n")])
            del self._buffer[: end + 4]
            if b" 101 " not in status_line + b" ":
                self._fail(HandshakeFailed(status_line.decode("latin-1", "replace")))
                return
            self._upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = not self.closed
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed before the upgrade"))
        if was_open:
            self.on_close()

    # Frames -----------------------------------------------------------------

    def _parse(self) -> None:
        buffer = self._buffer
        offset = 0
        while True:
            available = len(buffer) - offset
            if available < 2:
                break
            first, second = buffer[offset], buffer[offset + 1]
            size = second & 0x7F
            start = offset + 2
            if size == 126:
                if available < 4:
                    break
                (size,) = struct.unpack_from("!H", buffer, offset + 2)
                start += 2
            elif size == 127:
                if available < 10:
                    break
                (size,) = struct.unpack_from("!Q", buffer, offset + 2)
                start += 8
            if len(buffer) < start + size:
                break
            payload = bytes(buffer[start : start + size])
            offset = start + size
            self._frame(first & 0x80, first & 0x0F, payload)
        if offset:
            del buffer[:offset]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (TEXT, BINARY):
            if fin:
                self.on_message(payload, opcode == TEXT)
            else:
                self._fragments, self._fragment_opcode = [payload], opcode
        elif opcode == CONTINUATION:
            self._fragments.append(payload)
            if fin:
                data, self._fragments = b"".join(self._fragments), []
                self.on_message(data, self._fragment_opcode == TEXT)
        elif opcode == PING:
            self._write(PONG, payload)
        elif opcode == CLOSE:
            self._write(CLOSE, payload[:2])
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.on_close()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload))

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # API ----------------------------------------------------------------------

    def send(self, data: bytes, *, text: bool = True) -> None:
        """Send one message."""
        self._write(TEXT if text else BINARY, data)

    def close(self) -> None:
        """Start the closing handshake and drop the connection (expected close)."""
        if self.closed:
            return
        self.closed = True
        self._write(CLOSE, struct.pack("!H", 1000))
        if self.transport is not None:
            self.transport.close()


async def connect(client: WebSocketClient) -> WebSocketClient:
    """Open `client`'s WebSocket and wait for the server's 101."""
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: client, client.host, client.port)
    await client.opened
    return client


async def http_post(
    host: str,
    port: int,
    path: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict]:
    """POST once (Connection: close) and return the status and the JSON body."""
    body = urlencode(form).encode() if form else b""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Connection: close",
            f"Content-Length: {len(body)}",
        ]
        if form:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        response = await reader.read()
    finally:
        writer.close()
    status, content = parse_response(response)
    try:
        return status, json.loads(content) if content else {}
    except ValueError:
        return status, {}


def parse_response(response: bytes) -> tuple[int, bytes]:
    """The status and the (de-chunked) body of a whole HTTP/1.1 response."""
    head, _, content = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    if b"transfer-encoding: chunked" in head.lower():
        content = _dechunk(content)
    return status, content


def _dechunk(data: bytes) -> bytes:
    chunks, offset = [], 0
    for _ in range(10_000):
        end = data.find(b"\r\n", offset)
        if end == -1:
            break
        size = int(data[offset:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        chunks.append(data[end + 2 : end + 2 + size])
        offset = end + 2 + size + 2
    return b"".join(chunks)
