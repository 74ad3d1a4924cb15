"""Peer (a): a bare `websockets` server that relays Redis pub/sub with ``broadcast``.

The practical ceiling for a Python WebSocket server: no protocol on top, one
``websockets.asyncio.server.broadcast`` call per message. It says "hello"
once a client is registered, echoes whatever a client sends (the RPC
scenario), and runs on uvloop when it is installed.

    python -m bench.peers.raw_ws --port 8001 --redis redis://127.0.0.1:6379/0 \
        --backlog 2048 --open-timeout 15

The harness gives it our server's accept queue and opening timeout
(websockets' own defaults: 100 and 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from redis.asyncio import Redis
from websockets.asyncio.server import ServerConnection, broadcast, serve

logger = logging.getLogger(__name__)

CHANNEL = "bench"
CLIENTS: set[ServerConnection] = set()


async def handler(websocket: ServerConnection) -> None:
    """Register the client, then echo its messages until it leaves."""
    CLIENTS.add(websocket)
    try:
        await websocket.send("hello")
        async for message in websocket:
            await websocket.send(message)
    finally:
        CLIENTS.discard(websocket)


async def relay(redis_url: str) -> None:
    """Broadcast every message published on the Redis channel to every client."""
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    async for message in pubsub.listen():
        if message["type"] == "message":
            broadcast(CLIENTS, message["data"].decode())


async def main(port: int, redis_url: str, backlog: int, open_timeout: float) -> None:
    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        max_queue=None,
        open_timeout=open_timeout,
        backlog=backlog,
    ):
        await relay(redis_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--backlog", type=int, default=100)
    parser.add_argument("--open-timeout", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop

        uvloop.run(main(args.port, args.redis, args.backlog, args.open_timeout))
    except ImportError:
        asyncio.run(main(args.port, args.redis, args.backlog, args.open_timeout))
