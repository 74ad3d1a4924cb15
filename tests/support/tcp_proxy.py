"""A TCP proxy on 127.0.0.1 whose connections a test cuts abruptly.

The client connects to the proxy, the proxy to the server. `cut()` resets
both sides of every connection at once (SO_LINGER 0, then abort: an RST, no
FIN, no WebSocket close frame), which is what a dropped network looks like
to both ends. The proxy keeps listening, so the client can reconnect
through it. Runs in the test's event loop; nothing outlives `close()`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from typing import Any

#: Bytes read per chunk while piping.
CHUNK = 65536
#: How a server's answer to a WebSocket upgrade starts.
SWITCHED = b"HTTP/1.1 101"
#: The header of a request for one (lowercased).
UPGRADE = b"upgrade: websocket"


def _reset_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class CuttableProxy:
    """Forward 127.0.0.1:`port` to 127.0.0.1:`target`; cut on demand."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._upgraded: dict[tuple[asyncio.StreamWriter, asyncio.StreamWriter], float] = {}
        self._websockets: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def settled(self, age: float) -> bool:
        """Whether a WebSocket is open and each one asked for was upgraded (the
        server's 101 passed) at least `age` seconds ago (idle HTTP keep-alive
        connections do not count)."""
        now = time.monotonic()
        upgraded = [self._upgraded.get(p) for p in self._pairs if p in self._websockets]
        return bool(upgraded) and all(t is not None and now - t >= age for t in upgraded)

    def cut(self) -> int:
        """Reset every connection through the proxy; return how many."""
        pairs, self._pairs = self._pairs, set()
        for client, server in pairs:
            for writer in (client, server):
                _reset_on_close(writer)
                writer.transport.abort()
        if pairs:
            self.cuts += 1
        return len(pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(source, sink, pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                if sink is pair[0] and pair not in self._upgraded and data.startswith(SWITCHED):
                    self._upgraded[pair] = time.monotonic()
                elif sink is pair[1] and UPGRADE in data[:4096].lower():
                    self._websockets.add(pair)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            # Reset (by `cut` or by a peer): end the other side the same way.
            self._pairs.discard(pair)
            for writer in pair:
                writer.transport.abort()
            return
        # An orderly end (e.g. an HTTP request that is done): pass it on.
        self._pairs.discard(pair)
        sink.close()


class ProxyThread:
    """A CuttableProxy on an event loop of its own thread, for synchronous tests.

    Playwright's sync API runs a loop in the test's thread, so the proxy
    cannot share it.
    """

    def __init__(self, target: int) -> None:
        self.proxy = CuttableProxy(target)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _call(self, coroutine: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        self._call(self.proxy.__aenter__())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._call(self.proxy.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def cuts(self) -> int:
        return self.proxy.cuts

    def settled(self, age: float) -> bool:
        async def check() -> bool:
            return self.proxy.settled(age)

        return self._call(check())

    def cut(self) -> int:
        async def cut() -> int:
            return self.proxy.cut()

        return self._call(cut())
