"""The official @microsoft/signalr client against a live daphne process.

Every transport and protocol pair the SignalR spec allows, connection
options, authentication, and server restarts. Raw wire details the official
client never sends are in test_wire_websockets.py and test_wire_http.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from urllib.parse import quote, urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.wire import CUSTOMER, ws_url
from tests.support.http import fetch_access_token, http_request
from tests.support.node import CLIENT, NodeProcess, run_node
from tests.support.processes import wait_until
from tests.support.signalr import HANDSHAKE, Records

pytestmark = pytest.mark.e2e

COMBOS = [
    ("WebSockets", "json"),
    ("WebSockets", "messagepack"),
    ("ServerSentEvents", "json"),
    ("LongPolling", "json"),
    ("LongPolling", "messagepack"),
]
PAYLOAD = {
    "text": "héllo wörld ✓ 日本語 🎉",
    "int": 42,
    "negative": -7,
    "float": 1.5,
    "none": None,
    "flag": True,
    "list": [1, "two", None, {"deep": [False, 0.25]}],
    "nested": {"a": {"b": {"c": "d"}}},
    "empty": {},
    "emptyList": [],
}
REASON = "Order 7 is not yours"
CANCELLED = "stream Counter cancelled"


# The official client: every feature on every transport ---------------------------


@pytest.fixture(scope="module", params=COMBOS, ids=[f"{t}-{p}" for t, p in COMBOS])
def suite(request, live, node_available):
    """Run the whole client suite once per transport and protocol."""
    transport, protocol = request.param
    room = f"room-{uuid.uuid4().hex[:10]}"
    options = {
        "url": f"{live.url}/hubs/echo",
        "transport": transport,
        "protocol": protocol,
        "payload": PAYLOAD,
        "reason": REASON,
        "note": f"note-{uuid.uuid4().hex[:6]}",
        "room": room,
    }
    cancelled_before = live.log().count(CANCELLED)
    with NodeProcess(CLIENT, "suite", options) as node:
        node.expect("STEP cancelled")
        # The client is still connected and waiting: only its CancelInvocation
        # can have stopped the stream, not the end of the connection.
        cancel_logged = wait_until(lambda: live.log().count(CANCELLED) > cancelled_before)
        node.reply()
        node.expect("STEP joined")
        delivered = live.shell(
            "from realtime import hub_context\n"
            f"print(hub_context('echohub').group({room!r}).send('Shouted', {room!r}, 'from-sync'))"
        )
        node.reply()
        result = node.result()
    assert "fatal" not in result, result
    return {**result, "options": options, "cancelLogged": cancel_logged, "delivered": delivered}


def test_invoke_returns_the_result(suite):
    assert suite["add"] == 5


def test_echo_round_trips_nested_values_exactly(suite):
    assert suite["echo"] == PAYLOAD


def test_hub_exception_reaches_the_caller_with_the_aspnet_prefix(suite):
    assert suite["refuse"] == {
        "ok": False,
        "error": (
            f"An unexpected error occurred invoking 'Refuse' on the server. HubException: {REASON}"
        ),
    }


def test_crash_gives_a_generic_error_without_internals(suite):
    assert suite["crash"] == {
        "ok": False,
        "error": "An unexpected error occurred invoking 'Crash' on the server.",
    }
    assert "internal detail" not in json.dumps(suite)


def test_send_does_not_wait_and_the_hub_answers_with_an_event(suite):
    assert suite["sendReturned"] == {"ok": True}  # resolved with no value
    assert suite["notified"] == [suite["options"]["note"]]


def test_hub_sends_a_client_event_to_a_group(suite):
    room = suite["options"]["room"]
    assert suite["shoutedOwn"] == [f"{room}-own", "from-hub"]


def test_group_broadcast_from_sync_code_in_another_process(suite):
    room = suite["options"]["room"]
    assert suite["delivered"].strip() == "1"  # one server process holds the group
    assert suite["shouted"] == {"ok": True, "value": [room, "from-sync"]}


def test_stream_yields_every_item_then_completes(suite):
    assert suite["stream"] == {"ok": True, "value": [0, 1, 2, 3, 4]}


def test_stream_cancellation_stops_the_server_side(suite):
    cancel = suite["cancel"]
    assert cancel["atDispose"] == 3
    assert cancel["items"] == [0, 1, 2]
    assert cancel["ended"] == ""  # neither completed nor failed after dispose
    assert suite["cancelLogged"], "the server did not log the cancelled stream"
    assert suite["afterCancel"] == 42


def test_unknown_method_is_an_error(suite):
    assert suite["unknown"]["ok"] is False
    assert "NoSuchMethod" in suite["unknown"]["error"]


def test_wrong_argument_type_is_an_error_and_the_connection_stays_usable(suite):
    assert suite["wrongType"]["ok"] is False
    assert suite["wrongType"]["error"].startswith("Failed to invoke 'Add' due to an error")
    assert suite["afterWrongType"] == 2
    assert suite["finalState"] == "Connected"


# Connection options ------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_websockets_without_negotiation(live, node, protocol):
    spec = {
        "url": f"{live.url}/hubs/echo",
        "transport": "WebSockets",
        "skipNegotiation": True,
        "protocol": protocol,
        "invoke": [["Add", 2, 3], ["Whoami"]],
    }
    (outcome,) = node("connect", {"connections": [spec]})["results"]

    assert outcome["started"] is True, outcome
    assert outcome["Add"] == 5
    assert outcome["connectionId"] is None  # no negotiate, so the client has no id
    assert isinstance(outcome["Whoami"], str)
    assert len(outcome["Whoami"]) >= 16


def test_server_sent_events_cannot_carry_messagepack(live, node):
    spec = {
        "url": f"{live.url}/hubs/echo",
        "transport": "ServerSentEvents",
        "protocol": "messagepack",
    }
    (outcome,) = node("connect", {"connections": [spec]})["results"]

    assert outcome["started"] is False
    assert "'ServerSentEvents' does not support Binary" in outcome["error"]


def test_messagepack_client_never_picks_server_sent_events(live, node):
    """With WebSockets unavailable to it, a MessagePack client falls back to long polling."""
    spec = {
        "url": f"{live.url}/hubs/echo",
        "transport": "ServerSentEvents|LongPolling",
        "protocol": "messagepack",
        "invoke": [["Add", 1, 2]],
    }
    (outcome,) = node("connect", {"connections": [spec]})["results"]

    assert outcome["started"] is True, outcome
    assert outcome["Add"] == 3
    assert outcome["transport"] == "LongPollingTransport"


def test_official_client_with_a_foreign_origin_is_refused(live, node):
    url = f"{live.url}/hubs/echo"
    specs = [
        {"label": "ws-direct", "url": url, "transport": "WebSockets", "skipNegotiation": True},
        {"label": "negotiate", "url": url},
        {"label": "same-origin", "url": url, "transport": "LongPolling", "invoke": [["Add", 1, 2]]},
    ]
    specs[0]["headers"] = specs[1]["headers"] = {"Origin": "https://evil.example"}
    specs[2]["headers"] = {"Origin": live.url}
    outcomes = {o["label"]: o for o in node("connect", {"connections": specs})["results"]}

    assert outcomes["ws-direct"]["started"] is False
    assert outcomes["negotiate"]["started"] is False
    assert "403" in outcomes["negotiate"]["error"]
    assert outcomes["same-origin"]["Add"] == 3


# Authentication -------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure(live, node_available):
    """Connect to SecureHub with a token on every transport, without, and with a bad one."""
    token = fetch_access_token(live.url, *CUSTOMER)
    url = f"{live.url}/hubs/secure"
    specs = [
        {"label": t, "url": url, "transport": t, "accessToken": token, "invoke": [["Whoami"]]}
        for t in ("WebSockets", "ServerSentEvents", "LongPolling")
    ]
    specs += [
        {"label": "anonymous", "url": url},
        {"label": "invalid", "url": url, "accessToken": token[:-4] + "AAAA"},
        {"label": "invalid-ws", "url": url, "transport": "WebSockets", "skipNegotiation": True,
         "accessToken": token[:-4] + "AAAA"},
    ]  # fmt: skip
    result = run_node(CLIENT, "connect", {"connections": specs})
    return token, {outcome["label"]: outcome for outcome in result["results"]}


def test_secure_hub_answers_401_to_anonymous_negotiate_never_a_redirect(live, secure):
    status, headers, body = http_request(
        "POST", f"{live.url}/hubs/secure/negotiate?negotiateVersion=1"
    )

    assert status == 401
    assert "Location" not in headers
    assert json.loads(body)["error"]
    _, outcomes = secure
    assert outcomes["anonymous"]["started"] is False
    assert "401" in outcomes["anonymous"]["error"]


@pytest.mark.parametrize("transport", ["WebSockets", "ServerSentEvents", "LongPolling"])
def test_secure_hub_accepts_an_access_token(secure, transport):
    _, outcomes = secure

    assert outcomes[transport]["started"] is True, outcomes[transport]
    assert outcomes[transport]["Whoami"] == CUSTOMER[0]


@pytest.mark.parametrize("label", ["invalid", "invalid-ws"])
def test_secure_hub_refuses_an_invalid_token(secure, label):
    _, outcomes = secure

    assert outcomes[label]["started"] is False
    assert outcomes[label]["error"]


def test_access_token_never_appears_in_the_server_log(live, secure):
    token, outcomes = secure
    assert all(outcomes[t]["started"] for t in ("WebSockets", "ServerSentEvents", "LongPolling"))
    log = live.log()
    signature = token.rsplit(":", 1)[-1]

    for form in (token, quote(token, safe=""), signature):
        assert form not in log


def test_access_token_of_a_server_ended_event_stream_never_appears_in_the_log(live):
    """The official client sends its token in the SSE query string; the server ends this stream."""
    token = fetch_access_token(live.url, *CUSTOMER)
    status, _, body = http_request(
        "POST",
        f"{live.url}/hubs/secure/negotiate?negotiateVersion=1",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200, body
    connection_token = json.loads(body)["connectionToken"]
    parts = urlsplit(live.url)
    stream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        # As ServerSentEventsTransport.connect builds it. No handshake follows,
        # so the server ends the stream after HANDSHAKE_TIMEOUT (3 s).
        path = f"/hubs/secure?id={connection_token}&access_token={quote(token, safe='')}"
        stream.request("GET", path, headers={"Accept": "text/event-stream"})
        response = stream.getresponse()
        assert response.status == 200
        response.read()  # until the server ends the stream
    finally:
        stream.close()
    wait_until(lambda: f"id={connection_token}" in live.log(), timeout=2)
    log = live.log()

    for form in (token, quote(token, safe=""), token.rsplit(":", 1)[-1]):
        assert form not in log


# Restarts ------------------------------------------------------------------------


async def test_server_shutdown_sends_close_with_allow_reconnect(live):
    """SIGTERM drains: clients get a Close message that lets them reconnect elsewhere."""
    async with connect(ws_url(live)) as websocket:
        records = Records(websocket)
        await websocket.send(HANDSHAKE.decode())
        assert await records.next() == {}
        restart = asyncio.create_task(asyncio.to_thread(live.restart, 0))
        seen = []
        try:
            while True:
                seen.append(await records.next(timeout=15))
        except ConnectionClosed:
            pass
        finally:
            await restart

    closes = [record for record in seen if record.get("type") == 7]
    assert len(closes) == 1, seen
    assert closes[0]["allowReconnect"] is True


def test_client_reconnects_after_a_server_restart(live, node_process):
    client = node_process(
        "reconnect",
        {
            "url": f"{live.url}/hubs/echo",
            "transport": "WebSockets",
            "delays": [0, 500, 1000, 2000, 2000, 2000],
        },
    )
    before = json.loads(client.expect("STEP connected"))["connectionId"]
    live.restart(0)
    client.reply()
    result = client.result(timeout=60)

    assert result["reconnected"] == {"ok": True}, result
    # The server drained on SIGTERM: a Close message, not a dropped socket.
    assert result["events"][0] == (
        "reconnecting: Error: Server returned an error on close: Server is shutting down."
    )
    assert "reconnected" in result["events"]
    assert result["after"] == result["reconnectedId"] == result["whoami"]
    assert result["after"] != before
    assert result["sumAfter"] == 9
