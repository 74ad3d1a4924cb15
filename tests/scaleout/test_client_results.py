"""Client results across instances: the asking instance is not the client's."""

from __future__ import annotations

import json

import pytest

from tests.e2e.results import ask_from_outside
from tests.e2e.test_client_results import IDS, SCRIPT
from tests.e2e.test_signalr_client import COMBOS
from tests.support.node import NodeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.mark.parametrize(("transport", "protocol"), COMBOS, ids=IDS)
def test_a_hub_method_on_one_instance_awaits_a_client_of_the_other(
    cluster, node_available, transport, protocol
):
    a, b = cluster.live.urls
    options = {
        "askerUrl": f"{a}/hubs/results",
        "answererUrl": f"{b}/hubs/results",
        "transport": transport,
        "protocol": protocol,
    }
    with NodeProcess(SCRIPT, "across", options) as node:
        connection_id = json.loads(node.expect("STEP outside", timeout=60))["id"]
        outside = ask_from_outside(cluster.live, connection_id, "from a command")
        node.reply()
        result = node.result()
    assert "fatal" not in result, result
    assert result["value"] == {"result": {"answer": "hello", "by": "answerer"}}
    assert result["error"] == {"hub_error": "Error: not here"}
    assert result["many"] == [{"result": {"answer": q, "by": "answerer"}} for q in "123"]
    assert outside == "{'answer': 'from a command', 'by': 'answerer'}"
    assert result["gone"] == {"gone": f"Connection '{connection_id}' does not exist."}


def test_the_answer_of_a_client_behind_nginx_reaches_the_asking_instance(cluster, node_available):
    """Long polling through round-robin nginx: the client's Completion POST may
    land on either instance, and the result still reaches the instance that asked."""
    a, _ = cluster.live.urls
    options = {
        "askerUrl": f"{a}/hubs/results",
        "answererUrl": f"{cluster.url}/hubs/results",
        "transport": "LongPolling",
    }
    with NodeProcess(SCRIPT, "across", options) as node:
        node.expect("STEP outside", timeout=60)
        node.reply()
        result = node.result()
    assert "fatal" not in result, result
    assert result["value"] == {"result": {"answer": "hello", "by": "answerer"}}
    assert result["many"] == [{"result": {"answer": q, "by": "answerer"}} for q in "123"]
