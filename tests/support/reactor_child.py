"""The child processes of the server tests: a daphne on a free loopback port
until its clients are done.

A Twisted reactor runs once per process, so each such test runs its server
in a child (`tests.support.processes.run_child`); this is what those
children share. Stock daphne is the reference the tests hold ours to.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

# daphne installs Twisted's asyncio reactor when imported: before anything
# imports `twisted.internet.reactor` (the children import this module first).
from daphne.server import Server


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def echo(scope: dict, receive: Any, send: Any) -> None:
    """A WebSocket application that answers each message with "echo " and it."""
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": b"echo " + message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": "echo " + message["text"]})
        elif message["type"] == "websocket.disconnect":
            return


def serve(
    which: str,
    application: Any,
    port: int,
    clients: Callable[[Any], None],
    *,
    limit: float,
    **options: Any,
) -> None:
    """Serve `application` on 127.0.0.1:`port` until `clients(server)` returns.

    `which` is "ours" (`realtime.server`'s Server) or "stock" (daphne's);
    `options` are the Server's. `clients` runs in a thread; the reactor stops
    when it returns or raises, or after `limit` seconds at the latest.
    """
    from twisted.internet import reactor

    from realtime.server.serve import Server as OurServer

    server = (OurServer if which == "ours" else Server)(
        application=application,
        endpoints=[f"tcp:port={port}:interface=127.0.0.1"],
        signal_handlers=False,
        **options,
    )

    def run() -> None:
        try:
            clients(server)
        finally:
            reactor.callFromThread(reactor.stop)

    threading.Thread(target=run, daemon=True).start()
    reactor.callLater(limit, reactor.stop)
    server.run()
