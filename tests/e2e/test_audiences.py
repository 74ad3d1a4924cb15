"""ASP.NET Core's audiences with the official @microsoft/signalr client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.node import run_node

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().with_name("audiences.mjs")
COMBOS = [
    ("WebSockets", "json"),
    ("WebSockets", "messagepack"),
    ("ServerSentEvents", "json"),
    ("LongPolling", "messagepack"),
]


@pytest.mark.parametrize(("transport", "protocol"), COMBOS, ids=[f"{t}-{p}" for t, p in COMBOS])
def test_every_audience_reaches_exactly_its_connections(live, node_available, transport, protocol):
    options = {"url": f"{live.url}/hubs/audience", "transport": transport, "protocol": protocol}

    result = run_node(SCRIPT, "audiences", options, timeout=60)

    assert result == {
        "heard": {
            "A": ["all_except:2", "group_except:3", "clients:4"],
            "B": ["others:1"],
            "C": ["others:1", "all_except:2", "clients:4"],
        }
    }
