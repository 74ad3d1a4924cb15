"""Every write to orders, and the one idempotent publish function.

Writes only save rows; ``orders/signals.py`` schedules
``publish_order_change(pk)`` after commit for every saved order, and
``run_notifier`` sweeps with the same function, so a change that skipped the
signal (``queryset.update()``, a crash, Redis down) is still delivered, once.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

from notifications import services as notifications
from notifications.models import Notification
from orders import events, payloads
from orders.models import Order, OrderEvent
from realtime import DeliveryError

logger = logging.getLogger(__name__)

#: Fields only the publisher writes; saving just these publishes nothing.
PUBLISH_FIELDS = frozenset(
    {"notified_status", "notified_progress", "notified_message", "publish_pending", "claimed_until"}
)


@transaction.atomic
def change_status(
    order: Order,
    *,
    status: str,
    message: str = "",
    progress: int | None = None,
    actor: Any = None,
) -> Order:
    """Move an order to `status` (and optionally a progress), with a history row."""
    if status not in Order.Status.values:
        raise ValueError(f"unknown order status {status!r}")
    order.status, order.status_message = status, message
    if progress is not None:
        order.progress = progress
    elif status == Order.Status.DELIVERED:
        order.progress = 100
    order.save(update_fields=["status", "status_message", "progress", "updated_at"])
    OrderEvent.objects.create(
        order=order, status=status, progress=order.progress, message=message, actor=actor
    )
    return order


@transaction.atomic
def save_order(order: Order, *, changed: list[str], actor: Any = None) -> Order:
    """Save an order edited in the admin; record history when its state changed."""
    order.save()
    if {"status", "progress", "status_message"} & set(changed):
        OrderEvent.objects.create(
            order=order,
            status=order.status,
            progress=order.progress,
            message=order.status_message,
            actor=actor,
        )
    return order


@transaction.atomic
def _record(order_id: int) -> tuple[Order | None, list[int]]:
    """Record the order's state as notified; notify the customer of a new status once.

    The notification is created through the notification service in this
    transaction, so it exists when the state is recorded, and never without
    it. Return the order and the notifications to publish: the caller sends
    them after the order's own events (the sweep sends any it does not).
    """
    order = Order.objects.select_for_update().select_related("customer").filter(pk=order_id).first()
    if order is None or not order.has_unpublished_changes:
        return order, []
    created = []
    if order.status_changed_since_notified and order.notified_status:
        status = order.get_status_display()
        created = notifications.send_to_users(
            [order.customer],
            title=f"Order {order.number}: {status}",
            message=order.status_message or f"Your order {order.number} is now {status.lower()}.",
            type=Notification.Type.ORDER_UPDATE,
            data={"orderId": str(order.pk), "status": order.status},
            publish=False,
        )
    order.notified_status = order.status
    order.notified_progress = order.progress
    order.notified_message = order.status_message
    order.publish_pending = True
    order.save(update_fields=[*sorted(PUBLISH_FIELDS - {"claimed_until"})])
    return order, [n.pk for n in created]


def publish_order_change(order_id: int) -> bool:
    """Bring the order's watchers and customer up to date; safe to call any time.

    Return True when live events went out. On failure it logs and leaves the
    order pending for ``run_notifier``; it never raises into a view.
    """
    order, created = _record(order_id)
    published = order is not None and order.publish_pending and _publish(order_id)
    if created:
        # After the order's events: its page waits for those. (At once here;
        # inside a caller's transaction, when that commits.)
        transaction.on_commit(partial(notifications.publish_many, created), robust=True)
    return published


def _publish(order_id: int) -> bool:
    if not Order.objects.filter(pk=order_id, publish_pending=True).claim():
        return False
    order = Order.objects.get(pk=order_id)
    group = events.clients().group(events.order_group(order.pk))
    try:
        group.send(events.ORDER_STATUS_UPDATED, *payloads.order_status(order))
        group.send(events.ORDER_PROGRESS_UPDATED, *payloads.order_progress(order))
        if order.is_complete:
            group.send(events.ORDER_COMPLETED, str(order.pk))
    except DeliveryError as exc:
        # The cause is logged where it happened (realtime.context); one line here.
        logger.warning("order %s stays pending: %s", order_id, exc)
        Order.objects.filter(pk=order_id).release()
        return False
    Order.objects.filter(pk=order_id).release(publish_pending=False)
    return True


def publish_pending(*, limit: int = 500) -> int:
    """Publish every order with unpublished changes (the worker's sweep)."""
    ids = list(Order.objects.unpublished().order_by("pk").values_list("pk", flat=True)[:limit])
    return sum(publish_order_change(pk) for pk in ids)
