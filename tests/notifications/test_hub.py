"""NotificationHub over the real WebSocket transport and a real Redis."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from notifications import events, services
from notifications.hubs import NotificationHub
from notifications.models import Notification, Topic
from realtime.testing import HubCommunicator, HubError
from tests.factories import make_notification, make_topic

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user) -> HubCommunicator:
    client = HubCommunicator(NotificationHub, user=user)
    assert await client.connect() == {}
    return client


def test_exposed_targets():
    assert {m.target for m in NotificationHub.methods.values()} == {
        "MarkAsRead",
        "MarkAllAsRead",
        "SubscribeToTopic",
        "UnsubscribeFromTopic",
        "GetNotifications",
        "GetOnlineCount",
    }


async def test_anonymous_connections_are_refused():
    with pytest.raises(ConnectionRefusedError):
        await HubCommunicator(NotificationHub).connect()


async def test_connect_sends_the_unread_count(customer):
    await database_sync_to_async(make_notification)(customer)
    await database_sync_to_async(make_notification)(customer)
    client = await connect(customer)
    assert await client.receive_event("UnreadCountUpdated") == [2]
    await client.disconnect()


async def test_mark_as_read_reaches_every_tab_of_the_user(customer):
    note = await database_sync_to_async(make_notification)(customer)
    first, second = await connect(customer), await connect(customer)
    for tab in (first, second):
        assert await tab.receive_event("UnreadCountUpdated") == [1]
    assert await first.invoke("MarkAsRead", note.pk) is None
    for tab in (first, second):
        assert await tab.receive_event("NotificationRead") == [str(note.pk)]
        assert await tab.receive_event("UnreadCountUpdated") == [0]
    await first.disconnect()
    await second.disconnect()


@pytest.mark.parametrize("whose", ["other", "missing"])
async def test_mark_as_read_refuses_notifications_that_are_not_the_callers(
    customer, other_customer, whose
):
    note = await database_sync_to_async(make_notification)(other_customer)
    client = await connect(customer)
    target = note.pk if whose == "other" else note.pk + 1000
    with pytest.raises(HubError, match="Notification not found"):
        await client.invoke("MarkAsRead", target)
    assert await Notification.objects.filter(pk=note.pk, read_at__isnull=True).aexists()
    await client.disconnect()


@pytest.mark.parametrize("argument", ["abc", None, [1], 1.5])
async def test_mark_as_read_rejects_wrong_argument_types(customer, argument):
    client = await connect(customer)
    with pytest.raises(HubError, match="Argument 'notification_id' must be an integer"):
        await client.invoke("MarkAsRead", argument)
    await client.disconnect()


async def test_mark_all_as_read(customer):
    for _ in range(3):
        await database_sync_to_async(make_notification)(customer)
    client = await connect(customer)
    assert await client.invoke("MarkAllAsRead") == 3
    assert not await Notification.objects.unread_for(customer).aexists()
    await client.disconnect()


@pytest.mark.parametrize(
    ("audience", "who", "allowed"),
    [
        (Topic.Audience.EVERYONE, "customer", True),
        (Topic.Audience.STAFF, "customer", False),
        (Topic.Audience.STAFF, "staff", True),
        (Topic.Audience.LISTED, "customer", False),
    ],
)
async def test_topic_subscriptions_follow_the_topic_rule(customer, staff, audience, who, allowed):
    await database_sync_to_async(make_topic)("news", audience)
    client = await connect(customer if who == "customer" else staff)
    if allowed:
        assert await client.invoke("SubscribeToTopic", "news") is None
    else:
        with pytest.raises(HubError, match="Not authorized for this topic"):
            await client.invoke("SubscribeToTopic", "news")
    await client.disconnect()


async def test_resubscribing_after_unsubscribing_checks_the_topic_rule_again(customer):
    topic = await database_sync_to_async(make_topic)("news")
    await database_sync_to_async(topic.subscribers.add)(customer)
    client = await connect(customer)
    assert await client.invoke("UnsubscribeFromTopic", "news") is None
    topic.audience = Topic.Audience.STAFF
    await database_sync_to_async(topic.save)()
    with pytest.raises(HubError, match="Not authorized for this topic"):
        await client.invoke("SubscribeToTopic", "news")
    await client.disconnect()


async def test_unknown_topic_is_refused(customer):
    client = await connect(customer)
    with pytest.raises(HubError, match="Not authorized for this topic"):
        await client.invoke("SubscribeToTopic", "nope")
    await client.disconnect()


async def test_listed_users_may_subscribe(customer):
    topic = await database_sync_to_async(make_topic)("vip", Topic.Audience.LISTED)
    await database_sync_to_async(topic.members.add)(customer)
    client = await connect(customer)
    assert await client.invoke("SubscribeToTopic", "vip") is None
    await client.disconnect()


async def test_catch_up_after_a_missed_event_matches_a_client_that_stayed(customer):
    """A client that missed events and calls GetNotifications ends in the same state."""
    seen = await database_sync_to_async(make_notification)(customer, title="old")
    stayed = await connect(customer)
    await stayed.receive_event("UnreadCountUpdated")
    with_live = await database_sync_to_async(services.send_to_user)(customer, title="new")
    live = await stayed.receive_event("ReceiveNotification")
    caught_up = await connect(customer)
    missed = await caught_up.invoke("GetNotifications", str(seen.pk), 10)
    assert [n["id"] for n in missed] == [str(with_live.pk)]
    assert missed[0] == live[0]
    await stayed.disconnect()
    await caught_up.disconnect()


async def test_get_notifications_limits(customer):
    client = await connect(customer)
    with pytest.raises(HubError, match="limit must be between 1 and 50"):
        await client.invoke("GetNotifications", None, 500)
    await client.disconnect()


async def test_online_count_is_for_staff_only(customer, staff):
    watcher, shopper = await connect(staff), await connect(customer)
    assert await watcher.invoke("GetOnlineCount") >= 2
    with pytest.raises(HubError, match="Only staff may see who is online"):
        await shopper.invoke("GetOnlineCount")
    await watcher.disconnect()
    await shopper.disconnect()


async def test_a_narrowed_audience_removes_live_members_from_the_topic_group(customer, staff):
    """Live connections outside the new audience leave the topic's group on every instance."""
    topic = await database_sync_to_async(make_topic)("news")
    outside, inside = await connect(customer), await connect(staff)
    for client in (outside, inside):
        await client.receive_event("UnreadCountUpdated")
        assert await client.invoke("SubscribeToTopic", "news") is None

    topic.audience = Topic.Audience.STAFF
    await topic.asave()
    await database_sync_to_async(services.apply_topic_audience)(topic)
    await events.clients().group(events.topic_group("news")).asend("TopicNews", "staff only")

    assert await inside.receive_event("TopicNews") == ["staff only"]
    assert await outside.receive_nothing(timeout=1)
    await outside.disconnect()
    await inside.disconnect()


async def test_a_resubscribe_after_a_narrowed_audience_is_refused(customer):
    """Out of the group by the audience change, the connection is checked again."""
    topic = await database_sync_to_async(make_topic)("news")
    await database_sync_to_async(topic.subscribers.add)(customer)
    client = await connect(customer)
    await client.receive_event("UnreadCountUpdated")
    topic.audience = Topic.Audience.STAFF
    await topic.asave()
    await database_sync_to_async(services.apply_topic_audience)(topic)
    # The removal crosses the channel layer: until it arrives the connection
    # is still a member, and a re-subscribe changes nothing.
    refusal = None
    for _ in range(100):
        try:
            await client.invoke("SubscribeToTopic", "news")
        except HubError as exc:
            refusal = str(exc)
            break
        await asyncio.sleep(0.1)
    assert refusal is not None, "the re-subscribe was never checked against the rule again"
    assert "Not authorized for this topic" in refusal
    await client.disconnect()
