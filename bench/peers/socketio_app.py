"""Peer (c): python-socketio's ASGI server with AsyncRedisManager.

Every client enters room "bench" on connect; other processes broadcast
with a write-only AsyncRedisManager. ``echo`` returns its argument through
the acknowledgement (the RPC scenario).

    REDIS_URL=redis://127.0.0.1:6379/0 uvicorn bench.peers.socketio_app:app
"""

import os

import socketio

ROOM = "bench"

manager = socketio.AsyncRedisManager(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)


@sio.event
async def connect(sid: str, environ: dict, auth: object = None) -> None:
    await sio.enter_room(sid, ROOM)


@sio.event
async def echo(sid: str, data: object) -> object:
    return data


app = socketio.ASGIApp(sio)
