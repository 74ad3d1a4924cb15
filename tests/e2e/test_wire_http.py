"""The HTTP side of the transports, driven with a plain HTTP client."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from tests.e2e.wire import LongPollingClient, negotiate, ws_url
from tests.support.http import http_request
from tests.support.processes import wait_until
from tests.support.signalr import HANDSHAKE, RS, invocation

pytestmark = pytest.mark.e2e


SSE = {"Accept": "text/event-stream"}


@pytest.mark.parametrize(
    ("method", "query", "headers", "status"),
    [
        pytest.param("POST", "", {}, 400, id="post-without-id"),
        pytest.param("GET", "", {}, 400, id="poll-without-id"),
        pytest.param("GET", "", SSE, 400, id="sse-without-id"),
        pytest.param("DELETE", "", {}, 400, id="delete-without-id"),
        pytest.param("POST", "?id=no-such-connection", {}, 404, id="post-unknown-id"),
        pytest.param("GET", "?id=no-such-connection", {}, 404, id="poll-unknown-id"),
        pytest.param("GET", "?id=no-such-connection", SSE, 404, id="sse-unknown-id"),
        pytest.param("DELETE", "?id=no-such-connection", {}, 404, id="delete-unknown-id"),
    ],
)
def test_http_transport_refuses_bad_connection_ids(live, method, query, headers, status):
    """With ASP.NET Core's status and text/plain body."""
    data = b"{}\x1e" if method == "POST" else None
    url = f"{live.url}/hubs/echo{query}"
    reply_status, reply_headers, body = http_request(method, url, data=data, headers=headers)

    assert reply_status == status
    assert reply_headers["Content-Type"] == "text/plain"
    assert body == (b"Connection ID required" if status == 400 else b"No Connection with that ID")


@pytest.mark.parametrize("path", ["/hubs/echo/negotiate", "/hubs/echo?id=x"])
def test_hub_routes_answer_400_for_a_host_outside_allowed_hosts(live, path):
    """As Django answers for its own views (ALLOWED_HOSTS is 127.0.0.1,localhost here)."""
    status, _, body = http_request("POST", f"{live.url}{path}", headers={"Host": "evil.example"})

    assert (status, body) == (400, b"Bad Request (400)")
    django_status = http_request("GET", f"{live.url}/healthz", headers={"Host": "evil.example"})[0]
    assert django_status == 400


def test_negotiate_needs_post(live):
    status, _, body = http_request("GET", f"{live.url}/hubs/echo/negotiate")

    assert status == 405
    assert json.loads(body) == {"error": "Negotiate requires POST."}


TRANSPORTS = [
    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
    {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
    {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
]


def test_negotiate_version_0_has_no_connection_token(live):
    reply = negotiate(live, version=0)

    assert set(reply) == {"connectionId", "negotiateVersion", "availableTransports"}
    assert reply["negotiateVersion"] == 0
    assert reply["availableTransports"] == TRANSPORTS


def test_negotiate_reply_is_byte_for_byte_aspnetcore_shape(live):
    """Compact JSON in NegotiateProtocol's key order."""
    status, _, body = http_request("POST", f"{live.url}/hubs/echo/negotiate?negotiateVersion=1")

    reply = json.loads(body)
    assert status == 200
    assert (
        body
        == (
            f'{{"negotiateVersion":1,"connectionId":"{reply["connectionId"]}",'
            f'"connectionToken":"{reply["connectionToken"]}","availableTransports":'
            f"{json.dumps(TRANSPORTS, separators=(',', ':'))}}}"
        ).encode()
    )


@pytest.mark.parametrize(
    ("version", "error"),
    [
        ("abc", "The client requested a non-integer protocol version."),
        ("1.5", "The client requested a non-integer protocol version."),
        ("2147483648", "The client requested a non-integer protocol version."),
        ("-1", "The client requested version '-1', but the server does not support this version."),
    ],
)
def test_negotiate_refuses_bad_versions_in_aspnetcore_words(live, version, error):
    """ASP.NET Core answers 200 with only the error; the client throws it."""
    url = f"{live.url}/hubs/echo/negotiate?negotiateVersion={version}"
    status, _, body = http_request("POST", url)

    assert (status, json.loads(body)) == (200, {"error": error})


def test_negotiate_version_1_has_a_separate_connection_token(live):
    reply = negotiate(live, version=1)

    assert set(reply) == {
        "connectionId", "connectionToken", "negotiateVersion", "availableTransports",
    }  # fmt: skip
    assert reply["negotiateVersion"] == 1
    assert reply["connectionToken"] != reply["connectionId"]
    assert reply["availableTransports"] == TRANSPORTS


def test_long_poll_superseded_by_a_newer_poll_answers_204(live):
    client = LongPollingClient(live)
    # A completion just went out, so no keep-alive ping is due for 2 s.
    assert client.post(invocation("1", "Add", 2, 3)) == 200
    status, body = client.poll()
    assert status == 200
    assert json.loads(body.rstrip(RS)) == {"type": 3, "invocationId": "1", "result": 5}

    first = client.poll_in_thread()
    time.sleep(0.3)
    second = client.poll_in_thread()
    first["thread"].join(timeout=10)

    assert first.get("status") == 204, first
    assert first["body"] == b""
    assert client.delete() == 202
    second["thread"].join(timeout=10)
    assert not second["thread"].is_alive()


def test_delete_ends_a_long_polling_connection_and_the_pending_poll_answers_204(live):
    client = LongPollingClient(live)
    pending = client.poll_in_thread()
    time.sleep(0.3)

    assert client.delete() == 202
    pending["thread"].join(timeout=10)

    assert pending.get("status") == 204, pending
    assert pending["body"] == b""
    assert wait_until(lambda: client.poll()[0] == 404)


def test_server_sent_events_refuse_a_messagepack_handshake(live):
    token = negotiate(live)["connectionToken"]
    parts = urlsplit(live.url)
    stream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        stream.request("GET", f"/hubs/echo?id={token}", headers={"Accept": "text/event-stream"})
        response = stream.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        handshake = b'{"protocol":"messagepack","version":1}\x1e'
        assert http_request("POST", f"{live.url}/hubs/echo?id={token}", data=handshake)[0] == 200

        events = []
        while line := response.readline():
            if line.startswith(b"data: "):
                events.append(line[len(b"data: ") :].rstrip(b"\r\n"))
    finally:
        stream.close()

    (event,) = events
    assert json.loads(event.rstrip(RS))["error"] == (
        "Cannot use the 'messagepack' protocol on the current transport. "
        "The transport does not support 'Binary' transfer format."
    )


def test_a_poll_on_a_websocket_connection_cannot_change_its_transport(live):
    """ASP.NET Core's 400 and text when another transport claims the connection."""
    token = negotiate(live)["connectionToken"]
    with connect(ws_url(live, query=f"?id={token}"), open_timeout=10) as websocket:
        websocket.send(HANDSHAKE.decode())
        assert websocket.recv(timeout=5) == "{}\x1e"

        status, _, body = http_request("GET", f"{live.url}/hubs/echo?id={token}")

    assert (status, body) == (400, b"Cannot change transports mid-connection")
