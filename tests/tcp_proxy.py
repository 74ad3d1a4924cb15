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
import time

#: Bytes read per chunk while piping.
CHUNK = 65536


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
        self._opened: dict[tuple[asyncio.StreamWriter, asyncio.StreamWriter], float] = {}
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
        """Whether connections are open and each has been for `age` seconds."""
        now = time.monotonic()
        return bool(self._pairs) and all(now - self._opened[p] >= age for p in self._pairs)

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
        self._opened[pair] = time.monotonic()
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
