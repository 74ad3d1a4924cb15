"""Stateful reconnect on the wire, with a raw client against a live daphne.

What the official client does not show: the negotiate answer, the Sequence
and replay after a resume, the server's Acks, the reconnect window running
out (on_disconnected once), another user presenting the token, the buffer's
bound, and what ends a connection without parking it.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.wire import CUSTOMER, ws_url
from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token, http_request
from tests.support.signalr import RS, Records, invocation

pytestmark = pytest.mark.e2e

WINDOW = 2
BUFFER = 2000
HANDSHAKE_V2 = b'{"protocol":"json","version":2}\x1e'


@pytest.fixture(scope="module")
def stateful_live(tmp_path_factory, redis_url) -> LiveStack:
    """One daphne process with a short reconnect window and a small buffer."""
    options = {
        "STATEFUL_RECONNECT_WINDOW": WINDOW,
        "STATEFUL_RECONNECT_BUFFER_SIZE": BUFFER,
        "KEEPALIVE_INTERVAL": 2,
        "CLIENT_TIMEOUT": 6,
    }
    with LiveStack(
        tmp_path_factory.mktemp("stateful"), redis_url, realtime_options=options
    ) as stack:
        for username, password in (CUSTOMER, ("bob", "bob-pass-1")):
            stack.shell(
                "from django.contrib.auth import get_user_model\n"
                f"get_user_model().objects.create_user({username!r}, password={password!r})"
            )
        yield stack


def negotiate(live: LiveStack, path: str, query: str = "", **headers) -> dict:
    status, _, body = http_request(
        "POST", f"{live.url}{path}/negotiate?negotiateVersion=1{query}", headers=headers
    )
    assert status == 200, body
    return json.loads(body)


def record(message: dict) -> str:
    return json.dumps(message) + RS.decode()


async def open_stateful(live: LiveStack, path: str = "/hubs/resume", **headers):
    """Negotiate stateful, open the WebSocket, shake hands at version 2."""
    reply = negotiate(live, path, "&useStatefulReconnect=true", **headers)
    assert reply["useStatefulReconnect"] is True
    token = reply["connectionToken"]
    websocket = await connect(ws_url(live, path, f"?id={token}"), additional_headers=headers)
    await websocket.send(HANDSHAKE_V2.decode())
    records = Records(websocket)
    assert await records.next() == {}
    return token, reply["connectionId"], websocket, records


async def drop(websocket) -> None:
    """End the TCP connection abruptly: no Close message, no close frame."""
    websocket.transport.abort()
    await asyncio.sleep(0.05)  # the socket closes on the event loop's next turn


async def eventually(predicate, timeout: float) -> bool:
    """Poll `predicate` without blocking the event loop (its sockets)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return bool(predicate())


async def resume(live: LiveStack, token: str, path: str = "/hubs/resume", **headers):
    websocket = await connect(ws_url(live, path, f"?id={token}"), additional_headers=headers)
    return websocket, Records(websocket)


def hooks(live: LiveStack, connection_id: str) -> tuple[int, int]:
    log = live.log()
    return (
        log.count(f"resumehub on_connected {connection_id}"),
        log.count(f"resumehub on_disconnected {connection_id}"),
    )


@pytest.mark.parametrize(
    ("version", "query", "offered"),
    [
        (1, "&useStatefulReconnect=true", True),
        (1, "", False),
        (1, "&useStatefulReconnect=false", False),
        (0, "&useStatefulReconnect=true", False),  # no secret token to resume with
    ],
)
def test_negotiate_offers_stateful_reconnect_when_asked(stateful_live, version, query, offered):
    status, _, body = http_request(
        "POST", f"{stateful_live.url}/hubs/resume/negotiate?negotiateVersion={version}{query}"
    )

    assert status == 200
    assert json.loads(body).get("useStatefulReconnect", False) is offered


