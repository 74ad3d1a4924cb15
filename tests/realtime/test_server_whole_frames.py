"""realtime.server.whole_frames: a client's whole frames, read as autobahn reads them.

A child process runs the server class (ours or stock daphne) on loopback
with an echo application; a raw-socket client sends frames byte by byte as
written here (coalesced, split, fragmented, malformed) and records what
comes back. Ours must answer exactly as stock daphne does, and read the
whole frames without autobahn's parser.
"""

import os

import pytest

from bench.wsclient import mask
from realtime.server.whole_frames import unmask, whole_frame
from tests.support.processes import run_child

CHILD = r"""
from tests.support.processes import accepts, wait_until
from tests.support.reactor_child import echo, free_port, serve
import base64, json, os, socket, struct, sys, time
from autobahn.websocket.protocol import WebSocketProtocol

which = sys.argv[1]
report = {}
parsed = [0]
process_data = WebSocketProtocol.processData

def counted(self):
    parsed[0] += 1
    return process_data(self)

WebSocketProtocol.processData = counted

port = free_port()

def frame(first, payload, masked=True, length16=False):
    size = len(payload)
    if size < 126 and not length16:
        head = bytes([first, (0x80 if masked else 0) | size])
    else:
        head = bytes([first, (0x80 if masked else 0) | 126]) + struct.pack("!H", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

def text(s, **kw):
    return frame(0x81, s.encode(), **kw)

def opened():
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock

def replies(sock, count):
    # Server frames (unmasked, unfragmented): [opcode, payload or close code].
    out, buffer = [], b""
    deadline = time.monotonic() + 5
    while len(out) < count and time.monotonic() < deadline:
        while len(buffer) >= 2:
            size, at = buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    break
                size, at = struct.unpack("!H", buffer[2:4])[0], 4
            if len(buffer) < at + size:
                break
            opcode, payload = buffer[0] & 0x0F, buffer[at : at + size]
            buffer = buffer[at + size :]
            if opcode == 8:
                out.append([8, struct.unpack("!H", payload[:2])[0] if payload else None])
            elif opcode == 2:
                out.append([2, payload.decode("latin-1")])
            else:
                out.append([opcode, payload.decode()])
        if len(out) >= count:
            break
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            out.append(["reset"])
            break
        if not chunk:
            out.append(["eof"])
            break
        buffer += chunk
    return out

long_text = "x" * 300
split = text("split")
CASES = {
    # name: steps, each the bytes written (in one write or a list of writes)
    # and how many replies to wait for.
    "coalesced": [([text("a") + frame(0x82, b"\x00\x01") + text(long_text)], 3)],
    "minimal_16": [([text("b" * 200, length16=True)], 1)],
    "split": [([split[:3], split[3:] + text("after")], 2)],
    "fragmented": [([frame(0x01, b"hel") + frame(0x80, b"lo") + text("next")], 2)],
    "ping": [([frame(0x89, b"p1") + text("after ping")], 2)],
    "empty": [([text("")], 1)],
    # Refused: the socket closes (with autobahn's close frame, which the
    # abort that follows it may overtake: then the client sees a reset).
    "bad_utf8": [([text("ok")], 1), ([frame(0x81, b"\xff\xfe")], 1)],
    "unmasked": [([text("ok")], 1), ([text("bare", masked=False)], 1)],
    "not_minimal": [([text("ok")], 1), ([text("short", length16=True)], 1)],
    "too_big": [([text("ok")], 1), ([text("y" * 3000)], 1)],
}

def clients(server):
    wait_until(lambda: accepts(port), timeout=10)
    for name, steps in CASES.items():
        sock = opened()
        before = parsed[0]
        answers = []
        for writes, count in steps:
            for chunk in writes:
                sock.sendall(chunk)
                time.sleep(0.05)
            answers += replies(sock, count)
        report[name] = {"replies": answers, "parsed": parsed[0] - before}
        sock.close()
    time.sleep(0.3)

serve(which, echo, port, clients, limit=40, websocket_max_message_size=2048)
print(json.dumps(report))
"""


def run(server: str) -> dict:
    report, stderr = run_child(CHILD, server)
    assert "too_big" in report, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    return report


def closed(replies: list) -> int | str | None:
    """The close code (or "reset") a socket ended with after echoing "ok"."""
    if replies[:1] != [[1, "echo ok"]] or len(replies) != 2:
        return None
    last = replies[1]
    return last[1] if last[0] == 8 else "reset" if last == ["reset"] else None


@pytest.fixture(scope="module")
def servers():
    return {name: run(name) for name in ("ours", "stock")}


def test_every_kind_of_frame_gets_stock_daphnes_answer(servers):
    ours, stock = servers["ours"], servers["stock"]
    for name, expected in stock.items():
        if closed(expected["replies"]) is None:
            assert ours[name]["replies"] == expected["replies"], name
    # What the answers are, so that both cannot be wrong the same way.
    assert stock["coalesced"]["replies"] == [
        [1, "echo a"], [2, "echo \x00\x01"], [1, "echo " + "x" * 300],
    ]  # fmt: skip
    assert stock["split"]["replies"] == [[1, "echo split"], [1, "echo after"]]
    assert stock["fragmented"]["replies"] == [[1, "echo hello"], [1, "echo next"]]
    assert stock["ping"]["replies"] == [[10, "p1"], [1, "echo after ping"]]
    for name, code in [("bad_utf8", 1007), ("unmasked", 1002), ("not_minimal", 1002),
                       ("too_big", 1009)]:  # fmt: skip
        outcome = closed(stock[name]["replies"])
        assert outcome in (code, "reset"), name
        assert closed(ours[name]["replies"]) == outcome, name


def test_whole_frames_skip_autobahns_parser(servers):
    ours, stock = servers["ours"], servers["stock"]
    for name in ("coalesced", "minimal_16", "empty"):
        assert stock[name]["parsed"] > 0, name
        assert ours[name]["parsed"] == 0, name
    # What the fast path leaves to autobahn still goes through it.
    for name in ("split", "fragmented", "ping", "bad_utf8", "unmasked", "not_minimal"):
        assert ours[name]["parsed"] > 0, name


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 4097])
def test_unmask_is_rfc6455s_xor(size):
    key, payload = os.urandom(4), os.urandom(size)
    assert unmask(key, mask(payload, key)) == payload
    assert unmask(key, payload) == mask(payload, key)


def test_whole_frame_takes_only_whole_masked_unfragmented_data_frames():
    key = b"\x01\x02\x03\x04"
    body = mask(b"hello", key)
    assert whole_frame(b"\x81\x85" + key + body, 0) == (11, b"hello", False)
    assert whole_frame(b"xx\x82\x85" + key + body, 2) == (13, b"hello", True)
    assert whole_frame(b"\x81\x85" + key + body[:4], 0) is None  # not all here yet
    assert whole_frame(b"\x01\x85" + key + body, 0) is None  # a first fragment
    assert whole_frame(b"\x89\x85" + key + body, 0) is None  # a ping
    assert whole_frame(b"\xc1\x85" + key + body, 0) is None  # compressed (RSV1)
    assert whole_frame(b"\x81\x05" + body, 0) is None  # unmasked
    assert whole_frame(b"\x81\xff" + bytes(8) + key, 0) is None  # 64-bit length
    long = mask(b"z" * 300, key)
    assert whole_frame(b"\x81\xfe\x01\x2c" + key + long, 0) == (308, b"z" * 300, False)
    assert whole_frame(b"\x81\xfe\x00\x05" + key + body, 0) is None  # not minimal
