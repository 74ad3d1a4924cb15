"""Clients that never read: a small receive buffer, and invocations sent on a timer.

The abuse of issue 10's finding 3: each one opens a WebSocket with a 4 KiB
receive buffer, completes the SignalR handshake, joins a group, and then
only sends (an invocation every few milliseconds), so that whatever the
server writes to it (replies, errors, broadcasts) stays in the server. Used
by bench/ (other clients' latency next to slow readers) and by the tests.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Callable

from bench.wsclient import TEXT, encode_frame

RS = b"\x1e"
HANDSHAKE = b'{"protocol":"json","version":1}\x1e'


def invocation(target: str, *arguments: object, invocation_id: str = "1") -> bytes:
    """One JSON Invocation record."""
    record = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": arguments}
    return json.dumps(record).encode() + RS


class SlowReader:
    """One WebSocket that reads the 101 response and nothing after it."""

    def __init__(self, port: int, path: str, *, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.path = path
        self.headers = headers or {}
        self.sock: socket.socket | None = None
        #: Set when a send failed: the server dropped the connection.
        self.closed = False

    def open(self, receive_buffer: int = 4096, timeout: float = 15.0) -> SlowReader:
        """Upgrade, send the SignalR handshake; read the upgrade response only."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", self.port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(1)  # byte by byte: leave what follows unread
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            response += chunk
        if b" 101 " not in response.split(b"\r\n", 1)[0] + b" ":
            raise ConnectionError(response.split(b"\r\n", 1)[0].decode("latin-1"))
        self.sock = sock
        self.send(HANDSHAKE)
        return self

    def send(self, record: bytes) -> bool:
        """Send one text frame; False (and `closed`) once the server is gone."""
        if self.closed or self.sock is None:
            return False
        try:
            self.sock.sendall(encode_frame(TEXT, record))
        except OSError:
            self.closed = True
        return not self.closed

    def close(self) -> None:
        """Close the socket (no closing handshake: the client just goes)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.closed = True


class Flood:
    """Send `record` to every reader every `interval` seconds, in a thread.

    `reopen`, when given, replaces a reader the server closed with a new
    one (as a determined abuser would), so that as many always exist.
    """

    def __init__(
        self,
        readers: list[SlowReader],
        record: bytes,
        interval: float = 0.005,
        reopen: Callable[[], SlowReader] | None = None,
    ) -> None:
        self.readers = readers
        self.record = record
        self.interval = interval
        self.reopen = reopen
        self.sent = 0
        #: Readers the server closed (and, with `reopen`, replaced).
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, duration: float) -> Flood:
        """Start sending; stop by itself after `duration` seconds."""
        self._deadline = time.monotonic() + duration
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            for index, reader in enumerate(self.readers):
                # A send to a socket whose server stopped reading would block:
                # the sockets have a timeout, and a timeout counts as closed.
                if reader.closed:
                    continue
                if reader.send(self.record):
                    self.sent += 1
                    continue
                self.closed_by_server += 1
                if self.reopen is not None:
                    self.readers[index] = self._reopened()
            if all(reader.closed for reader in self.readers):
                return
            self._stop.wait(self.interval)

    def _reopened(self) -> SlowReader:
        try:
            return self.reopen()
        except OSError:
            failed = SlowReader(0, "")
            failed.closed = True
            return failed

    def stop(self) -> None:
        """Stop sending and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=30)

    def __enter__(self) -> Flood:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        for reader in self.readers:
            reader.close()
