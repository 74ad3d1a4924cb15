"""OrderHub: only an order's owner (or staff) may watch it."""

import pytest
from channels.db import database_sync_to_async

from orders import services
from orders.hubs import OrderHub
from orders.models import Order
from realtime.testing import HubCommunicator, HubError
from tests.factories import make_order

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user) -> HubCommunicator:
    client = HubCommunicator(OrderHub, user=user)
    assert await client.connect() == {}
    return client


def test_exposed_targets():
    assert {m.target for m in OrderHub.methods.values()} == {
        "SubscribeToOrder",
        "UnsubscribeFromOrder",
    }


async def test_anonymous_connections_are_refused():
    with pytest.raises(ConnectionRefusedError):
        await HubCommunicator(OrderHub).connect()


async def test_owner_subscribes_gets_current_state_and_live_changes(customer, staff):
    order = await database_sync_to_async(make_order)(customer, progress=10)
    client = await connect(customer)
    # The seed's clients pass the id as a string; both forms work.
    assert await client.invoke("SubscribeToOrder", str(order.pk)) is None
    assert await client.receive_event("OrderStatusUpdated") == [str(order.pk), "pending", ""]
    assert await client.receive_event("OrderProgressUpdated") == [str(order.pk), 10]
    await database_sync_to_async(services.change_status)(
        order, status=Order.Status.SHIPPED, message="On its way", progress=60, actor=staff
    )
    assert await client.receive_event("OrderStatusUpdated") == [
        str(order.pk),
        "shipped",
        "On its way",
    ]
    assert await client.receive_event("OrderProgressUpdated") == [str(order.pk), 60]
    await database_sync_to_async(services.change_status)(
        order, status=Order.Status.DELIVERED, actor=staff
    )
    assert await client.receive_event("OrderCompleted") == [str(order.pk)]
    await client.disconnect()


@pytest.mark.parametrize("order_id", ["other", "missing", "not-a-number"])
async def test_others_cannot_watch_an_order(customer, other_customer, order_id):
    order = await database_sync_to_async(make_order)(other_customer)
    client = await connect(customer)
    argument = {"other": order.pk, "missing": order.pk + 999, "not-a-number": "abc"}[order_id]
    with pytest.raises(HubError) as refused:
        await client.invoke("SubscribeToOrder", argument)
    expected = (
        "must be an integer" if order_id == "not-a-number" else "Not authorized to view this order"
    )
    assert expected in str(refused.value)
    await client.disconnect()


async def test_staff_may_watch_any_order(customer, staff):
    order = await database_sync_to_async(make_order)(customer)
    client = await connect(staff)
    assert await client.invoke("SubscribeToOrder", order.pk) is None
    assert (await client.receive_event("OrderStatusUpdated"))[0] == str(order.pk)
    await client.disconnect()


async def test_unsubscribed_clients_hear_nothing_more(customer, staff):
    order = await database_sync_to_async(make_order)(customer)
    client, watcher = await connect(customer), await connect(staff)
    for subscriber in (client, watcher):
        await subscriber.invoke("SubscribeToOrder", order.pk)
        assert (await subscriber.receive_event("OrderStatusUpdated"))[1] == "pending"
    await client.invoke("UnsubscribeFromOrder", order.pk)
    await database_sync_to_async(services.change_status)(
        order, status=Order.Status.PROCESSING, actor=staff
    )
    # The positive control: the change went out, to the one still watching.
    assert (await watcher.receive_event("OrderStatusUpdated"))[1] == "processing"
    assert await client.receive_nothing(timeout=0.5)
    await client.disconnect()
    await watcher.disconnect()
