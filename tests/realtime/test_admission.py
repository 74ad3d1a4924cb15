"""Admission: each transport request identifies its caller and looks up its connection once."""

from __future__ import annotations

import json

import pytest
from channels.routing import URLRouter
from channels.testing import HttpCommunicator

from realtime import registry
from realtime.routing import http_routes
from tests.realtime.hubs import EchoHub

HUB = "/hubs/echo"
application = URLRouter(http_routes({HUB.lstrip("/"): EchoHub}))


async def request(method: str, path: str, body: bytes = b"") -> dict:
    communicator = HttpCommunicator(
        application, method, path, body=body, headers=[(b"host", b"testserver")]
    )
    return await communicator.get_response(timeout=10)


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Record every registry lookup, passing each on to the real registry."""
    seen: list[str] = []
    real = registry.lookup

    async def counted(token: str) -> registry.Registration | None:
        seen.append(token)
        return await real(token)

    monkeypatch.setattr(registry, "lookup", counted)
    return seen


async def negotiate() -> str:
    response = await request("POST", f"{HUB}/negotiate?negotiateVersion=1")
    assert response["status"] == 200, response["body"]
    return json.loads(response["body"])["connectionToken"]


@pytest.mark.django_db(transaction=True)
async def test_the_first_long_poll_looks_up_its_connection_once(lookups):
    token = await negotiate()
    lookups.clear()

    opened = await request("GET", f"{HUB}?id={token}")

    assert opened["status"] == 200, opened["body"]
    assert lookups == [token]
    lookups.clear()
    ended = await request("DELETE", f"{HUB}?id={token}")
    assert ended["status"] == 202, ended["body"]
    assert lookups == [token]


@pytest.mark.django_db(transaction=True)
async def test_a_send_before_the_first_poll_looks_up_its_connection_once(lookups):
    token = await negotiate()
    lookups.clear()

    sent = await request("POST", f"{HUB}?id={token}", b'{"protocol":"json","version":1}\x1e')

    assert sent["status"] == 200, sent["body"]
    assert lookups == [token]


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        (HUB, 400, b"Connection ID required"),
        (f"{HUB}?id=unknown-token", 404, b"No Connection with that ID"),
    ],
)
@pytest.mark.django_db(transaction=True)
async def test_a_poll_without_a_known_connection_is_refused(lookups, path, status, reason):
    response = await request("GET", path)

    assert (response["status"], response["body"]) == (status, reason)
    assert len(lookups) == (1 if "?id=" in path else 0)
