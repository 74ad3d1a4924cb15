"""Raw WebSockets against a live server: what the official client never sends."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.wire import CUSTOMER, negotiate, ws_url
from tests.support.http import fetch_access_token
from tests.support.signalr import (
    HANDSHAKE,
    JSON_PING,
    MESSAGEPACK_PING,
    Records,
    assert_closed,
    invocation,
    pinging,
)

pytestmark = pytest.mark.e2e


async def test_handshake_with_unknown_protocol_gets_an_error_then_close(live):
    async with connect(ws_url(live)) as websocket:
        await websocket.send('{"protocol":"carrier-pigeon","version":1}\x1e')
        response = await Records(websocket).next()

        assert "carrier-pigeon" in response["error"]
        await assert_closed(websocket)


@pytest.mark.parametrize(
    ("handshake", "error"),
    [
        pytest.param(b'{"protocol":"json",\x1e', "handshake. Error reading JSON.", id="bad-json"),
        pytest.param(
            b"[1,2]\x1e",
            "Unexpected JSON Token Type 'Array'. Expected a JSON Object.",
            id="not-an-object",
        ),
        pytest.param(
            b'{"version":1}\x1e',
            "Missing required property 'protocol'. Message content: {\"version\":1}",
            id="no-protocol",
        ),
        pytest.param(
            b'{"protocol":"json","version":"1"}\x1e',
            "Expected 'version' to be of type Number.",
            id="text-version",
        ),
        pytest.param(b"\xff\xfe\x1e", "Error reading JSON.", id="not-utf8"),
        pytest.param(b"{" + b" " * 2000, "Handshake was canceled.", id="too-long"),
    ],
)
async def test_every_malformed_handshake_gets_an_error_then_close(live, handshake, error):
    """As ASP.NET Core does: a handshake response with the error, then the socket closes."""
    async with connect(ws_url(live)) as websocket:
        await websocket.send(handshake)
        response = await Records(websocket).next()

        assert set(response) == {"error"}
        assert error in response["error"]
        await assert_closed(websocket)


async def test_handshake_split_across_two_frames(live):
    async with connect(ws_url(live)) as websocket:
        records = Records(websocket)
        await websocket.send('{"protocol":"json",')
        await websocket.send('"version":1}\x1e')

        assert await records.next() == {}
        await websocket.send(invocation("1", "Add", 2, 3).decode())
        assert await records.next_not_ping() == {"type": 3, "invocationId": "1", "result": 5}


async def test_handshake_followed_by_a_message_in_the_same_frame(live):
    async with connect(ws_url(live)) as websocket:
        records = Records(websocket)
        await websocket.send((HANDSHAKE + invocation("7", "Add", 20, 22)).decode())

        assert await records.next() == {}
        assert await records.next_not_ping() == {"type": 3, "invocationId": "7", "result": 42}


async def test_malformed_json_gets_a_close_message_then_the_socket_closes(live):
    async with connect(ws_url(live)) as websocket:
        records = Records(websocket)
        await websocket.send(HANDSHAKE.decode())
        assert await records.next() == {}
        await websocket.send('{"type":1,"target":\x1e')

        close = await records.next_not_ping()
        assert close["type"] == 7
        assert close["error"].startswith("Connection closed with an error.")
        await assert_closed(websocket)


async def test_frame_over_32_kib_gets_a_close_message(live):
    async with connect(ws_url(live)) as websocket:
        records = Records(websocket)
        await websocket.send(HANDSHAKE.decode())
        assert await records.next() == {}
        await websocket.send(invocation("1", "Echo", "x" * (33 * 1024)).decode())

        close = await records.next_not_ping()
        assert close["type"] == 7
        assert "exceeds the limit of 32768 bytes" in close["error"]
        await assert_closed(websocket)


async def test_binary_messagepack_handshake_and_invocation(live):
    async with connect(ws_url(live)) as websocket:
        await websocket.send(b'{"protocol":"messagepack","version":1}\x1e')
        assert await asyncio.wait_for(websocket.recv(), 5) == "{}\x1e"
        body = msgpack.packb([1, {}, "9", "Add", [4, 5], []])
        await websocket.send(bytes([len(body)]) + body)

        while (message := await asyncio.wait_for(websocket.recv(), 5)) == b"\x02\x91\x06":
            pass  # a Ping
        assert isinstance(message, bytes)
        assert message[0] == len(message) - 1  # one length-prefixed message
        assert msgpack.unpackb(message[1:]) == [3, {}, "9", 3, 9]


async def test_messagepack_invocations_from_the_server_have_six_items(live):
    """As ASP.NET Core writes them: StreamIds last, empty (other clients index it)."""
    async with connect(ws_url(live)) as websocket:
        await websocket.send(b'{"protocol":"messagepack","version":1}\x1e')
        assert await asyncio.wait_for(websocket.recv(), 5) == "{}\x1e"
        body = msgpack.packb([1, {}, None, "NotifyMe", ["hi"]])
        await websocket.send(bytes([len(body)]) + body)

        while (message := await asyncio.wait_for(websocket.recv(), 5)) == b"\x02\x91\x06":
            pass  # a Ping
        assert msgpack.unpackb(message[1:]) == [1, {}, None, "Notified", ["hi"], []]


async def test_silent_client_gets_pings_then_a_timeout_close(live):
    """KEEPALIVE_INTERVAL is 2 s and CLIENT_TIMEOUT 6 s in these tests."""
    async with connect(ws_url(live)) as websocket:
        records = Records(websocket)
        await websocket.send(HANDSHAKE.decode())
        assert await records.next() == {}
        started = time.monotonic()
        pings = 0
        while (record := await records.next(timeout=10)) == {"type": 6}:
            pings += 1
        elapsed = time.monotonic() - started

        assert record == {
            "type": 7,
            "error": "Server timeout elapsed without receiving a message from the client.",
        }
        assert pings >= 2
        assert 5 < elapsed < 9
        await assert_closed(websocket)


async def test_missing_handshake_gets_an_error_then_closes_the_socket(live):
    """HANDSHAKE_TIMEOUT is 3 s in these tests; ASP.NET Core's words for a timeout."""
    async with connect(ws_url(live)) as websocket:
        started = time.monotonic()
        assert await Records(websocket).next(timeout=8) == {"error": "Handshake was canceled."}
        await assert_closed(websocket, timeout=8)

        assert 2.5 < time.monotonic() - started < 6


