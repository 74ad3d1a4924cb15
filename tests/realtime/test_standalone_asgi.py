"""The ASGI application of docs/realtime.md routes hubs and Django side by side."""

import json

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from tests.realtime.standalone.asgi import application

HOST = [(b"host", b"testserver")]

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_hub_negotiates_at_its_path():
    communicator = HttpCommunicator(
        application, "POST", "/hubs/echo/negotiate?negotiateVersion=1", headers=HOST
    )
    response = await communicator.get_response(timeout=10)

    assert response["status"] == 200
    transports = [t["transport"] for t in json.loads(response["body"])["availableTransports"]]
    assert transports == ["WebSockets", "ServerSentEvents", "LongPolling"]


async def test_a_websocket_speaks_signalr_at_a_hub_path():
    communicator = WebsocketCommunicator(application, "/hubs/echo", headers=HOST)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    await communicator.send_to(text_data='{"protocol":"json","version":1}\x1e')

    assert await communicator.receive_from(timeout=10) == "{}\x1e"
    await communicator.disconnect()


async def test_a_websocket_without_a_hub_is_closed():
    communicator = WebsocketCommunicator(application, "/hubs/nowhere", headers=HOST)
    connected, _ = await communicator.connect(timeout=10)

    assert not connected


async def test_other_paths_go_to_django():
    communicator = HttpCommunicator(application, "GET", "/no-such-page", headers=HOST)
    response = await communicator.get_response(timeout=10)

    assert response["status"] == 404
