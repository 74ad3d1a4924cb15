"""Client-to-server streams (``streamIds``), over the real WebSocket transport."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime.hub import upload_item_type
from realtime.lifetime.running import get_backplane
from realtime.testing import RS
from tests.realtime.hubs import ResultHub
from tests.realtime.test_client_results import Client, client_id

pytestmark = pytest.mark.django_db(transaction=True)


async def upload(client: Client, stream_id: str, *items: object, error: str | None = None) -> None:
    for item in items:
        await client.send(type=2, invocationId=stream_id, item=item)
    if error is None:
        await client.send(type=3, invocationId=stream_id)
    else:
        await client.send(type=3, invocationId=stream_id, error=error)


def test_async_iterator_parameters_are_uploads():
    method = ResultHub.find_method("Collect")
    assert method.uploads == frozenset({"items"})
    assert ResultHub.find_method("SumUpload").uploads == frozenset({"numbers"})
    assert ResultHub.find_method("AskCaller").uploads == frozenset()
    assert upload_item_type(int) is None


async def test_an_invocation_reads_its_upload_to_the_end():
    client = await Client().connect()
    await client.send(type=1, invocationId="1", target="SumUpload", arguments=[], streamIds=["0"])
    await upload(client, "0", 1, 2, "3", 4)  # items bind to the item type: "3" -> 3
    assert (await client.completion("1"))["result"] == 10
    await client.hub.disconnect()


async def test_uploads_sit_among_ordinary_arguments_and_may_be_untyped():
    client = await Client().connect()
    await client.send(
        type=1, invocationId="1", target="Collect", arguments=["label"], streamIds=["7"]
    )
    await upload(client, "7", {"a": 1}, [2], None)
    assert (await client.completion("1"))["result"] == ["label", {"a": 1}, [2], None]
    await client.hub.disconnect()


async def test_a_streaming_method_may_read_an_upload():
    client = await Client().connect()
    await client.send(type=4, invocationId="1", target="Upper", arguments=[], streamIds=["2"])
    await upload(client, "2", "a", "b")
    items = []
    while True:
        message = await client.next(2, timeout=5) if len(items) < 2 else None
        if message is None:
            break
        items.append(message["item"])
    assert items == ["A", "B"]
    assert "error" not in await client.completion("1")
    await client.hub.disconnect()


async def test_a_client_error_raises_in_the_hubs_loop():
    client = await Client().connect()
    await client.send(type=1, invocationId="1", target="SumUpload", arguments=[], streamIds=["0"])
    await upload(client, "0", 1, error="camera unplugged")
    assert (await client.completion("1"))["error"] == (
        "An unexpected error occurred invoking 'SumUpload' on the server. "
        "HubException: camera unplugged"
    )
    await client.hub.disconnect()


async def test_an_item_of_the_wrong_type_ends_the_stream_with_a_binding_error():
    client = await Client().connect()
    await client.send(type=1, invocationId="1", target="SumUpload", arguments=[], streamIds=["0"])
    await upload(client, "0", 1, "x", 3)
    assert (await client.completion("1"))["error"] == (
        "An unexpected error occurred invoking 'SumUpload' on the server. HubException: "
        "Failed to bind Stream message. Item must be an integer, got str."
    )
    await client.invoke("2", "Whoami")  # the items after the failure were passed over
    assert (await client.completion("2"))["result"]
    await client.hub.disconnect()


@pytest.mark.parametrize(
    ("target", "stream_ids", "error"),
    [
        ("SumUpload", [], "Client sent 0 stream(s), Hub method expects 1."),
        ("Whoami", ["0"], "Client sent 1 stream(s), Hub method expects 0."),
        ("SumUpload", ["0", "1"], "Client sent 2 stream(s), Hub method expects 1."),
    ],
)
async def test_streams_that_do_not_fit_the_method_are_refused_as_aspnetcore_words_it(
    target, stream_ids, error
):
    client = await Client().connect()
    await client.send(type=1, invocationId="1", target=target, arguments=[], streamIds=stream_ids)
    completion = await client.completion("1")
    assert completion["error"] == (
        f"An unexpected error occurred invoking '{target}' on the server. HubException: {error}"
    )
    for stream_id in stream_ids:  # what the client still sends is passed over
        await upload(client, stream_id, 1)
    await client.invoke("2", "Whoami")
    assert (await client.completion("2"))["result"]
    await client.hub.disconnect()


async def test_open_upload_streams_are_bounded_per_connection(settings):
    settings.REALTIME = {"MAX_UPLOAD_STREAMS": 2}
    client = await Client().connect()
    for n in range(3):
        await client.send(
            type=1, invocationId=str(n), target="SumUpload", arguments=[], streamIds=[f"s{n}"]
        )
    assert (await client.completion("2"))["error"].endswith(
        "HubException: A connection may have at most 2 upload streams open."
    )
    await upload(client, "s0", 5)
    assert (await client.completion("0"))["result"] == 5
    await upload(client, "s1", 6)
    assert (await client.completion("1"))["result"] == 6
    await client.hub.disconnect()


async def test_an_upload_holds_at_most_upload_buffer_items(settings):
    """Back-pressure: the reader waits for the hub instead of buffering everything."""
    settings.REALTIME = {"UPLOAD_BUFFER": 3}
    client = await Client().connect()
    await client.send(type=1, invocationId="1", target="SlowSum", arguments=[], streamIds=["0"])
    await upload(client, "0", *range(20))
    result = (await client.completion("1", timeout=10))["result"]
    assert result["total"] == sum(range(20))
    assert 2 <= result["most_buffered"] <= 3  # filled up to the bound, never past it
    await client.hub.disconnect()


async def test_an_unknown_stream_id_is_a_protocol_error():
    client = await Client().connect()
    await client.send(type=2, invocationId="never-opened", item=1)
    close = await client.next(7)
    assert "Unexpected StreamItem for invocation id 'never-opened'" in close["error"]
    await client.hub.disconnect()


async def test_cancelling_a_stream_ends_the_hub_method_reading_an_upload():
    ResultHub.upload_endings.clear()
    client = await Client().connect()
    await client.send(type=4, invocationId="1", target="Hold", arguments=[], streamIds=["0"])
    await client.send(type=2, invocationId="0", item="x")
    await client.send(type=5, invocationId="1")
    await upload(client, "0", "after")  # passed over: the stream ended
    await client.invoke("2", "Whoami")
    assert (await client.completion("2"))["result"]
    assert ResultHub.upload_endings == ["cancelled"]
    await client.hub.disconnect()


async def test_an_upload_the_client_never_completes_ends_with_the_connection():
    ResultHub.upload_endings.clear()
    client = await Client().connect()
    await client.send(type=4, invocationId="1", target="Hold", arguments=[], streamIds=["0"])
    await client.send(type=2, invocationId="0", item=2)
    assert (await client.next(2))["item"] == 2
    await client.hub.disconnect()
    for _ in range(100):
        if ResultHub.upload_endings:
            break
        await asyncio.sleep(0.02)
    assert ResultHub.upload_endings == ["cancelled"]


async def test_sends_waiting_behind_a_full_upload_are_bounded(settings):
    """A POSTed body is answered before it is handled: a client that outruns the
    hub is closed once 32 messages' worth wait, instead of growing memory."""
    settings.REALTIME = {"UPLOAD_BUFFER": 1}
    client = await Client().connect()
    await client.send(type=1, invocationId="1", target="SlowSum", arguments=[], streamIds=["0"])
    connection_id = await client_id(client)
    connection = (await get_backplane()).connections[connection_id]
    item = (json.dumps({"type": 2, "invocationId": "0", "item": 1}) + RS).encode()
    body = item * (30_000 // len(item))  # one POST: many items, under 32 KiB
    for _ in range(40):  # as the backplane hands over POSTs that arrive meanwhile
        connection.feed_soon(body)
    close = await client.next(7)
    assert close["error"] == (
        "Connection closed with an error. Too many messages are waiting for the server; slow down."
    )
    await client.hub.disconnect()
