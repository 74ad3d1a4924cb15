"""realtime.server.upkeep: daphne's outcomes, without walking every connection.

A child process runs the server class (ours or stock daphne) on loopback,
as in test_serve_server.py, and reports what its clients saw and how often
daphne's per-connection timeout check ran. Stock daphne is the reference:
every outcome must match it, and only the number of looks may differ.
"""

import json

import pytest

from tests.support.processes import run_child

CHILD = r"""
from tests.support.processes import accepts, wait_until
from tests.support.reactor_child import free_port, serve
import base64, json, os, socket, sys, time
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor

which, options = sys.argv[1], json.loads(sys.argv[2])
report = {"looks": 0}
check_timeouts = WebSocketProtocol.check_timeouts

def counted(self):
    report["looks"] += 1
    check_timeouts(self)

WebSocketProtocol.check_timeouts = counted

async def app(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            if scope["path"] != "/never":
                await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            raise RuntimeError("the application failed on purpose")
        elif message["type"] == "websocket.disconnect":
            return

port = free_port()

def raw_socket(path="/ws"):
    # A WebSocket whose frames are read by hand: pings stay visible.
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    try:
        while b"\r\n\r\n" not in head and (byte := sock.recv(1)):
            head += byte
    except ConnectionResetError:
        return sock, "reset"
    return sock, head.split(b"\r\n")[0].decode()

def opcodes(sock, seconds):
    # The opcodes of the frames that arrive within `seconds` (or until closed).
    seen, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            first = sock.recv(2)
        except socket.timeout:
            break
        except ConnectionResetError:
            seen.append("reset")
            break
        if len(first) < 2:
            seen.append("eof")
            break
        length = first[1] & 0x7F
        extra = {126: 2, 127: 8}.get(length, 0)
        if extra:
            length = int.from_bytes(sock.recv(extra), "big")
        while length:
            length -= len(sock.recv(length))
        seen.append(first[0] & 0x0F)
    return seen

def clients(server):
    from websockets.sync.client import connect
    wait_until(lambda: accepts(port), timeout=10)
    url = f"ws://127.0.0.1:{port}/ws"
    idle = [connect(url, open_timeout=10) for _ in range(options["idle"])]
    watched, _ = raw_socket()
    time.sleep(options.get("settle", 0))
    report["looks"] = 0
    report["frames"] = opcodes(watched, options["watch"])
    report["looks_per_socket"] = report["looks"] / (len(idle) + 1)
    failing = connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10)
    failing.send("anything")
    try:
        failing.recv(timeout=5)
    except Exception as exc:
        report["failing_closed"] = getattr(getattr(exc, "rcvd", None), "code", repr(exc))
    started = time.monotonic()
    unaccepted, report["unaccepted"] = raw_socket("/never")
    report["unaccepted_after"] = time.monotonic() - started
    unaccepted.close()
    for ws in idle:
        ws.close()
    watched.close()
    time.sleep(3)  # reaped every second
    reactor.callFromThread(lambda: report.update(table=len(server.connections)))
    time.sleep(1)

serve(
    which,
    app,
    port,
    clients,
    limit=60,
    ping_interval=options["ping_interval"],
    websocket_timeout=options["websocket_timeout"],
    application_close_timeout=1,
    websocket_connect_timeout=options.get("connect_timeout", 5),
)
print(json.dumps(report))
"""

PING, CLOSE = 0x9, 0x8


def run(server: str, **options) -> dict:
    report, stderr = run_child(CHILD, server, json.dumps(options))
    assert {"frames", "table", "failing_closed"} <= set(report), stderr[-2000:]
    return report | {"stderr": stderr}


@pytest.fixture(scope="module")
def quiet():
    """50 idle WebSockets watched for 7 s, daphne's default 20 s ping interval.

    The watch starts once the sockets' 5 s connect timeout has passed (both
    servers look at an opening WebSocket once it could time out).
    """
    options = {"idle": 50, "settle": 6, "watch": 7, "ping_interval": 20, "websocket_timeout": 86400}
    return {name: run(name, **options) for name in ("ours", "stock")}


def test_idle_open_websockets_are_not_looked_at_before_their_ping_is_due(quiet):
    # Stock daphne looks at each socket every 2 s: 3 times in 7 s.
    assert quiet["stock"]["looks_per_socket"] >= 3
    assert quiet["ours"]["looks_per_socket"] < 0.1


def test_no_ping_or_close_before_it_is_due(quiet):
    assert quiet["ours"]["frames"] == quiet["stock"]["frames"] == []


def test_a_failed_application_is_reported_and_its_socket_closed_as_daphne_does(quiet):
    for report in quiet.values():
        assert report["failing_closed"] == 1011
        assert (
            "Exception inside application: the application failed on purpose" in (report["stderr"])
        )


def test_a_websocket_never_accepted_is_refused_after_the_connect_timeout(quiet):
    for report in quiet.values():
        # daphne answers 403 and drops the socket: the client may see either.
        assert report["unaccepted"] in ("HTTP/1.1 403 Access denied", "reset")
        assert 3 < report["unaccepted_after"] < 8.5


def test_every_closed_connection_leaves_the_table(quiet):
    assert quiet["ours"]["table"] == quiet["stock"]["table"] == 0


@pytest.mark.parametrize("server", ["ours", "stock"])
def test_pings_go_out_at_the_ping_interval_until_the_lifetime_ends(server):
    report = run(server, idle=5, watch=9, ping_interval=1, websocket_timeout=6)
    frames = report["frames"]

    # Strictly past 1 s, at checks 2 s apart: a ping every 2 s, then past 6 s
    # a Close, and the socket dropped when the client does not answer it.
    assert 2 <= frames.count(PING) <= 4
    assert frames[frames.count(PING)] in (CLOSE, "reset")
    assert set(frames[: frames.count(PING)]) == {PING}
