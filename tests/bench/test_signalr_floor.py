"""bench/'s SignalR floor peer is a SignalR server the official client uses unchanged.

The peer runs as the harness starts it (``python -m realtime.server`` with
ours' arguments); the official JavaScript client negotiates, invokes Echo
and receives a broadcast published on Redis, and a malformed frame gets a
Close message with an error.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from redis import Redis
from websockets.asyncio.client import connect

from bench.servers import CONTENDERS, command_for, start_server
from tests.support.node import NodeProcess, node_problem

FLOOR = CONTENDERS["signalr-floor"]
CLIENT = "tests/bench/floor_client.mjs"
RS = "\x1e"


@pytest.fixture
def floor(redis_url, tmp_path):
    server, port, _ = start_server(FLOOR, rpc=False, redis_url=redis_url, workdir=tmp_path)
    try:
        yield port
    finally:
        server.stop()


def test_the_floor_runs_on_ours_daphne_with_ours_arguments():
    ours = command_for(CONTENDERS["ours-daphne"], "app", 8000)
    floor = command_for(FLOOR, "app", 8000)
    assert floor == ours
    assert "realtime.server" in floor


def test_the_official_client_negotiates_invokes_and_receives_a_broadcast(floor, redis_url):
    if problem := node_problem():
        pytest.fail(problem)
    body = json.dumps({"seq": 7, "ts": 1.5, "pad": "x"})
    with NodeProcess(CLIENT, "echo", {"url": f"http://127.0.0.1:{floor}/hub"}) as client:
        client.expect("STEP connected")
        assert Redis.from_url(redis_url).publish("bench", body) == 1
        client.reply()
        result = client.result()

    assert result["echoed"] == {"seq": -1, "pad": "é"}
    assert result["received"] == json.loads(body)
    assert result["state"] == "Disconnected"


async def test_a_malformed_frame_gets_a_close_message_with_an_error(floor):
    async with connect(f"ws://127.0.0.1:{floor}/hub?id=x") as socket:
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        assert await asyncio.wait_for(socket.recv(), 10) == "{}" + RS
        await socket.send("{not json" + RS)
        close = json.loads((await asyncio.wait_for(socket.recv(), 10)).rstrip(RS))
        assert close == {"type": 7, "error": "Malformed message."}


async def test_only_the_json_protocol_is_served(floor):
    async with connect(f"ws://127.0.0.1:{floor}/hub?id=x") as socket:
        await socket.send(json.dumps({"protocol": "messagepack", "version": 1}) + RS)
        answer = json.loads((await asyncio.wait_for(socket.recv(), 10)).rstrip(RS))
        assert "error" in answer
