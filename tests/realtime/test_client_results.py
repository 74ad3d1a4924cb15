"""Client results (ASP.NET Core's ``InvokeAsync``), over the real WebSocket transport."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime import ClientResultError, ClientResultTimeout, HubException, hub_context
from realtime.testing import RS, HubCommunicator
from tests.realtime.hubs import AskOnConnectHub, ResultHub

pytestmark = pytest.mark.django_db(transaction=True)


class Client:
    """A raw JSON client: sends frames and reads every message in order."""

    def __init__(self) -> None:
        self.hub = HubCommunicator(ResultHub)
        self._messages: list[dict] = []

    async def connect(self) -> Client:
        assert await self.hub.connect() == {}
        return self

    async def send(self, **message: object) -> None:
        await self.hub.send_raw(json.dumps(message) + RS)

    async def next(self, kind: int, timeout: float = 5) -> dict:
        """Return the next message of type `kind` (others are kept)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, message in enumerate(self._messages):
                if message["type"] == kind:
                    return self._messages.pop(index)
            frame = await self.hub._communicator.receive_from(timeout=deadline - loop.time())
            self._messages += [json.loads(part) for part in frame.split(RS) if part]

    async def invoke(self, invocation_id: str, target: str, *arguments: object) -> None:
        await self.send(type=1, invocationId=invocation_id, target=target, arguments=arguments)

    async def completion(self, invocation_id: str, timeout: float = 5) -> dict:
        message = await self.next(3, timeout)
        assert message["invocationId"] == invocation_id, message
        return message

    async def answer(self, question: dict, **outcome: object) -> None:
        await self.send(type=3, invocationId=question["invocationId"], **outcome)


async def test_a_hub_method_awaits_its_callers_result_without_deadlock():
    """The caller's Completion is read while the invocation waiting for it runs."""
    client = await Client().connect()
    await client.invoke("1", "AskCaller", "colour?")
    question = await client.next(1)
    assert question["target"] == "Ask"
    assert question["arguments"] == ["colour?"]
    assert question["invocationId"]
    await client.answer(question, result={"colour": "blue"})
    completion = await client.completion("1")
    assert completion["result"] == {"result": {"colour": "blue"}}
    await client.hub.disconnect()


async def test_other_invocations_run_while_one_waits_for_the_client():
    client = await Client().connect()
    await client.invoke("1", "AskCaller", "slow?")
    question = await client.next(1)
    await client.invoke("2", "Whoami")
    assert (await client.completion("2"))["result"]
    await client.answer(question, result=7)
    assert (await client.completion("1"))["result"] == {"result": 7}
    await client.hub.disconnect()


async def test_a_client_error_raises_hub_exception_with_its_text():
    client = await Client().connect()
    await client.invoke("1", "AskCaller", "q")
    question = await client.next(1)
    await client.answer(question, error="Error: no handler mood")
    completion = await client.completion("1")
    assert completion["result"] == {"hub_error": "Error: no handler mood"}
    await client.hub.disconnect()


async def test_a_client_that_does_not_answer_times_out_and_a_late_answer_is_passed_over():
    client = await Client().connect()
    await client.invoke("1", "AskCaller", "q", 0.2)
    question = await client.next(1)
    completion = await client.completion("1")
    assert completion["result"] == {
        "timeout": f"Connection '{await client_id(client)}' did not answer 'Ask' within 0.2 s."
    }
    await client.answer(question, result="too late")
    await client.invoke("3", "Whoami")
    assert (await client.completion("3"))["result"]  # still open
    await client.hub.disconnect()


async def client_id(client: Client) -> str:
    await client.invoke("id", "Whoami")
    return (await client.completion("id"))["result"]


async def test_pending_client_results_are_bounded_per_connection(settings):
    settings.REALTIME = {"MAX_PENDING_CLIENT_RESULTS": 2}
    client = await Client().connect()
    await client.invoke("1", "AskCallerTwice")
    questions = [await client.next(1), await client.next(1)]
    for index, question in enumerate(questions):
        await client.answer(question, result=index)
    completion = await client.completion("1")
    connection_id = await client_id(client)
    assert completion["result"] == [
        {"result": 0},
        {"result": 1},
        {"gone": f"Connection '{connection_id}' already has 2 client results pending."},
    ]
    await client.hub.disconnect()


async def test_the_default_timeout_comes_from_the_setting(settings):
    settings.REALTIME = {"CLIENT_RESULT_TIMEOUT": 0.3}
    client = await Client().connect()
    connection_id = await client_id(client)
    with pytest.raises(ClientResultTimeout, match=r"within 0\.3 s"):
        await hub_context(ResultHub).connection(connection_id).ainvoke("Ask", "q")
    await client.hub.disconnect()


async def test_hub_context_ainvoke_returns_the_result_of_a_local_connection():
    client = await Client().connect()
    connection_id = await client_id(client)
    call = asyncio.ensure_future(
        hub_context(ResultHub).connection(connection_id).ainvoke("Ask", 1, 2, timeout=5)
    )
    question = await client.next(1)
    assert question["arguments"] == [1, 2]
    await client.answer(question, result=3)
    assert await call == 3
    await client.hub.disconnect()


async def test_a_sync_invoke_from_another_thread_travels_through_the_channel_layer():
    """Code outside the server (a command): the request and reply cross Redis."""
    client = await Client().connect()
    connection_id = await client_id(client)
    proxy = hub_context(ResultHub).connection(connection_id)
    call = asyncio.ensure_future(asyncio.to_thread(proxy.invoke, "Ask", "sync?", timeout=5))
    question = await client.next(1)
    assert question["arguments"] == ["sync?"]
    await client.answer(question, error="refused by the user")
    with pytest.raises(HubException, match=r"^refused by the user$"):
        await call
    await client.hub.disconnect()


async def test_a_client_that_leaves_while_asked_raises_a_clear_error():
    client = await Client().connect()
    connection_id = await client_id(client)
    call = asyncio.ensure_future(
        hub_context(ResultHub).connection(connection_id).ainvoke("Ask", "q", timeout=5)
    )
    await client.next(1)
    await client.hub.disconnect()
    with pytest.raises(ClientResultError, match=f"^Connection '{connection_id}' disconnected.$"):
        await call


async def test_an_unknown_connection_raises_at_once():
    with pytest.raises(ClientResultError, match=r"^Connection 'nobody' does not exist\.$"):
        await hub_context(ResultHub).connection("nobody").ainvoke("Ask", timeout=5)


async def test_the_sync_invoke_refuses_to_run_inside_an_event_loop():
    with pytest.raises(RuntimeError, match="event loop"):
        hub_context(ResultHub).connection("x").invoke("Ask")


async def test_a_hub_method_may_ask_another_connection():
    asker, answerer = await Client().connect(), await Client().connect()
    await asker.invoke("1", "Ask", await client_id(answerer), "name?")
    question = await answerer.next(1)
    await answerer.answer(question, result="Ada")
    assert (await asker.completion("1"))["result"] == {"result": "Ada"}
    for client in (asker, answerer):
        await client.hub.disconnect()


async def test_on_connected_may_not_ask_its_caller(caplog):
    """The reader that would read the answer runs on_connected (ASP.NET Core refuses too)."""
    client = HubCommunicator(AskOnConnectHub)
    assert await client.connect() == {}
    close = await client.receive_close()
    assert close["error"] == "Connection closed with an error."
    assert "Client results inside OnConnectedAsync Hub methods are not allowed." in caplog.text
    await client.disconnect()
