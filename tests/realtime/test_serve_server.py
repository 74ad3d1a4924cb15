"""realtime.server: HTTP channels let go after upgrades; whole frames written.

A child process runs the server class on loopback (a Twisted reactor cannot
be restarted inside the test process), opens WebSockets that echo (half of
them through the frames extension when the server offers it), and counts the
HTTP channels still alive, before and after a garbage collection (the
child's collector runs only when asked).
"""

import pytest

from tests.support.processes import run_child

CHILD = r"""
from tests.support.processes import accepts, wait_until
from tests.support.reactor_child import free_port, serve
import gc, json, sys, time
from twisted.internet import reactor
from twisted.web.http import HTTPChannel
from realtime.transports.frames import FRAMES_EXTENSION, websocket_frame

# Only reference counting frees objects, unless count() collects.
gc.disable()

async def app(scope, receive, send):
    write_frame = scope.get("extensions", {}).get(FRAMES_EXTENSION)
    report["extension"] = write_frame is not None
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            text = message["text"]
            if write_frame is not None and int(text.split()[1]) % 2:
                # Past 64 KiB: the 8-byte length form.
                assert write_frame(websocket_frame((text * 7000).encode(), binary=False)) >= 0
            else:
                await send({"type": "websocket.send", "text": text})
        elif message["type"] == "websocket.disconnect":
            return

port = free_port()
report = {}

def clients(server):
    from websockets.sync.client import connect
    wait_until(lambda: accepts(port), timeout=10)
    sockets = [connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) for _ in range(20)]
    time.sleep(3)  # daphne reaps finished HTTP requests every second
    reactor.callFromThread(count)
    time.sleep(1)
    echoes = []
    for n, ws in enumerate(sockets):
        ws.send(f"ping {n}")
        reply = ws.recv(timeout=5)
        echoes.append(reply in (f"ping {n}", f"ping {n}" * 7000))
        framed = report.setdefault("framed", 0)
        report["framed"] = framed + (reply == f"ping {n}" * 7000)
        ws.close()
    report["echoes"] = sum(echoes)

def count():
    report["uncollected"] = sum(issubclass(type(o), HTTPChannel) for o in gc.get_objects())
    gc.collect()
    # type(), not isinstance(): lazy objects (Django settings) resolve on __class__.
    report["http_channels"] = sum(issubclass(type(o), HTTPChannel) for o in gc.get_objects())

serve(sys.argv[1], app, port, clients, limit=30)
print(json.dumps(report))
"""


def run(server: str) -> dict:
    report, stderr = run_child(CHILD, server, timeout=60)
    assert {"http_channels", "echoes"} <= set(report), stderr[-2000:]
    return report


@pytest.mark.parametrize(("server", "kept"), [("ours", 0), ("stock", 20)])
def test_upgraded_connections_keep_no_http_channel(server, kept):
    report = run(server)

    assert report["http_channels"] == kept
    # Ours frees each by reference counting, without waiting for a collection
    # (the channel and its unfinished request refer to each other).
    assert report["uncollected"] == kept
    assert report["echoes"] == 20


def test_whole_frames_written_through_the_extension_arrive_intact():
    ours, stock = run("ours"), run("stock")

    assert ours["extension"]
    assert ours["framed"] == 10
    assert not stock["extension"]
    assert stock["framed"] == 0