async def test_foreign_origin_is_refused_at_the_upgrade(live):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live), origin="https://evil.example"):
            pass

    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("scheme", ["https", "ws"])
async def test_an_origin_of_another_scheme_is_refused(live, scheme):
    """Same host and port but another scheme is another origin."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live), origin=live.url.replace("http", scheme, 1)):
            pass

    assert refused.value.response.status_code == 403


async def test_a_host_outside_allowed_hosts_is_refused_at_the_upgrade(live):
    reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(live.url).port)
    writer.write(
        b"GET /hubs/echo HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()

    assert status_line.split()[1] == b"403"
    assert "host 'evil.example' is not in ALLOWED_HOSTS" in live.log()


async def test_same_origin_is_accepted(live):
    async with connect(ws_url(live), origin=live.url) as websocket:
        await websocket.send(HANDSHAKE.decode())
        assert await Records(websocket).next() == {}


async def test_unknown_connection_id_is_refused(live):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live, query="?id=no-such-connection")):
            pass

    assert refused.value.response.status_code == 403


async def test_second_websocket_with_the_same_id_is_refused(live):
    token = negotiate(live)["connectionToken"]
    async with connect(ws_url(live, query=f"?id={token}")) as first:
        records = Records(first)
        await first.send(HANDSHAKE.decode())
        assert await records.next() == {}

        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(live, query=f"?id={token}")):
                pass
        assert refused.value.response.status_code == 403

        await first.send(invocation("1", "Add", 1, 2).decode())
        assert await records.next_not_ping() == {"type": 3, "invocationId": "1", "result": 3}


async def test_a_negotiated_id_opens_only_with_the_negotiating_users_credentials(live):
    """The identity negotiate proved is handed to the WebSocket only for the same credential."""
    live.shell(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.filter(username='bob').exists() or "
        "get_user_model().objects.create_user('bob', password='bob-pass-1')"
    )
    alice = {"Authorization": f"Bearer {fetch_access_token(live.url, *CUSTOMER)}"}
    bob = {"Authorization": f"Bearer {fetch_access_token(live.url, 'bob', 'bob-pass-1')}"}
    secure = "/hubs/secure"

    token = negotiate(live, path=secure, **alice)["connectionToken"]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live, secure, f"?id={token}"), additional_headers=bob):
            pass
    assert refused.value.response.status_code == 403

    token = negotiate(live, path=secure, **alice)["connectionToken"]
    async with connect(ws_url(live, secure, f"?id={token}"), additional_headers=alice) as ws:
        records = Records(ws)
        await ws.send((HANDSHAKE + invocation("1", "Whoami")).decode())
        assert await records.next() == {}
        assert await records.next_not_ping() == {"type": 3, "invocationId": "1", "result": "alice"}


def _messagepack_records(frame: bytes) -> list:
    """Split a binary frame into MessagePack hub messages (varint length prefixes)."""
    records, offset = [], 0
    while offset < len(frame):
        size = shift = 0
        while True:
            byte = frame[offset]
            offset += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        records.append(msgpack.unpackb(frame[offset : offset + size]))
        offset += size
    return records


async def _next_messagepack(websocket) -> list:
    while True:
        for record in _messagepack_records(await asyncio.wait_for(websocket.recv(), 10)):
            if record[0] != 6:  # not a Ping
                return record


async def test_group_broadcasts_arrive_whole_in_both_encodings(live):
    """Broadcast frames are encoded once per process and written whole, past 64 KiB too."""
    async with connect(ws_url(live)) as text_ws, connect(ws_url(live)) as binary_ws:
        text = Records(text_ws)
        await text_ws.send((HANDSHAKE + invocation("1", "Join", "wide")).decode())
        assert await text.next() == {}
        assert await text.next_not_ping() == {"type": 3, "invocationId": "1"}
        await binary_ws.send(b'{"protocol":"messagepack","version":1}\x1e')
        assert await asyncio.wait_for(binary_ws.recv(), 5) == "{}\x1e"
        body = msgpack.packb([1, {}, "1", "Join", ["wide"], []])
        await binary_ws.send(bytes([len(body)]) + body)
        assert (await _next_messagepack(binary_ws))[:3] == [3, {}, "1"]

        for size in (10, 70_000):
            async with pinging((text_ws, JSON_PING), (binary_ws, MESSAGEPACK_PING)):
                await asyncio.to_thread(
                    live.shell,
                    "from realtime import hub_context\n"
                    f"hub_context('echohub').group('wide').send('Wide', 'é' * {size}, {size})",
                )
            event = await text.next_not_ping(timeout=10)
            assert event == {"type": 1, "target": "Wide", "arguments": ["é" * size, size]}
            assert (await _next_messagepack(binary_ws))[3:5] == ["Wide", ["é" * size, size]]
