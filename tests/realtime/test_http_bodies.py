"""The hub routes' ASGI side: identify first, then read at most MAX_MESSAGE_SIZE.

For servers that pass bodies through as they arrive (uvicorn, hypercorn);
daphne's own early refusal is in tests/e2e/test_request_bodies.py.
"""

import pytest
from asgiref.testing import ApplicationCommunicator

from tests.realtime.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def post_scope(path: str, query: bytes, headers: list | None = None) -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query,
        "headers": [(b"host", b"testserver"), *(headers or [])],
    }


async def response_of(communicator: ApplicationCommunicator) -> tuple[int, bytes]:
    start = await communicator.receive_output(timeout=5)
    body = await communicator.receive_output(timeout=5)
    return start["status"], body["body"]


async def test_an_anonymous_send_is_refused_before_its_body_is_read():
    communicator = ApplicationCommunicator(application, post_scope("/hubs/orders", b"id=x"))
    await communicator.send_input({"type": "http.request", "body": b"x" * 1000, "more_body": True})

    # Answered while the client is still sending.
    assert await response_of(communicator) == (401, b"anonymous user on an authenticated hub")


@pytest.mark.parametrize("path", ["/hubs/echo", "/hubs/echo/negotiate"])
async def test_a_declared_body_over_the_limit_is_refused_at_once(path):
    headers = [(b"content-length", str(100 * 1024 * 1024).encode())]
    communicator = ApplicationCommunicator(application, post_scope(path, b"id=x", headers))
    await communicator.send_input({"type": "http.request", "body": b"x" * 1000, "more_body": True})

    status, _ = await response_of(communicator)

    assert status == 413


async def test_a_streamed_send_is_refused_once_past_the_limit():
    communicator = ApplicationCommunicator(application, post_scope("/hubs/echo/negotiate", b""))
    for _ in range(2):
        await communicator.send_input(
            {"type": "http.request", "body": b"x" * 20_000, "more_body": True}
        )

    assert (await response_of(communicator))[0] == 413
