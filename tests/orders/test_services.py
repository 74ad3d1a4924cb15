"""The one publish gate: saved order changes reach watchers and the customer once."""

import pytest
from django.db import transaction

from notifications.models import Notification
from orders import services
from orders.models import Order, OrderEvent
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
