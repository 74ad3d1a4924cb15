"""Persist first, publish after commit; a failed publish stays pending."""

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from notifications import services
from notifications.models import Notification, Topic
from realtime.groups import user_group
from realtime.testing import EventListener
from tests.factories import make_notification, make_topic

pytestmark = pytest.mark.django_db


def test_send_to_user_persists_then_publishes_after_commit(
    customer, django_capture_on_commit_callbacks
):
    with EventListener("notifications", [user_group(customer.pk)]) as events:
        with django_capture_on_commit_callbacks() as callbacks:
            note = services.send_to_user(customer, title="Hi", message="There")
            assert Notification.objects.filter(pk=note.pk).exists()
            assert events.events == []  # nothing before commit
        assert len(callbacks) == 1
        callbacks[0]()
        (payload,) = events.wait_for("ReceiveNotification")[0]
        assert payload["id"] == str(note.pk)
        assert payload["title"] == "Hi"
        assert events.wait_for("UnreadCountUpdated") == [[1]]
    note.refresh_from_db()
    assert note.published_at is not None


def test_nothing_is_published_when_the_transaction_rolls_back(
    customer, django_capture_on_commit_callbacks
):
    def send_then_fail():
        with transaction.atomic():
            services.send_to_user(customer, title="Never")
            raise RuntimeError("rollback")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        send_then_fail()
    assert callbacks == []
    assert not Notification.objects.exists()


def test_a_failed_publish_stays_pending_and_the_worker_delivers_it_once(
    customer, django_capture_on_commit_callbacks
):
    with (
        mock.patch(
            "realtime.epoch.route_groups", side_effect=RedisConnectionError("Redis is down")
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        note = services.send_to_user(customer, title="Queued")
    note.refresh_from_db()
    assert note.published_at is None
    assert note.claimed_until is None

    with EventListener("notifications", [user_group(customer.pk)]) as events:
        call_command("run_notifier", "--once")
        call_command("run_notifier", "--once")
        received = events.wait_for("ReceiveNotification")
        assert [args[0]["id"] for args in received] == [str(note.pk)]
    note.refresh_from_db()
    assert note.published_at is not None


def test_broadcast_to_topic_persists_one_row_per_subscriber(
    customer, other_customer, staff, django_capture_on_commit_callbacks
):
    topic = make_topic("deals")
    topic.subscribers.add(customer, other_customer)
    with django_capture_on_commit_callbacks(execute=True):
        rows = services.broadcast_to_topic(topic, title="Sale")
    assert sorted(n.recipient_id for n in rows) == sorted([customer.pk, other_customer.pk])
    assert all(n.type == Notification.Type.ANNOUNCEMENT for n in rows)


@pytest.mark.parametrize(
    ("audience", "listed", "reached"),
    [
        (Topic.Audience.EVERYONE, [], {"alice", "bob", "sam"}),
        (Topic.Audience.STAFF, [], {"sam"}),
        (Topic.Audience.LISTED, ["bob"], {"bob"}),
    ],
)
def test_broadcast_to_topic_reaches_only_subscribers_the_audience_admits_now(
    customer, other_customer, staff, audience, listed, reached, django_capture_on_commit_callbacks
):
    """Subscribed while the topic was open; the audience changed since: checked at send time."""
    topic = make_topic("deals")
    topic.subscribers.add(customer, other_customer, staff)
    topic.audience = audience
    topic.save()
    topic.members.set(get_user_model().objects.filter(username__in=listed))

    with django_capture_on_commit_callbacks(execute=True):
        rows = services.broadcast_to_topic(topic, title="STAFF ONLY")

    assert {n.recipient.username for n in rows} == reached


def test_the_audience_rule_is_the_same_for_subscribing_and_sending(customer, staff):
    for audience in Topic.Audience.values:
        topic = make_topic(f"t-{audience}", audience=audience)
        topic.members.add(customer)
        for user in (customer, staff):
            subscribable = Topic.objects.subscribable_by(user).filter(pk=topic.pk).exists()
            admitted = get_user_model().objects.filter(topic.admits(), pk=user.pk).exists()
            assert subscribable == admitted, (audience, user)


def test_applying_an_audience_unsubscribes_those_it_no_longer_admits(customer, staff):
    topic = make_topic("deals")
    topic.subscribers.add(customer, staff)
    topic.audience = Topic.Audience.STAFF
    topic.save()

    assert services.apply_topic_audience(topic) == 1
    assert list(topic.subscribers.all()) == [staff]
    assert not services.subscribe(user=customer, slug="deals")


def test_send_to_staff_reaches_only_staff(customer, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rows = services.send_to_group("staff", title="Deploy at noon")
    assert [n.recipient_id for n in rows] == [staff.pk]


def test_send_to_an_unknown_group_is_refused(customer):
    with pytest.raises(ValueError, match="unknown notification group"):
        services.send_to_group("everyone", title="No")


def test_mark_as_read_tells_every_connection_of_the_user(
    customer, django_capture_on_commit_callbacks
):
    note = make_notification(customer)
    with EventListener("notifications", [user_group(customer.pk)]) as events:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.mark_as_read(user=customer, notification_id=note.pk)
        assert events.wait_for("NotificationRead") == [[str(note.pk)]]
        assert events.wait_for("UnreadCountUpdated") == [[0]]


def test_mark_as_read_refuses_someone_elses_notification(customer, other_customer):
    note = make_notification(other_customer)
    assert not services.mark_as_read(user=customer, notification_id=note.pk)
    note.refresh_from_db()
    assert note.read_at is None


def test_subscribing_adds_the_row_once_and_a_resubscribe_is_one_read(
    customer, staff, django_assert_num_queries
):
    topic = make_topic("deals")
    make_topic("ops", audience=Topic.Audience.STAFF).subscribers.add(staff)

    assert services.subscribe(user=customer, slug="deals")
    assert list(topic.subscribers.all()) == [customer]
    # Pages re-subscribe on every reconnect: the rule and the row in one query.
    with django_assert_num_queries(1):
        assert services.subscribe(user=customer, slug="deals")
    assert topic.subscribers.count() == 1
    # Another user's subscription to a topic is not the caller's.
    assert not services.subscribe(user=customer, slug="ops")
    assert services.subscribe(user=staff, slug="deals")
    assert set(topic.subscribers.all()) == {customer, staff}