async def test_a_resume_sends_sequence_then_what_the_client_did_not_acknowledge(stateful_live):
    live = stateful_live
    token, connection_id, websocket, records = await open_stateful(live)
    await websocket.send(invocation("1", "Tally", 5).decode())
    assert await records.next_not_ping() == {
        "type": 1,
        "target": "Tallied",
        "arguments": [5],
    }  # fmt: skip  (tracked: 1)
    assert await records.next_not_ping() == {"type": 3, "invocationId": "1", "result": 5}  # 2
    # The server acknowledges the client's invocation about a second later.
    assert await records.next_not_ping(timeout=5) == {"type": 8, "sequenceId": 1}
    await websocket.send(record({"type": 8, "sequenceId": 1}))  # the client has Tallied only
    await asyncio.sleep(0.2)
    await drop(websocket)

    websocket, records = await resume(live, token)
    async with websocket:
        assert await records.next() == {"type": 9, "sequenceId": 2}
        assert await records.next() == {"type": 3, "invocationId": "1", "result": 5}
        # The client's Sequence: its next number is 2; a replay of its 1 is ignored.
        await websocket.send(record({"type": 9, "sequenceId": 1}))
        await websocket.send(invocation("1", "Tally", 5).decode())
        await websocket.send(invocation("2", "Tally", 6).decode())
        assert await records.next_not_ping() == {"type": 1, "target": "Tallied", "arguments": [6]}
        assert await records.next_not_ping() == {"type": 3, "invocationId": "2", "result": 6}
        await websocket.send(record({"type": 7}))
    assert await eventually(lambda: hooks(live, connection_id) == (1, 1), timeout=5)


async def test_frames_for_a_parked_connection_are_kept_for_its_resume(stateful_live):
    live = stateful_live
    token, _, websocket, records = await open_stateful(live)
    await websocket.send(invocation("1", "Numbers", 4, 400).decode())
    assert await records.next_not_ping() == {"type": 3, "invocationId": "1"}
    assert (await records.next_not_ping())["arguments"] == [1]
    await drop(websocket)
    await asyncio.sleep(1.5)  # 2, 3 and 4 are sent while the connection is parked

    websocket, records = await resume(live, token)
    async with websocket:
        assert await records.next() == {"type": 9, "sequenceId": 1}
        replayed = [await records.next() for _ in range(5)]
        assert replayed[0] == {"type": 3, "invocationId": "1"}
        assert [r["arguments"][0] for r in replayed[1:]] == [1, 2, 3, 4]


async def test_the_window_passing_ends_the_connection_once(stateful_live):
    live = stateful_live
    token, connection_id, websocket, _ = await open_stateful(live)
    await drop(websocket)
    await asyncio.sleep(WINDOW / 2)
    assert hooks(live, connection_id) == (1, 0)  # parked, not ended

    assert await eventually(lambda: hooks(live, connection_id) == (1, 1), timeout=WINDOW + 5)
    with pytest.raises(InvalidStatus):
        await resume(live, token)
    await asyncio.sleep(WINDOW)
    assert hooks(live, connection_id) == (1, 1)


async def test_another_user_presenting_the_token_is_refused(stateful_live):
    live = stateful_live
    alice = {"Authorization": f"Bearer {fetch_access_token(live.url, *CUSTOMER)}"}
    bob = {"Authorization": f"Bearer {fetch_access_token(live.url, 'bob', 'bob-pass-1')}"}
    token, _, websocket, records = await open_stateful(live, "/hubs/secure", **alice)
    await websocket.send(invocation("1", "Whoami").decode())
    assert (await records.next_not_ping())["type"] == 3
    await drop(websocket)

    with pytest.raises(InvalidStatus):
        await resume(live, token, "/hubs/secure", **bob)
    assert "connection belongs to another user" in live.log()

    websocket, records = await resume(live, token, "/hubs/secure", **alice)
    async with websocket:
        assert await records.next() == {"type": 9, "sequenceId": 1}
        assert (await records.next())["invocationId"] == "1"


async def test_a_client_that_never_acks_past_the_bound_is_not_parked(stateful_live):
    """Frames past the bound were dropped: a drop ends the connection at once."""
    live = stateful_live
    token, connection_id, websocket, records = await open_stateful(live)
    for i in range(3):  # three Completions of 1,000 characters: past 2,000 bytes
        await websocket.send(invocation(str(i), "Echo", "x" * 1000).decode())
    for _ in range(3):
        await records.next_not_ping()
    await drop(websocket)

    assert await eventually(lambda: hooks(live, connection_id) == (1, 1), timeout=5)
    with pytest.raises(InvalidStatus):
        await resume(live, token)


@pytest.mark.parametrize("ending", ["close message", 1000, 1001])
async def test_an_ending_the_client_chose_is_not_parked(stateful_live, ending):
    """A Close, or a WebSocket closed on purpose (stopped, page left), ends at once."""
    live = stateful_live
    _, connection_id, websocket, _ = await open_stateful(live)
    if ending == "close message":
        await websocket.send(record({"type": 7}))
        await websocket.wait_closed()
    else:
        await websocket.close(code=ending)

    assert await eventually(lambda: hooks(live, connection_id) == (1, 1), timeout=WINDOW / 2)
