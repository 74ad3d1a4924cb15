"""The one publish gate: saved order changes reach watchers and the customer once."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.models import Notification
from orders import services
from orders.models import Order, OrderEvent
from realtime import DeliveryError
from realtime.context import ClientProxy
from realtime.groups import user_group
from realtime.testing import EventListener
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_change_status_records_history_and_publishes_after_commit(
    customer, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        with django_capture_on_commit_callbacks(execute=True):
            services.change_status(
                order, status=Order.Status.SHIPPED, message="Left the warehouse", actor=staff
            )
        assert events.wait_for("OrderStatusUpdated") == [
            [str(order.pk), "shipped", "Left the warehouse"]
        ]
    order.refresh_from_db()
    assert (order.notified_status, order.publish_pending) == ("shipped", False)
    assert OrderEvent.objects.get(order=order).actor == staff
    notification = Notification.objects.get(recipient=customer)
    assert notification.type == Notification.Type.ORDER_UPDATE
    assert notification.data == {"orderId": str(order.pk), "status": "shipped"}


def test_delivered_orders_complete(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        with django_capture_on_commit_callbacks(execute=True):
            services.change_status(order, status=Order.Status.DELIVERED)
        assert events.wait_for("OrderCompleted") == [[str(order.pk)]]
        assert events.wait_for("OrderProgressUpdated") == [[str(order.pk), 100]]


def test_rolled_back_changes_publish_nothing(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)

    def change_then_fail():
        with transaction.atomic():
            services.change_status(order, status=Order.Status.CANCELLED)
            raise RuntimeError("rollback")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        change_then_fail()
    assert callbacks == []
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    # What the publish recorded in the transaction went with it.
    assert (order.notified_status, order.claimed_until) == (Order.Status.PENDING, None)
    assert not Notification.objects.filter(recipient=customer).exists()


def test_unknown_status_is_refused(customer):
    order = make_order(customer)
    with pytest.raises(ValueError, match="unknown order status"):
        services.change_status(order, status="lost")


def test_publishing_twice_notifies_the_customer_once(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(order, status=Order.Status.PROCESSING)
    services.publish_order_change(order.pk)
    services.publish_order_change(order.pk)
    assert Notification.objects.filter(recipient=customer).count() == 1


def test_saving_only_publisher_fields_schedules_nothing(
    customer, django_capture_on_commit_callbacks
):
    order = make_order(customer)
    with django_capture_on_commit_callbacks() as callbacks:
        order.save(update_fields=["publish_pending"])
    assert callbacks == []
    # The positive control: a field the customer sees does schedule the publish.
    with django_capture_on_commit_callbacks() as callbacks:
        order.save(update_fields=["status_message"])
    assert len(callbacks) == 1


def test_the_status_notification_waits_for_the_callers_commit(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED, publish_pending=True)
    # Inside a transaction (as here, a test's): the order's events go out,
    # the customer's notification is created and waits for the commit.
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.publish_order_change(order.pk)
    note = Notification.objects.get(recipient=customer)
    assert note.published_at is None
    assert len(callbacks) == 1
    with EventListener("notifications", [user_group(customer.pk)]) as events:
        callbacks[0]()
        assert [args[0]["id"] for args in events.wait_for("ReceiveNotification")] == [str(note.pk)]
    note.refresh_from_db()
    assert note.published_at is not None


def test_an_order_event_that_fails_leaves_the_order_pending_and_still_notifies(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED, publish_pending=True)
    fail_orders = mock.patch.object(
        ClientProxy, "send", autospec=True, side_effect=_fail_order_groups
    )
    with fail_orders, django_capture_on_commit_callbacks(execute=True):
        assert not services.publish_order_change(order.pk)
    order.refresh_from_db()
    assert order.publish_pending
    assert Notification.objects.get(recipient=customer).published_at is not None
    # The sweep delivers the order's events later, and notifies only once.
    assert services.publish_pending() == 1
    assert Notification.objects.filter(recipient=customer).count() == 1


_real_send = ClientProxy.send


def _fail_order_groups(proxy, target, *arguments):
    if target.startswith("Order"):
        raise DeliveryError("Redis is down")
    return _real_send(proxy, target, *arguments)


def test_a_change_committed_while_the_previous_one_is_sent_is_not_lost(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(order, status=Order.Status.PROCESSING)
    late = {"done": False}

    def change_meanwhile(proxy, target, *arguments):
        # Another request commits SHIPPED while PROCESSING goes out; its own
        # publish finds the order leased by this one.
        if not late["done"]:
            late["done"] = True
            with django_capture_on_commit_callbacks(execute=True):
                services.change_status(Order.objects.get(pk=order.pk), status=Order.Status.SHIPPED)
        return _real_send(proxy, target, *arguments)

    with EventListener("orders", [f"order:{order.pk}"]) as events:
        Order.objects.filter(pk=order.pk).update(status_message="Packed", publish_pending=True)
        with mock.patch.object(ClientProxy, "send", autospec=True, side_effect=change_meanwhile):
            services.publish_order_change(order.pk)
        services.publish_pending()  # the sweep, for whatever is still pending
        statuses = [args[1] for args in events.wait_for("OrderStatusUpdated", count=2)]
    assert statuses[-1] == "shipped"
    assert not Order.objects.unpublished().filter(pk=order.pk).exists()


def test_a_change_in_a_transaction_commits_its_recorded_state_and_notification_with_it(
    customer, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with django_capture_on_commit_callbacks() as callbacks:
        services.change_status(order, status=Order.Status.SHIPPED, message="On its way")
    # Before the commit's callbacks: recorded, leased and notified in the change's commit.
    row = Order.objects.get(pk=order.pk)
    assert (row.notified_status, row.notified_message) == ("shipped", "On its way")
    assert row.publish_pending
    assert row.claimed_until is not None
    assert Notification.objects.filter(recipient=customer).count() == 1
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        # After the commit: the events, then one write (the lease's release);
        # no recording transaction first. The notification's publish follows.
        with (
            django_capture_on_commit_callbacks(execute=True) as after,
            django_assert_num_queries(1),
        ):
            callbacks[0]()
        assert len(after) == 1
        assert events.wait_for("OrderStatusUpdated") == [[str(order.pk), "shipped", "On its way"]]
    row.refresh_from_db()
    assert (row.publish_pending, row.claimed_until) == (False, None)
    assert Notification.objects.get(recipient=customer).published_at is not None


def test_two_changes_in_one_transaction_end_on_the_newest_state(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            services.change_status(order, status=Order.Status.PROCESSING)
            services.change_status(order, status=Order.Status.SHIPPED)
        statuses = [args[1] for args in events.wait_for("OrderStatusUpdated", count=2)]
    assert statuses == ["processing", "shipped"]
    assert not Order.objects.unpublished().filter(pk=order.pk).exists()
    assert Order.objects.get(pk=order.pk).claimed_until is None
    # One notification per status the history holds, each published.
    notes = Notification.objects.filter(recipient=customer).order_by("pk")
    assert [n.data["status"] for n in notes] == ["processing", "shipped"]
    assert all(n.published_at is not None for n in notes)


def test_a_change_whose_process_died_before_the_send_goes_out_when_its_lease_ends(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(customer)
    with django_capture_on_commit_callbacks() as callbacks:
        services.change_status(order, status=Order.Status.SHIPPED)
    assert len(callbacks) == 1  # never run: the process died after the commit
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        assert services.publish_pending() == 0  # leased: no second sender meanwhile
        Order.objects.filter(pk=order.pk).update(
            claimed_until=timezone.now() - timedelta(seconds=1)
        )
        assert services.publish_pending() == 1
        assert events.wait_for("OrderStatusUpdated") == [[str(order.pk), "shipped", ""]]
    assert not Order.objects.unpublished().filter(pk=order.pk).exists()
    assert Notification.objects.filter(recipient=customer).count() == 1
