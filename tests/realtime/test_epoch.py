"""The registry epoch: sends refuse a registry that may be incomplete, and live
processes rebuild theirs as soon as Redis answers again (real Redis)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from redis.exceptions import ConnectionError as RedisConnectionError

from notifications.hubs import NotificationHub
from orders.hubs import OrderHub
from realtime import DeliveryError, conf, epoch, hub_context, redis_pool, shards, store
from realtime.keys import index_key
from realtime.lifetime.running import get_backplane
from realtime.testing import HubCommunicator, flush_redis, group_processes
from tests.factories import make_notification, make_order

SETTLE = conf.get().REGISTRY_SETTLE


async def flush() -> None:
    """Redis loses everything, as after a restart without persistence."""
    await flush_redis()


async def test_a_missing_epoch_is_created_and_refuses_sends_until_settled():
    await flush()
    assert await epoch.route_groups(["g"], SETTLE) is None
    shard = shards.shard_of(store.group_key("g"), shards.count())  # the group's shard
    created = await shards.every()[shard].get(store.key("epoch"))
    assert created is not None
    assert await epoch.route_connections(["c"], SETTLE) is None
    assert (await epoch.current())[shard][0] == created.decode()  # the same epoch, not a new one
    await epoch.reset(age=SETTLE)
    assert await epoch.route_groups(["g"], SETTLE) == [[]]
    assert await epoch.route_connections(["c"], SETTLE) == [""]


async def test_a_settled_epoch_routes_many_groups_in_one_call_and_prunes_dead_processes():
    await epoch.reset(age=SETTLE)
    await store.heartbeat("proc-a", 60)
    await store.add_to_groups(["g1", "g2"], "proc-a")
    await store.add_to_group("g2", "proc-dead")
    assert await epoch.route_groups(["g1", "g2", "g3"], SETTLE) == [["proc-a"], ["proc-a"], []]
    assert await group_processes("g2") == {b"proc-a"}


async def test_a_process_rebuilding_its_registry_holds_sends_back_until_it_is_done():
    await epoch.reset(age=SETTLE)
    await epoch.hold("proc-a", 60)
    assert await epoch.route_groups(["g"], SETTLE) is None
    assert await epoch.route_connections(["c"], SETTLE) is None
    await epoch.release("proc-a")
    assert await epoch.route_groups(["g"], SETTLE) == [[]]


async def test_the_hold_of_a_process_that_died_mid_rebuild_ends_by_itself():
    await epoch.reset(age=SETTLE)
    await epoch.hold("proc-dead", 1)
    assert await epoch.route_groups(["g"], SETTLE) is None
    await asyncio.sleep(1.1)
    assert await epoch.route_groups(["g"], SETTLE) == [[]]


async def test_deliver_refuses_while_the_epoch_is_young_and_counts_no_members_as_success_after():
    await flush()
    with pytest.raises(DeliveryError, match="registry is being rebuilt"):
        await hub_context("orders").group("order:1").asend("OrderStatusUpdated", "1", "x", "")
    with pytest.raises(DeliveryError, match="registry is being rebuilt"):
        await hub_context("orders").connection("nobody").asend("Ping")
    await epoch.reset(age=SETTLE)
    assert await hub_context("orders").group("order:1").asend("OrderStatusUpdated", "1") == 0
    assert await hub_context("orders").connection("nobody").asend("Ping") == 0


def test_registry_settle_must_cover_two_checks():
    with pytest.raises(Exception, match="REGISTRY_SETTLE"):
        conf.load({"REGISTRY_CHECK_INTERVAL": 1.0, "REGISTRY_SETTLE": 1.5})
    assert conf.load({"REGISTRY_CHECK_INTERVAL": 1.0, "REGISTRY_SETTLE": 2}).REGISTRY_SETTLE == 2.0


@pytest.mark.django_db(transaction=True)
async def test_a_flushed_registry_is_rebuilt_and_open_connections_resync(customer):
    order = await database_sync_to_async(make_order)(customer=customer, status="processing")
    await database_sync_to_async(make_notification)(customer)
    notifications = HubCommunicator(NotificationHub, user=customer)
    orders = HubCommunicator(OrderHub, user=customer)
    assert await notifications.connect() == {}
    assert await orders.connect() == {}
    assert await notifications.receive_event("UnreadCountUpdated") == [1]
    await orders.invoke("SubscribeToOrder", order.pk)
    assert (await orders.receive_event("OrderStatusUpdated"))[1] == "processing"
    backplane = await get_backplane()
    members = {c.presence_member for c in backplane.connections.values()}
    assert await backplane.check_registry() is False  # nothing changed

    await flush()
    # Changed while the registry was gone: what the clients must learn.
    await database_sync_to_async(make_notification)(customer)
    await database_sync_to_async(type(order).objects.filter(pk=order.pk).update)(status="shipped")
    idle = list(redis_pool.client().connection_pool._available_connections)
    assert await backplane.check_registry() is True
    # A new epoch: the server may have restarted, its old connections are closed.
    assert idle
    assert not any(connection.is_connected for connection in idle)

    groups = list(backplane.groups)
    assert len(groups) == 3  # user:<id> on each hub, and the order
    assert await epoch.route_groups(groups, 0.0) == [[backplane.channel]] * len(groups)
    assert await store.is_alive(backplane.channel)
    assert set(await store.connections_of(str(customer.pk))) == members
    for connection in backplane.connections.values():
        assert await store.owner_of(connection.connection_id) == backplane.channel
    # Its index too: registry entry, connection id owner, presence entry of each.
    index = [await redis.scard(index_key(backplane.channel)) for redis in shards.every()]
    assert sum(index) == 3 * len(backplane.connections)
    assert await notifications.receive_event("Resync") == []
    assert await notifications.receive_event("UnreadCountUpdated") == [2]
    status = await orders.receive_event("OrderStatusUpdated")
    assert status[:2] == [str(order.pk), "shipped"]
    # Sends wait for the epoch to settle, then reach the rebuilt registry.
    with pytest.raises(DeliveryError):
        await hub_context("orders").group(f"order:{order.pk}").asend("Probe")
    await asyncio.sleep(SETTLE)
    assert await hub_context("orders").group(f"order:{order.pk}").asend("Probe") == 1
    assert await orders.receive_event("Probe") == []
    assert await backplane.check_registry() is False
    await notifications.disconnect()
    await orders.disconnect()


async def test_a_failed_refresh_is_retried_at_the_next_sweep(monkeypatch):
    backplane = await get_backplane()
    calls = []

    async def failing() -> None:
        calls.append(1)
        raise RedisConnectionError("Connection closed by server")

    monkeypatch.setattr(backplane, "register_everything", failing)
    for _ in range(2):
        with pytest.raises(RedisConnectionError):
            await backplane.sweep_once()
    assert len(calls) == 2


async def test_tools_on_a_fresh_redis_can_wait_for_the_epoch_to_settle():
    await flush()
    assert await epoch.wait_settled(0.3, timeout=5) is True
    assert await epoch.route_groups(["g"], 0.3) == [[]]
