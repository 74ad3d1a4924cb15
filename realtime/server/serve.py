"""daphne for the hubs (``python -m realtime.server``): an access log without secrets.

The official clients put the connection token (``?id=``) and, for SSE and
WebSockets, the access token (``?access_token=``) in query strings, and
daphne's access log prints whole request URIs. This entry point takes
exactly daphne's command-line arguments and logs paths without query strings.

It also listens with a deep accept queue: daphne's ``-b``/``-p`` use
Twisted's default backlog of 50, which overflows when a thousand clients of
a failed instance reconnect at once (their SYNs are dropped and retried
after 1, 3, 7 s). ``-b HOST -p PORT`` becomes the equivalent endpoint
``tcp:port=PORT:interface=HOST:backlog=BACKLOG``.

WebSocket upgrades may wait up to 15 s for the application to accept them
(daphne's default is 5 s, then "403 Access denied"): in a reconnect storm the
last clients in the queue should get in, not fail and retry. It matches the
hubs' HANDSHAKE_TIMEOUT. Pass ``--websocket_connect_timeout`` to change it.

Request bodies over a route's limit are refused from the request's head,
before daphne reads them (`realtime.server.bounded_bodies`).

The process's garbage collector is tuned for many long-lived connections
when it starts serving (`realtime.server.collector`).

And seven changes to what daphne does per WebSocket, each measured in
bench/ (see bench/results/FINDINGS.md):

- TCP connections send as soon as they are written to when nothing is
  queued (`realtime.server.write_through`), as asyncio's transports do;
- the HTTP channel that carried the upgrade request is released
  (`release_http_channel`), which an idle connection otherwise keeps;
- the scope offers `realtime.transports.frames.FRAMES_EXTENSION`
  (`frame_writer`), so a broadcast writes one pre-encoded frame to each
  socket instead of passing an event through daphne and autobahn for each;
- autobahn's debug-log arguments are formatted only when a debug line is
  written (`realtime.server.lazy_debug`), not for every frame and connection;
- daphne's reaping and timeout loops visit the connections that need a look,
  not every connection every second or two (`realtime.server.upkeep`);
- an open WebSocket keeps neither a copy of autobahn's options nor its
  handshake's request and headers (`realtime.server.slim`);
- a client's whole, small data frames are read without autobahn's general
  frame parser (`realtime.server.whole_frames`).

WebSocket and HTTP scopes also offer `SOCKET_EXTENSION` (`SocketControl`):
how many bytes of a connection wait in Twisted's write buffer, and a way to
drop it, so that a client that does not read is closed once it passes the
hubs' MAX_UNSENT_BYTES instead of growing the process without bound.

And the other direction: daphne reads a WebSocket as fast as the client
sends and queues every message for the application without limit, so a
client that sends faster than its hub methods run grows the process (ten
clients sending 30 KB invocations of a database-bound method every 5 ms:
+390 MiB in 20 s). A WebSocket's queue here stops reading its socket at
`INBOUND_QUEUE` messages and reads again at half (`InboundQueue`), as
uvicorn's ``--ws-max-queue`` does: the client's sends wait in TCP instead.
"""

import asyncio
import collections
import sys
from functools import partial

from daphne import server as daphne_server
from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import tcp
from twisted.web.http import HTTPChannel

from realtime.server import bounded_bodies, collector, lazy_debug, slim, workers, write_through
from realtime.server.upkeep import CHECK_EVERY, REAP_EVERY, Upkeep
from realtime.server.whole_frames import WholeFrames
from realtime.transports.frames import FRAMES_EXTENSION, SOCKET_EXTENSION


class RedactingAccessLog(AccessLogGenerator):
    """daphne's access log, minus query strings."""

    def __call__(self, protocol: str, action: str, details: dict) -> None:
        path = details.get("path")
        if isinstance(path, str) and "?" in path:
            details = {**details, "path": path.split("?", 1)[0] + "?…"}
        super().__call__(protocol, action, details)


def release_http_channel(protocol: object) -> None:
    """Let go of the HTTP channel that carried a WebSocket's upgrade request.

    daphne hands the TCP transport to the WebSocket protocol but leaves the
    HTTP channel registered as the transport's producer, with its idle timer
    running: the channel, its request, headers and read buffer then live as
    long as the socket (bench/results/FINDINGS.md has the measured size).
    Once released, the channel and the request, which never finishes, still
    refer to each other (`HTTPChannel.requests`, `Request.channel`): a cycle
    of about 30 objects that only the cyclic collector's rare full
    collection frees. Emptying the channel's request list lets reference
    counting free both when daphne's upgrade returns.
    Called when the WebSocket protocol announces itself, before the
    application starts.
    """
    transport = getattr(protocol, "transport", None)
    channel = getattr(transport, "producer", None)
    if isinstance(protocol, WebSocketProtocol) and isinstance(channel, HTTPChannel):
        transport.unregisterProducer()
        channel.setTimeout(None)
        channel.requests.clear()


def frame_writer(protocol: WebSocketProtocol):
    """Return the `FRAMES_EXTENSION` callable of one WebSocket.

    The callable writes a whole frame if the socket is open and returns the
    bytes left unsent after the write (-1 when the socket is not open), so
    that a broadcast checks each recipient's backlog with one integer
    compare. autobahn never fragments daphne's messages and writes each frame
    to the transport in one call, so a frame written here never lands inside
    one of autobahn's.
    """
    transport = protocol.transport
    if not isinstance(transport, tcp.Connection):  # TLS: measured through its wrapper

        def write_frame(frame: bytes) -> int:
            if protocol.state != protocol.STATE_OPEN or protocol.muted:
                return -1
            transport.write(frame)
            return write_through.unsent(transport)

        return write_frame

    def write_plain_frame(frame: bytes) -> int:
        if protocol.state != protocol.STATE_OPEN or protocol.muted:
            return -1
        transport.write(frame)
        # write_through.unsent, inlined: this runs once per recipient.
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return write_plain_frame


