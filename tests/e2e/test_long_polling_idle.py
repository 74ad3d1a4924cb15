"""An idle long-polling connection of the official client stays up (the slow test).

The JS client sends no pings over long polling: its polls are what keep the
connection alive, as in ASP.NET Core. With CLIENT_TIMEOUT at 10 s (shorter
than a poll's 20 s wait), the client sits idle for LONG_POLL_IDLE_SECONDS
(3 minutes by default) and must then still receive an event.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.support.daphne import LiveStack

pytestmark = pytest.mark.e2e

HOLD_SECONDS = float(os.environ.get("LONG_POLL_IDLE_SECONDS", "180"))
OPTIONS = {"CLIENT_TIMEOUT": 10, "KEEPALIVE_INTERVAL": 15, "LONG_POLL_TIMEOUT": 20}


@pytest.fixture(scope="module")
def idle_stack(tmp_path_factory, redis_url) -> LiveStack:
    with LiveStack(tmp_path_factory.mktemp("idle"), redis_url, realtime_options=OPTIONS) as live:
        yield live


def test_an_idle_long_polling_connection_stays_up_and_receives_an_event(idle_stack, node_process):
    room = f"idle-{uuid.uuid4().hex[:8]}"
    client = node_process(
        "idle",
        {
            "url": f"{idle_stack.url}/hubs/echo",
            "transport": "LongPolling",
            "room": room,
            "holdMs": int(HOLD_SECONDS * 1000),
            "watchdogMs": int(HOLD_SECONDS * 1000) + 60_000,
        },
    )
    held = json.loads(client.expect("STEP held", timeout=HOLD_SECONDS + 30))
    idle_stack.shell(
        "from realtime import hub_context\n"
        f"hub_context('echohub').group({room!r}).send('Shouted', {room!r}, 'after-idle')"
    )
    client.reply()
    result = client.result(timeout=30)

    assert held["state"] == "Connected", result
    assert result["received"] == {"ok": True, "value": [room, "after-idle"]}, result
    assert result["events"] == [], result
    assert "closing idle connection" not in idle_stack.log()
