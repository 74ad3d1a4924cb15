"""The order hub's address and client event names (shared by hub and services)."""

from realtime import hub_context

HUB = "orders"

ORDER_STATUS_UPDATED = "OrderStatusUpdated"
ORDER_PROGRESS_UPDATED = "OrderProgressUpdated"
ORDER_COMPLETED = "OrderCompleted"
CLIENT_EVENTS = frozenset({ORDER_STATUS_UPDATED, ORDER_PROGRESS_UPDATED, ORDER_COMPLETED})


def order_group(order_id: int) -> str:
    """The group of connections watching one order."""
    return f"order:{order_id}"


def clients():
    """Audiences of the order hub, for services and the worker."""
    return hub_context(HUB)
