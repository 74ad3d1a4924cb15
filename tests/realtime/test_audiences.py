"""ASP.NET Core's IHubClients audiences, in hubs and through hub_context, over real Redis."""

import pytest

from realtime import hub_context
from realtime.testing import HubError
from tests.realtime.audiences import connected, disconnect_all, heard
from tests.realtime.hubs import HEARD, AudienceHub, EchoHub, GroupOnlyHub

pytestmark = pytest.mark.django_db(transaction=True)


async def test_others_reaches_everyone_but_the_caller():
    clients, ids = await connected(3)

    await clients[0].invoke("ToOthers", "hi")

    assert await heard(clients, ids) == [None, ["others", "hi"], ["others", "hi"]]
    await disconnect_all(clients)


async def test_others_in_group_reaches_the_group_but_the_caller():
    clients, ids = await connected(4)
    for client in clients[:3]:
        await client.invoke("Join", "room")

    await clients[0].invoke("ToOthersInGroup", "room", "hi")

    expected = [None, ["others_in_group", "hi"], ["others_in_group", "hi"], None]
    assert await heard(clients, ids) == expected
    await disconnect_all(clients)


async def test_all_except_leaves_out_the_given_connections():
    clients, ids = await connected(3)

    await clients[0].invoke("ToAllExcept", [ids[1]], "hi")

    assert await heard(clients, ids) == [["all_except", "hi"], None, ["all_except", "hi"]]
    await disconnect_all(clients)


async def test_group_except_reaches_the_rest_of_the_group_only():
    clients, ids = await connected(3)
    await clients[0].invoke("Join", "room")
    await clients[1].invoke("Join", "room")

    await clients[2].invoke("ToGroupExcept", "room", [ids[1]], "hi")

    assert await heard(clients, ids) == [["group_except", "hi"], None, None]
    await disconnect_all(clients)


async def test_clients_reaches_exactly_the_given_connections():
    clients, ids = await connected(3)

    await clients[1].invoke("ToClients", [ids[0], ids[2], ids[2], "no-such-id"], "hi")

    assert await heard(clients, ids) == [["clients", "hi"], None, ["clients", "hi"]]
    await disconnect_all(clients)


async def test_users_reaches_every_connection_of_each_user(customer, other_customer, staff):
    users = [customer, other_customer, staff]
    clients, ids = await connected(3, users=users)

    await clients[2].invoke("ToUsers", [str(customer.pk), str(other_customer.pk)], "hi")

    assert await heard(clients, ids) == [["users", "hi"], ["users", "hi"], None]
    await disconnect_all(clients)


async def test_hub_context_has_the_same_audiences():
    clients, ids = await connected(3)
    await clients[0].invoke("Join", "room")
    await clients[2].invoke("Join", "room")
    context = hub_context(AudienceHub)

    await context.all_except([ids[0]]).asend(HEARD, "all_except", "x")
    assert await heard(clients, ids) == [None, ["all_except", "x"], ["all_except", "x"]]
    await context.group_except("room", [ids[2]]).asend(HEARD, "group_except", "x")
    assert await heard(clients, ids) == [["group_except", "x"], None, None]
    await context.clients([ids[1], ids[2]]).asend(HEARD, "clients", "x")
    assert await heard(clients, ids) == [None, ["clients", "x"], ["clients", "x"]]
    await disconnect_all(clients)


def test_hub_wide_audiences_stay_off_unless_the_hub_opts_in():
    context = hub_context(EchoHub)

    for audience in (lambda: context.all, lambda: context.all_except(["a"])):
        with pytest.raises(PermissionError, match="allow_broadcast_to_all"):
            audience()
    assert context.group_except("room", ["a"]) is not None
    assert context.clients(["a"]) is not None


async def test_a_hub_without_opt_in_cannot_reach_others():
    clients, ids = await connected(2, hub=GroupOnlyHub)

    for target, arguments in (("ToOthers", ("hi",)), ("ToAllExcept", ([ids[1]], "hi"))):
        with pytest.raises(HubError, match="An unexpected error occurred invoking"):
            await clients[0].invoke(target, *arguments)
    assert await heard(clients, ids, GroupOnlyHub) == [None, None]
    await disconnect_all(clients)
