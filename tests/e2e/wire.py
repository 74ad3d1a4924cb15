"""The e2e suite's own pieces of the wire: its customer, negotiate, long polling.

The raw client and record reader are in ``tests.support.signalr``; this
module holds what is tied to the `live` fixture's stack and its EchoHub.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlsplit

from tests.support.daphne import LiveStack
from tests.support.http import http_request
from tests.support.signalr import HANDSHAKE

#: The customer the `live` fixture creates.
CUSTOMER = ("alice", "alice-pass-1")


def negotiate(live: LiveStack, version: int = 1, path: str = "/hubs/echo", **headers) -> dict:
    """POST negotiate and return its JSON reply (asserting 200)."""
    status, reply_headers, body = http_request(
        "POST", f"{live.url}{path}/negotiate?negotiateVersion={version}", headers=headers
    )
    assert status == 200, body
    assert reply_headers["Content-Type"] == "application/json"
    return json.loads(body)


def ws_url(live: LiveStack, path: str = "/hubs/echo", query: str = "") -> str:
    """The WebSocket URL of a hub on the live server."""
    return f"ws://{urlsplit(live.url).netloc}{path}{query}"


class LongPollingClient:
    """A long-polling connection to EchoHub driven request by request."""

    def __init__(self, live: LiveStack) -> None:
        self.token = negotiate(live)["connectionToken"]
        self.url = f"{live.url}/hubs/echo?id={self.token}"
        assert self.poll()[0] == 200  # the first poll opens the connection
        assert self.post(HANDSHAKE) == 200
        assert self.poll() == (200, b"{}\x1e")

    def poll(self) -> tuple[int, bytes]:
        status, _, body = http_request("GET", self.url, timeout=30)
        return status, body

    def post(self, body: bytes) -> int:
        return http_request("POST", self.url, data=body)[0]

    def delete(self) -> int:
        return http_request("DELETE", self.url)[0]

    def poll_in_thread(self) -> dict:
        """Start a poll; the dict gets its status, body and end time."""
        outcome: dict = {}

        def run() -> None:
            outcome["status"], outcome["body"] = self.poll()
            outcome["at"] = time.monotonic()

        outcome["thread"] = threading.Thread(target=run, daemon=True)
        outcome["thread"].start()
        return outcome
