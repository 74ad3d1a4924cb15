"""config.serve: after a WebSocket upgrade daphne's HTTP channel is let go.

A child process runs the server class on loopback (a Twisted reactor cannot
be restarted inside the test process), opens WebSockets that echo, and counts
the HTTP channels still alive after a garbage collection.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, json, socket, sys, threading, time
from daphne.server import Server
from twisted.internet import reactor
from twisted.web.http import HTTPChannel
from config.serve import RedactingServer

async def app(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
        elif message["type"] == "websocket.disconnect":
            return

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
report = {}

def clients():
    from websockets.sync.client import connect
    time.sleep(1)
    sockets = [connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) for _ in range(20)]
    time.sleep(1.5)  # daphne reaps finished HTTP requests every second
    reactor.callFromThread(count)
    time.sleep(0.5)
    echoes = []
    for n, ws in enumerate(sockets):
        ws.send(f"ping {n}")
        echoes.append(ws.recv(timeout=5) == f"ping {n}")
        ws.close()
    report["echoes"] = sum(echoes)
    reactor.callFromThread(reactor.stop)

def count():
    gc.collect()
    report["http_channels"] = sum(isinstance(o, HTTPChannel) for o in gc.get_objects())

server_class = RedactingServer if sys.argv[1] == "ours" else Server
threading.Thread(target=clients, daemon=True).start()
reactor.callLater(30, reactor.stop)
server_class(
    application=app,
    endpoints=[f"tcp:port={port}:interface=127.0.0.1"],
    signal_handlers=False,
).run()
print(json.dumps(report))
"""


def run(server: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, server],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("server", "kept"), [("ours", 0), ("stock", 20)])
def test_upgraded_connections_keep_no_http_channel(server, kept):
    report = run(server)

    assert report["http_channels"] == kept
    assert report["echoes"] == 20
