"""WebSocket requests reach the hub at their path; unknown paths are refused and logged."""

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator

from tests.realtime.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def handshake(path: str, root_path: str = "") -> dict:
    communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"testserver")])
    communicator.scope["root_path"] = root_path
    connected, _ = await communicator.connect()
    assert connected, path
    await communicator.send_to(text_data='{"protocol":"json","version":1}\x1e')
    await communicator.send_to(
        text_data='{"type":1,"invocationId":"1","target":"Add","arguments":[2,3]}\x1e'
    )
    replies = []
    while len(replies) < 2:
        frame = await communicator.receive_from(timeout=5)
        replies += [json.loads(r) for r in frame.split("\x1e") if r and '"type":6' not in r]
    await communicator.disconnect()
    return replies[1]


@pytest.mark.parametrize(
    ("path", "root_path"),
    [("/hubs/echo", ""), ("/hubs/echo/", ""), ("/shop/hubs/echo", "/shop")],
)
async def test_the_hub_at_the_path_answers(path, root_path):
    assert await handshake(path, root_path) == {"type": 3, "invocationId": "1", "result": 5}


@pytest.mark.parametrize("path", ["/hubs/nope", "/hubs/echo/extra", "/hubs/echoes"])
async def test_a_path_without_a_hub_is_refused_with_a_log_line(path, caplog):
    communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"testserver")])
    with caplog.at_level(logging.WARNING, logger="config"):
        connected, _ = await communicator.connect()

    assert not connected
    assert f"refused websocket {path}: no hub at this path" in caplog.text


async def test_an_unknown_scope_type_is_a_clear_error():
    with pytest.raises(ValueError, match="No application configured for scope type 'lifespan'"):
        await application({"type": "lifespan"}, None, None)


def test_the_application_is_a_single_callable_asgi_3_app():
    from asgiref.compatibility import is_double_callable

    assert not is_double_callable(application)
