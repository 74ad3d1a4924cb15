"""Every write to orders, and the one idempotent publish function.

Writes only save rows; ``orders/signals.py`` hands every saved order to
`publish_after_commit`, and ``run_notifier`` sweeps with
`publish_order_change`, so a change that skipped the signal
(``queryset.update()``, a crash, Redis down) is still delivered, once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction

from notifications import services as notifications
from notifications.models import Notification
from orders import events, payloads, reads
from orders.models import Order, OrderEvent
from outbox import take_lease
from realtime import DeliveryError, after_commit

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


#: Rounds of one publish when the order keeps changing while its events go
#: out; after that the newest state waits for the sweep.
MAX_ROUNDS = 3

_SENT, _CHANGED, _FAILED = "sent", "changed", "failed"


@transaction.atomic
def _record(order_id: int) -> tuple[Order | None, list[int]]:
    """Record the order's state as notified and lease it for the publish.

    Return the order when this call won the lease and has events to send
    (else None), and the notifications to publish: a new status notifies the
    customer once, created here, so it exists when the state is recorded and
    never without it. The caller sends them after the order's own events.
    """
    order = reads.locked_order(order_id)
    if order is None:
        return None, []
    fields: list[str] = []
    created: list[Notification] = []
    if order.has_unpublished_changes:
        if order.status_changed_since_notified and order.notified_status:
            status = order.get_status_display()
            created = notifications.send_to_users(
                [order.customer],
                title=f"Order {order.number}: {status}",
                message=order.status_message
                or f"Your order {order.number} is now {status.lower()}.",
                type=Notification.Type.ORDER_UPDATE,
                data={"orderId": str(order.pk), "status": order.status},
                publish=False,
            )
        order.notified_status = order.status
        order.notified_progress = order.progress
        order.notified_message = order.status_message
        order.publish_pending = True
        fields = sorted(PUBLISH_FIELDS - {"claimed_until"})
    won = order.publish_pending and take_lease(order)
    if won:
        fields.append("claimed_until")
    if fields:
        order.save(update_fields=fields)
    return (order if won else None), [n.pk for n in created]


def publish_after_commit(order_id: int) -> None:
    """Publish a saved order's change once the caller's transaction commits.

    Inside a transaction the state is recorded and leased at once, in the
    caller's commit: the events go out right after it, without a commit of
    their own first, and a status's notification commits with the status.
    Should the record fail (its savepoint is rolled back, the caller's
    changes stay), the publish records after the commit instead. Outside
    a transaction the save has committed: it publishes at once, and what
    that raises is logged, not raised into the caller (`after_commit`).
    """
    if not transaction.get_connection().in_atomic_block:
        after_commit(publish_order_change, order_id)
        return
    try:
        recorded = _record(order_id)
    except DatabaseError as exc:
        logger.warning("order %s: recording with the commit failed (%s); after it", order_id, exc)
        after_commit(publish_order_change, order_id)
        return
    after_commit(_publish, order_id, recorded)


def publish_order_change(order_id: int) -> bool:
    """Bring the order's watchers and customer up to date; safe to call any time.

    Return True when live events went out. On failure it logs and leaves the
    order pending for ``run_notifier``; it never raises into a view. A state
    recorded by another publisher while this one sent is sent next.
    """
    return _publish(order_id)


def _publish(order_id: int, recorded: tuple[Order | None, list[int]] | None = None) -> bool:
    """Send what `_record` returned (or records now), for up to MAX_ROUNDS states."""
    sent = False
    for _ in range(MAX_ROUNDS):
        order, created = recorded if recorded is not None else _record(order_id)
        recorded = None
        outcome = _send(order) if order is not None else None
        if created:
            # After the order's events: its page waits for those. (At once
            # here; inside a caller's transaction, when that commits.)
            after_commit(notifications.publish_many, created)
        if outcome in (None, _FAILED):
            return sent
        sent = True
        if outcome == _SENT:
            return True
    return sent


def _send(order: Order) -> str:
    """Send the recorded state of a leased order, then end the lease."""
    group = events.clients().group(events.order_group(order.pk))
    try:
        group.send(events.ORDER_STATUS_UPDATED, *payloads.order_status(order))
        group.send(events.ORDER_PROGRESS_UPDATED, *payloads.order_progress(order))
        if order.is_complete:
            group.send(events.ORDER_COMPLETED, str(order.pk))
    except DeliveryError as exc:
        # The cause is logged where it happened (realtime.context); one line here.
        logger.warning("order %s stays pending: %s", order.pk, exc)
        Order.objects.filter(pk=order.pk).release()
        return _FAILED
    # Done only if nobody recorded a newer state meanwhile (it stays pending).
    sent_state = Order.objects.filter(
        pk=order.pk,
        notified_status=order.notified_status,
        notified_progress=order.notified_progress,
        notified_message=order.notified_message,
    )
    if sent_state.release(publish_pending=False):
        return _SENT
    Order.objects.filter(pk=order.pk).release()
    return _CHANGED


def publish_pending(*, limit: int = 500) -> int:
    """Publish every order with unpublished changes (the worker's sweep)."""
    ids = list(Order.objects.unpublished().order_by("pk").values_list("pk", flat=True)[:limit])
    return sum(publish_order_change(pk) for pk in ids)
