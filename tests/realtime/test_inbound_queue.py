"""realtime.server's inbound queue: a slow application gets every message, in order.

A child process runs the server class on loopback (as test_serve_server.py);
a client sends a burst far past the queue's limit (so reading pauses and
resumes many times) to an application that takes a moment per message,
then closes. Memory under such a flood: test_abusive_clients.py.
"""

from tests.support.processes import run_child

CHILD = r"""
import asyncio, json, socket, threading
from realtime.server.serve import INBOUND_QUEUE, Server  # installs daphne's reactor first
from twisted.internet import reactor
from tests.support.processes import accepts, wait_until

BURST = INBOUND_QUEUE * 10
report = {"received": [], "disconnected": False}

async def app(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            report["received"].append(int(message["text"][:8]))
            await asyncio.sleep(0.002)
        elif message["type"] == "websocket.disconnect":
            report["disconnected"] = True
            reactor.callLater(0.2, reactor.stop)
            return

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]

def client():
    from websockets.sync.client import connect
    wait_until(lambda: accepts(port), timeout=10)
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
        for n in range(BURST):
            ws.send(f"{n:08d}" + "x" * 4000)
    report["sent"] = BURST

threading.Thread(target=client, daemon=True).start()
reactor.callLater(60, reactor.stop)
endpoint = f"tcp:port={port}:interface=127.0.0.1"
Server(application=app, endpoints=[endpoint], signal_handlers=False).run()
print(json.dumps(report))
"""


def test_a_burst_past_the_limit_arrives_whole_in_order_and_then_the_close():
    report, stderr = run_child(CHILD)

    assert report["received"] == list(range(report["sent"])), stderr[-2000:]
    assert report["disconnected"]
