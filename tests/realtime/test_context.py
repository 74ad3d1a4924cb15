"""hub_context: every audience reaches exactly its connections, over real Redis.

What a client heard is read with a marker sent after the send under test
(``tests.realtime.audiences.heard``), so silence is checked against a
message that did arrive.
"""

import asyncio

import pytest

from realtime import hub_context
from tests.realtime.audiences import connected, disconnect_all, heard
from tests.realtime.hubs import HEARD, AudienceHub, EchoHub

pytestmark = pytest.mark.django_db(transaction=True)

context = hub_context(AudienceHub)


async def test_group_reaches_its_members_only():
    clients, ids = await connected(3)
    for client in clients[:2]:
        await client.invoke("Join", "room")

    assert await context.group("room").asend(HEARD, "group", "x") == 1  # one process

    assert await heard(clients, ids) == [["group", "x"], ["group", "x"], None]
    await disconnect_all(clients)


async def test_groups_reach_a_member_of_several_once():
    clients, ids = await connected(3)
    await clients[0].invoke("Join", "a")
    await clients[0].invoke("Join", "b")
    await clients[1].invoke("Join", "b")

    await context.groups(["a", "b"]).asend(HEARD, "groups", "x")

    assert await heard(clients, ids) == [["groups", "x"], ["groups", "x"], None]
    await disconnect_all(clients)


async def test_user_and_users_reach_every_connection_of_those_users(
    customer, other_customer, staff
):
    users = [customer, customer, other_customer, staff]
    clients, ids = await connected(4, users=users)

    await context.user(customer.pk).asend(HEARD, "user", "x")
    assert await heard(clients, ids) == [["user", "x"], ["user", "x"], None, None]
    await context.users([other_customer.pk, staff.pk]).asend(HEARD, "users", "x")
    assert await heard(clients, ids) == [None, None, ["users", "x"], ["users", "x"]]
    await disconnect_all(clients)


async def test_connection_reaches_one_connection():
    clients, ids = await connected(3)

    await context.connection(ids[1]).asend(HEARD, "connection", "x")

    assert await heard(clients, ids) == [None, ["connection", "x"], None]
    await disconnect_all(clients)


async def test_all_reaches_every_connection_of_the_hub_only():
    clients, ids = await connected(2)
    bystander = (await connected(1, hub=EchoHub))[0][0]
    await bystander.invoke("Join", "room")

    await context.all.asend(HEARD, "all", "x")

    assert await heard(clients, ids) == [["all", "x"], ["all", "x"]]
    # The positive control: the bystander's first event is its own hub's send.
    await hub_context(EchoHub).group("room").asend("Shouted", "room", "echo")
    assert await bystander.receive_event("Shouted") == ["room", "echo"]
    assert bystander.events == []
    await disconnect_all([*clients, bystander])


async def test_a_group_name_is_namespaced_by_hub():
    """EchoHub's "room" is another group than AudienceHub's "room"."""
    clients, ids = await connected(2)
    await clients[0].invoke("Join", "room")
    echo = (await connected(1, hub=EchoHub))[0][0]
    await echo.invoke("Join", "room")

    await context.group("room").asend(HEARD, "group", "x")

    assert await heard(clients, ids) == [["group", "x"], None]
    # The positive control for the other hub: its own group send arrives first.
    await hub_context(EchoHub).group("room").asend("Shouted", "room", "echo")
    assert await echo.receive_event("Shouted") == ["room", "echo"]
    assert echo.events == []
    await disconnect_all([*clients, echo])


async def test_sync_send_from_a_thread_reaches_the_group():
    """Views, signals and workers send with the sync twin."""
    clients, ids = await connected(2)
    await clients[1].invoke("Join", "room")

    reached = await asyncio.to_thread(context.group("room").send, HEARD, "sync", "x")

    assert reached == 1
    assert await heard(clients, ids) == [None, ["sync", "x"]]
    await disconnect_all(clients)


async def test_a_send_to_an_empty_group_reaches_no_process_and_raises_nothing():
    clients, ids = await connected(1)

    assert await context.group("nobody-here").asend(HEARD, "group", "x") == 0

    assert await heard(clients, ids) == [None]
    await disconnect_all(clients)


async def test_remove_users_from_group_takes_their_connections_out(customer, staff):
    clients, ids = await connected(3, users=[customer, customer, staff])
    for client in clients:
        await client.invoke("Join", "room")

    told = await asyncio.to_thread(context.remove_users_from_group, "room", [customer.pk])
    await context.group("room").asend(HEARD, "group", "x")

    assert told == 1
    assert await heard(clients, ids) == [None, None, ["group", "x"]]
    await disconnect_all(clients)
