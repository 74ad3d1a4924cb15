"""Redis failing under a hub request: a 503 (or WebSocket close 1013), counted, logged sparingly.

The failure is injected into the registry (its lookup and registration
raise as redis-py does when Redis closes a pooled connection); the rest is
real: the hub routes and the session's Redis.
"""

from __future__ import annotations

import json
import logging

import pytest
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime import metrics, registry
from realtime.routing import WebSocketRouter, http_routes
from realtime.transports import outage
from tests.realtime.hubs import EchoHub

pytestmark = pytest.mark.django_db(transaction=True)

HUB = "/hubs/echo"
HUBS = {HUB.lstrip("/"): EchoHub}
application = ProtocolTypeRouter(
    {"http": URLRouter(http_routes(HUBS)), "websocket": WebSocketRouter(HUBS, fallback=None)}
)
HEADERS = [(b"host", b"testserver")]
REASON = outage.UNAVAILABLE.reason


@pytest.fixture
def redis_fails(monkeypatch) -> None:
    async def closed(*args, **kwargs):
        raise RedisConnectionError("Connection closed by server.")

    monkeypatch.setattr(registry, "lookup", closed)
    monkeypatch.setattr(registry, "register", closed)
    monkeypatch.setattr(registry, "write_all", closed)
    monkeypatch.setattr(outage._Log, "last", float("-inf"))
    monkeypatch.setattr(outage._Log, "unlogged", 0)


async def request(method: str, path: str, body: bytes = b"") -> dict:
    communicator = HttpCommunicator(application, method, path, body=body, headers=HEADERS)
    return await communicator.get_response(timeout=10)


def refused_503() -> float:
    value = metrics.REGISTRY.get_sample_value(
        "realtime_refusals_total", {"status": "503", "reason": REASON}
    )
    return value or 0.0


async def test_negotiate_answers_503_with_the_reason(redis_fails):
    response = await request("POST", f"{HUB}/negotiate?negotiateVersion=1")

    assert response["status"] == 503
    assert json.loads(response["body"]) == {"error": REASON}


@pytest.mark.parametrize(("method", "body"), [("GET", b""), ("POST", b"{}\x1e"), ("DELETE", b"")])
async def test_a_poll_a_send_and_a_delete_answer_503_with_the_reason(redis_fails, method, body):
    response = await request(method, f"{HUB}?id=some-token", body)

    assert response["status"] == 503
    assert response["body"] == REASON.encode()


async def test_a_websocket_is_closed_with_try_again_later(redis_fails):
    communicator = WebsocketCommunicator(application, HUB, headers=HEADERS)

    connected, _ = await communicator.connect()

    assert connected  # accepted only to say why: daphne refuses an upgrade with 403 alone
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": outage.TRY_AGAIN_LATER,
    }


async def test_an_outage_logs_one_line_per_interval_and_counts_every_refusal(
    redis_fails, monkeypatch, caplog
):
    counted = refused_503()
    with caplog.at_level(logging.WARNING, logger="realtime"):
        for _ in range(20):
            assert (await request("GET", f"{HUB}?id=some-token"))["status"] == 503
        monkeypatch.setattr(outage._Log, "last", float("-inf"))  # LOG_INTERVAL has passed
        assert (await request("POST", f"{HUB}/negotiate"))["status"] == 503

    lines = [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("refused http /hubs/echo: Redis unavailable (ConnectionError: ")
    assert lines[0].endswith("0 more refused so since the last report")
    assert lines[1].startswith("refused http /hubs/echo/negotiate: Redis unavailable")
    assert lines[1].endswith("19 more refused so since the last report")
    assert refused_503() - counted == 21


async def test_requests_succeed_again_once_redis_answers(redis_fails, monkeypatch):
    assert (await request("POST", f"{HUB}/negotiate?negotiateVersion=1"))["status"] == 503
    monkeypatch.undo()

    response = await request("POST", f"{HUB}/negotiate?negotiateVersion=1")

    assert response["status"] == 200
    token = json.loads(response["body"])["connectionToken"]
    assert (await request("GET", f"{HUB}?id={token}"))["status"] == 200  # the first poll
    assert (await request("DELETE", f"{HUB}?id={token}"))["status"] == 202