class SocketControl:
    """The `SOCKET_EXTENSION` of one connection: its unsent bytes, and abort.

    daphne writes WebSocket frames and HTTP bodies straight to the TCP
    transport (it never uses autobahn's send queue: no ``sync``, no
    ``chopsize``), so Twisted's write buffer holds everything unsent.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: object) -> None:
        self._transport = transport

    def buffered(self) -> int:
        return write_through.unsent(self._transport)

    def abort(self) -> None:
        self._transport.abortConnection()


#: Messages a WebSocket's application may have unread before its socket is
#: no longer read (uvicorn's default ``--ws-max-queue``).
INBOUND_QUEUE = 32


class InboundQueue:
    """A WebSocket application's input queue that pauses its socket while full.

    daphne puts with `put_nowait`; the application is the one reader of
    `get` (ASGI's ``receive``). Lighter than an `asyncio.Queue` (four deques
    and an event per connection): an idle connection holds no deque at all.
    """

    __slots__ = ("_items", "_limit", "_paused", "_transport", "_waiter")

    def __init__(self, transport: object, limit: int = INBOUND_QUEUE) -> None:
        self._transport = transport
        self._limit = limit
        self._paused = False
        self._items: collections.deque | None = None
        self._waiter: asyncio.Future | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: dict) -> None:
        # Never refused (a disconnect must get through); reading stops instead.
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if not self._paused and len(self._items) >= self._limit:
            self._paused = True
            self._transport.pauseProducing()

    async def get(self) -> dict:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        if self._paused and self.qsize() <= self._limit // 2:
            self._paused = False
            self._transport.resumeProducing()
        return item


class Server(daphne_server.Server):
    """daphne's server with the changes above."""

    def __init__(self, *args, action_logger=None, **kwargs) -> None:
        if isinstance(action_logger, AccessLogGenerator):
            action_logger = RedactingAccessLog(action_logger.stream)
        super().__init__(*args, action_logger=action_logger, **kwargs)
        self.upkeep = Upkeep(self)

    def run(self) -> None:
        collector.settle()
        super().run()

    def create_application(self, protocol: object, scope: dict):
        queue = self._create_application(protocol, scope)
        application = self.connections.get(protocol, {}).get("application_instance")
        if application is not None:
            self.upkeep.started(protocol, application)
        return queue

    def _create_application(self, protocol: object, scope: dict):
        if isinstance(protocol, WebSocketProtocol):
            scope["extensions"] = {
                **scope.get("extensions", {}),
                FRAMES_EXTENSION: frame_writer(protocol),
                SOCKET_EXTENSION: SocketControl(protocol.transport),
            }
            return self._start_application(protocol, scope, InboundQueue(protocol.transport))
        if isinstance(protocol, WebRequest) and protocol.channel is not None:
            scope["extensions"] = {
                **scope.get("extensions", {}),
                SOCKET_EXTENSION: SocketControl(protocol.channel.transport),
            }
        return super().create_application(protocol, scope)

    def _start_application(self, protocol: object, scope: dict, input_queue: InboundQueue):
        """Start the application as daphne 4.2's `create_application` does, with `input_queue`."""
        assert "application_instance" not in self.connections[protocol]
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue

    def protocol_connected(self, protocol: object) -> None:
        super().protocol_connected(protocol)
        self.upkeep.connected(protocol)
        release_http_channel(protocol)
        if isinstance(protocol, WebSocketProtocol):
            slim.adopt(protocol, WholeFrames)

    def protocol_disconnected(self, protocol: object) -> None:
        super().protocol_disconnected(protocol)
        self.upkeep.disconnected(protocol)

    def application_checker(self) -> None:
        self.upkeep.reap()
        daphne_server.reactor.callLater(REAP_EVERY, self.application_checker)

    def timeout_checker(self) -> None:
        self.upkeep.check_timeouts()
        daphne_server.reactor.callLater(CHECK_EVERY, self.timeout_checker)


BACKLOG = 2048


def with_backlog(args: list[str], backlog: int = BACKLOG) -> list[str]:
    """Turn ``-b HOST -p PORT`` into one TCP endpoint with a deep backlog."""
    host, port, rest = workers.split_bind(args)
    if port is None:
        return args
    interface = f":interface={host.replace(':', chr(92) + ':')}" if host else ""
    return ["-e", f"tcp:port={port}{interface}:backlog={backlog}", *rest]


CONNECT_TIMEOUT = 15


def with_connect_timeout(args: list[str], seconds: int = CONNECT_TIMEOUT) -> list[str]:
    """Add ``--websocket_connect_timeout`` unless the arguments set it."""
    if any(a.startswith("--websocket_connect_timeout") for a in args):
        return args
    return ["--websocket_connect_timeout", str(seconds), *args]


def arguments(argv: list[str]) -> list[str]:
    """Return daphne's arguments for a command line (``--help`` when empty)."""
    return with_connect_timeout(with_backlog(argv)) if argv else ["--help"]


class Cli(CommandLineInterface):
    """daphne's command line, serving with `Server`."""

    server_class = Server


def main(argv: list[str]) -> None:
    """Serve with daphne's command-line arguments `argv`, changed as above.

    ``--workers N`` (more than 1) runs N such servers on the port instead,
    supervised (`realtime.server.workers`).
    """
    try:
        count, argv = workers.take_option(argv)
    except workers.WorkersError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    if count > 1:
        sys.exit(workers.main(count, argv, backlog=BACKLOG))
    write_through.install()
    bounded_bodies.install()
    lazy_debug.install()
    Cli().run(arguments(argv))
