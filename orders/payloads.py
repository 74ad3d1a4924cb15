"""The arguments of every order client event, built in one place.

Ids travel as strings: the seed's clients compare ``id === orderId`` with the
id they rendered into the page.
"""

from orders.models import Order


def order_status(order: Order) -> tuple[str, str, str]:
    """``OrderStatusUpdated(orderId, status, message)``."""
    return str(order.pk), order.status, order.status_message


def order_progress(order: Order) -> tuple[str, int]:
    """``OrderProgressUpdated(orderId, progressPercent)``."""
    return str(order.pk), order.progress


def order_state(order: Order) -> dict:
    """The JSON state of an order page (the 30 s polling fallback)."""
    return {
        "id": str(order.pk),
        "number": order.number,
        "status": order.status,
        "statusLabel": order.get_status_display(),
        "message": order.status_message,
        "progress": order.progress,
        "isComplete": order.is_complete,
        "updatedAt": order.updated_at.isoformat(),
    }
