"""realtime.server.slim: an open WebSocket without its handshake, working as before.

A child process runs the server class (ours or stock daphne) on loopback,
as in test_server_upkeep.py; its clients (the websockets library, which
offers permessage-deflate: autobahn's accept callback runs) open sockets,
echo a message, and the server reports what its protocol objects hold.
"""

import pytest

from realtime.server.slim import HANDSHAKE_ONLY
from tests.support.processes import run_child

CHILD = r"""
from tests.support.processes import accepts, wait_until
from tests.support.reactor_child import echo, free_port, serve
import json, sys, time
from daphne.access import AccessLogGenerator
from twisted.internet import reactor

which = sys.argv[1]
report = {}

port = free_port()

def look(server):
    protocols = [p for p in server.connections if hasattr(p, "autoPingInterval")]
    report["sockets"] = len(protocols)
    report["attributes"] = sorted({name for p in protocols for name in vars(p)})
    report["sizes"] = [sys.getsizeof(vars(p)) for p in protocols]
    report["paths"] = sorted({p.request.path for p in protocols})
    report["options"] = [
        [p.autoPingTimeout, p.allowNullOrigin, p.openHandshakeTimeout, p.versions]
        for p in protocols
    ]

def clients(server):
    from websockets.sync.client import connect
    wait_until(lambda: accepts(port), timeout=10)
    sockets = [connect(f"ws://127.0.0.1:{port}/ws/{k}?x=1", open_timeout=10) for k in range(3)]
    time.sleep(0.5)
    reactor.callFromThread(look, server)
    time.sleep(0.5)
    report["echoes"] = []
    for ws in sockets:
        ws.send("hello")
        report["echoes"].append(ws.recv(timeout=5))
    for ws in sockets:
        ws.close()
    time.sleep(0.5)

serve(which, echo, port, clients, limit=30, action_logger=AccessLogGenerator(sys.stderr))
print(json.dumps(report))
"""


def run(server: str) -> dict:
    report, stderr = run_child(CHILD, server)
    assert {"attributes", "echoes"} <= set(report), stderr[-2000:]
    return report | {"stderr": stderr}


@pytest.fixture(scope="module")
def servers():
    return {name: run(name) for name in ("ours", "stock")}


def test_open_websockets_keep_no_handshake_state_and_no_copy_of_the_options(servers):
    ours, stock = servers["ours"], servers["stock"]
    assert ours["sockets"] == stock["sockets"] == 3
    # Stock daphne keeps both; the names are autobahn's and daphne's own.
    assert set(HANDSHAKE_ONLY) <= set(stock["attributes"])
    assert {"autoPingInterval", "maxMessagePayloadSize"} <= set(stock["attributes"])
    assert not set(HANDSHAKE_ONLY) & set(ours["attributes"])
    assert not {"autoPingInterval", "maxMessagePayloadSize"} & set(ours["attributes"])
    # The options read the same from the class: daphne's ping timeout, null
    # origins allowed, its handshake timeout; autobahn's protocol versions.
    assert ours["options"] == stock["options"] == [[30, True, 5, [8, 13]]] * 3
    assert max(ours["sizes"]) < min(stock["sizes"]) * 0.7


def test_slim_sockets_work_and_log_as_daphne_does(servers):
    for report in servers.values():
        assert report["echoes"] == ["echo hello"] * 3
        assert report["paths"] == ["/ws/0", "/ws/1", "/ws/2"]
        # The access log names each socket's path when it closes.
        for k in range(3):
            assert f"WSDISCONNECT /ws/{k}" in report["stderr"]
        assert "Traceback" not in report["stderr"]
