"""OrderHub at /hubs/orders: live order tracking for the order's owner (and staff)."""

from typing import Any

from orders import events, payloads
from orders.models import Order
from realtime import AuthenticatedHub, HubException


class OrderHub(AuthenticatedHub):
    """Customers watch their own orders; staff may watch any."""

    namespace = events.HUB
    client_events = events.CLIENT_EVENTS

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._watched: set[int] = set()

    async def subscribe_to_order(self, order_id: int) -> None:
        """Join the order's group and receive its current state at once."""
        try:
            order = await Order.objects.visible_to(self.user).aget(pk=order_id)
        except Order.DoesNotExist:
            raise HubException("Not authorized to view this order") from None
        await self.groups.add(events.order_group(order.pk))
        self._watched.add(order.pk)
        await self._send_state(order)

    async def _send_state(self, order: Order) -> None:
        await self.clients.caller.send(events.ORDER_STATUS_UPDATED, *payloads.order_status(order))
        await self.clients.caller.send(
            events.ORDER_PROGRESS_UPDATED, *payloads.order_progress(order)
        )

    async def unsubscribe_from_order(self, order_id: int) -> None:
        """Leave the order's group."""
        await self.groups.discard(events.order_group(order_id))
        self._watched.discard(order_id)

    async def on_resync(self) -> None:
        """Events may have been lost: send every watched order's current state."""
        async for order in Order.objects.visible_to(self.user).filter(pk__in=self._watched):
            await self._send_state(order)
