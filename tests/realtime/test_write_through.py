"""realtime.server.write_through: daphne's TCP writes go out at once, and lose nothing.

Each test runs a real Twisted reactor on loopback in a child process (a
reactor cannot be restarted inside the test process).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVER = r"""
import hashlib, json, random, socket, sys
from twisted.internet import reactor, protocol
from realtime.server import write_through

if sys.argv[1] == "on":
    write_through.install()
chunks = [random.Random(n).randbytes(random.Random(-n).randint(1, 200_000)) for n in range(200)]
report = {"installed": write_through.installed()}

class Sender(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"first")
        # Written through: nothing queued, the socket not waiting for writability.
        report["queued_after_first"] = len(self.transport._tempDataBuffer)
        report["writer_registered"] = self.transport in reactor.getWriters()
        for chunk in chunks:  # far more than the socket buffer: partial sends
            self.transport.write(chunk)
        self.transport.loseConnection()

factory = protocol.Factory.forProtocol(Sender)
port = reactor.listenTCP(0, factory, interface="127.0.0.1")
client = socket.create_connection(("127.0.0.1", port.getHost().port))
received = []

def read():
    client.setblocking(False)
    try:
        data = client.recv(1 << 20)
    except BlockingIOError:
        reactor.callLater(0.001, read)
        return
    if data:
        received.append(data)
        reactor.callLater(0.001, read)
    else:
        reactor.stop()

reactor.callLater(0.2, read)  # start late: the kernel buffers fill first
reactor.callLater(30, reactor.stop)
reactor.run()
report["sent"] = hashlib.sha256(b"first" + b"".join(chunks)).hexdigest()
report["received"] = hashlib.sha256(b"".join(received)).hexdigest()
report["bytes"] = sum(map(len, received))
print(json.dumps(report))
"""


def run(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SERVER, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_a_write_with_nothing_queued_goes_straight_to_the_socket():
    report = run("on")

    assert report["installed"]
    assert report["queued_after_first"] == 0
    assert not report["writer_registered"]


def test_large_and_partial_writes_arrive_complete_and_in_order():
    report = run("on")

    assert report["bytes"] > 10_000_000
    assert report["received"] == report["sent"]


def test_without_install_twisted_buffers_every_write():
    """The baseline the first test differs from: Twisted queues and waits."""
    report = run("off")

    assert not report["installed"]
    assert report["queued_after_first"] == 1
    assert report["writer_registered"]
    assert report["received"] == report["sent"]
