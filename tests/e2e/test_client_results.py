"""Client results and upload streams with the official @microsoft/signalr client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.results import ask_from_outside
from tests.e2e.test_signalr_client import COMBOS  # every transport, with each protocol it allows
from tests.support.node import NodeProcess, run_node

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().with_name("results.mjs")
IDS = [f"{t}-{p}" for t, p in COMBOS]


@pytest.mark.parametrize(("transport", "protocol"), COMBOS, ids=IDS)
def test_the_server_awaits_what_the_clients_handler_returns(
    live, node_available, transport, protocol
):
    options = {"url": f"{live.url}/hubs/results", "transport": transport, "protocol": protocol}
    with NodeProcess(SCRIPT, "results", options) as node:
        connection_id = json.loads(node.expect("STEP outside"))["id"]
        outside = ask_from_outside(live, connection_id, "outside")
        node.reply()
        result = node.result()
    assert "fatal" not in result, result
    assert result["plain"] == {"result": {"answer": "COLOUR?"}}
    assert result["promise"] == {"result": "later-answer"}
    assert result["thrown"] == {"hub_error": "Error: no mood"}
    assert result["timeout"] == {
        "timeout": f"Connection '{connection_id}' did not answer 'Ask' within 0.5 s."
    }
    assert result["noHandler"] == {"hub_error": "Client didn't provide a result."}
    assert result["twoHandlers"] == {"hub_error": "Client provided multiple results."}
    assert result["parallel"] == [{"result": {"answer": q}} for q in "ABC"]
    assert outside == "{'answer': 'OUTSIDE'}"
    assert "outside" in result["asked"]
    gone = ask_from_outside(live, connection_id, "anyone there?")
    assert gone == f"ClientResultError Connection '{connection_id}' does not exist."


@pytest.mark.parametrize(("transport", "protocol"), COMBOS, ids=IDS)
def test_subjects_feed_hub_methods(live, node_available, transport, protocol):
    options = {"url": f"{live.url}/hubs/results", "transport": transport, "protocol": protocol}
    result = run_node(SCRIPT, "uploads", options, timeout=60)
    assert "fatal" not in result, result
    assert result["sum"] == sum(range(1, 201))
    assert result["collect"] == ["label", {"a": 1}, "b"]
    assert result["upper"] == ["A", "B"]
    assert result["clientError"] == {
        "ok": False,
        "error": "An unexpected error occurred invoking 'SumUpload' on the server. "
        "HubException: camera unplugged",
    }
    assert result["held"] == ["kept"]
    assert result["afterCancel"] == "string"
