"""Hub method exposure, argument binding and error mapping, over the real transport."""

import pytest

from realtime.hub import pascal_case
from realtime.testing import HubCommunicator, HubError
from tests.realtime.hubs import EchoHub, SecureHub

pytestmark = pytest.mark.django_db(transaction=True)


def test_exposed_targets_are_exactly_the_public_async_methods():
    assert {m.target for m in EchoHub.methods.values()} == {
        "Echo",
        "Add",
        "Refuse",
        "Crash",
        "NotifyMe",
        "Join",
        "Leave",
        "Shout",
        "Whoami",
        "Counter",
        "FailingStream",
        "Legacy_Name",
    }


@pytest.mark.parametrize(
    ("name", "target"),
    [("mark_as_read", "MarkAsRead"), ("get_notifications", "GetNotifications"), ("x", "X")],
)
def test_pascal_case(name, target):
    assert pascal_case(name) == target


async def test_invoke_returns_result_and_matches_targets_case_insensitively():
    client = HubCommunicator(EchoHub)
    assert await client.connect() == {}
    assert await client.invoke("Add", 2, 3) == 5
    assert await client.invoke("add", "4", 1) == 5  # decimal strings bind to int
    assert await client.invoke("Legacy_Name") == "renamed"
    await client.disconnect()


@pytest.mark.parametrize(
    ("target", "arguments", "error"),
    [
        ("Add", [1], "Invocation provides 1 argument(s) but target expects 2."),
        ("Add", [1, 2, 3], "Invocation provides 3 argument(s) but target expects 2."),
        ("Add", ["x", 1], "Argument 'a' must be an integer, got str."),
        ("Add", [True, 1], "Argument 'a' must be an integer, got bool."),
        ("Add", ["\u0661", 1], "Argument 'a' must be an integer, got str."),  # Arabic-Indic 1
        ("Add", ["\uff14", 1], "Argument 'a' must be an integer, got str."),  # fullwidth 4
        ("Missing", [], "Unknown hub method 'Missing'"),
        ("NotExposed", [], "Unknown hub method 'NotExposed'"),
        ("_private", [], "Unknown hub method '_private'"),
        ("Counter", [3], "without using StreamInvocation"),
    ],
)
async def test_bad_invocations_get_an_error_completion_and_the_connection_stays_up(
    target, arguments, error
):
    client = HubCommunicator(EchoHub)
    await client.connect()
    with pytest.raises(HubError, match=None) as raised:
        await client.invoke(target, *arguments)
    assert error in str(raised.value)
    assert await client.invoke("Echo", "still here") == "still here"
    await client.disconnect()


async def test_hub_exception_message_reaches_the_caller_but_other_errors_do_not_leak():
    client = HubCommunicator(EchoHub)
    await client.connect()
    with pytest.raises(HubError) as refused:
        await client.invoke("Refuse", "Not authorized for this topic")
    assert str(refused.value) == (
        "An unexpected error occurred invoking 'Refuse' on the server. "
        "HubException: Not authorized for this topic"
    )
    with pytest.raises(HubError) as crashed:
        await client.invoke("Crash")
    assert str(crashed.value) == "An unexpected error occurred invoking 'Crash' on the server."
    assert "internal detail" not in str(crashed.value)
    await client.disconnect()


async def test_streams_items_then_completes():
    client = HubCommunicator(EchoHub)
    await client.connect()
    assert await client.stream("Counter", 4) == [0, 1, 2, 3]
    with pytest.raises(HubError, match="stream refused"):
        await client.stream("FailingStream")
    await client.disconnect()


async def test_group_broadcast_reaches_members_only():
    member, outsider = HubCommunicator(EchoHub), HubCommunicator(EchoHub)
    await member.connect()
    await outsider.connect()
    await member.invoke("Join", "room")
    await outsider.invoke("Shout", "room", "hello")
    assert await member.receive_event("Shouted") == ["room", "hello"]
    await member.invoke("Leave", "room")
    await outsider.invoke("Shout", "room", "again")
    assert await member.receive_nothing(timeout=0.5)
    # The positive control: back in the room, the next shout is the first heard.
    await member.invoke("Join", "room")
    await outsider.invoke("Shout", "room", "third")
    assert await member.receive_event("Shouted") == ["room", "third"]
    await member.disconnect()
    await outsider.disconnect()


async def test_authenticated_hub_refuses_anonymous_connections():
    client = HubCommunicator(SecureHub)
    with pytest.raises(ConnectionRefusedError):
        await client.connect()


async def test_authenticated_hub_knows_its_user(customer):
    client = HubCommunicator(SecureHub, user=customer)
    await client.connect()
    assert await client.invoke("Whoami") == "alice"
    await client.disconnect()


async def test_unknown_protocol_gets_a_handshake_error():
    client = HubCommunicator(EchoHub)
    assert "not supported" in (await client.connect(protocol="xml"))["error"]
