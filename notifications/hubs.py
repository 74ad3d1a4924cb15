"""NotificationHub at /hubs/notifications: the seed's hub, authorised for real."""

from channels.db import database_sync_to_async

from notifications import events, payloads, reads, services
from notifications.events import RESYNC, STAFF_GROUP, UNREAD_COUNT_UPDATED, topic_group
from notifications.models import Notification
from realtime import AuthenticatedHub, HubException, presence

MAX_PAGE = 50


@database_sync_to_async
def _subscriptions_and_unread(user) -> tuple[list[str], int]:
    # One trip to the database thread for both reads of a connect.
    return reads.subscribed_slugs(user), reads.unread_count(user)


class NotificationHub(AuthenticatedHub):
    """Live notifications. Every connection is in its user's group (``user:<id>``)."""

    namespace = events.HUB
    client_events = events.CLIENT_EVENTS

    async def on_connected(self) -> None:
        if self.user.is_staff:
            await self.groups.add(STAFF_GROUP)
        slugs, unread = await _subscriptions_and_unread(self.user)
        for slug in slugs:
            await self.groups.add(topic_group(slug))
        await self.clients.caller.send(UNREAD_COUNT_UPDATED, unread)

    async def on_resync(self) -> None:
        """Events may have been lost: send the unread count, and ask for a catch-up.

        Only the client knows the newest notification it holds, so it pulls
        what it missed with GetNotifications(afterId) rather than the server
        sending every recent notification again.
        """
        await self.clients.caller.send(RESYNC)
        unread = await Notification.objects.unread_for(self.user).acount()
        await self.clients.caller.send(UNREAD_COUNT_UPDATED, unread)

    async def mark_as_read(self, notification_id: int) -> None:
        """Mark one of the caller's notifications read; every tab of the user hears it."""
        marked = await database_sync_to_async(services.mark_as_read)(
            user=self.user, notification_id=notification_id
        )
        if not marked:
            raise HubException("Notification not found")

    async def mark_all_as_read(self) -> int:
        """Mark every notification of the caller read; return how many changed."""
        return await database_sync_to_async(services.mark_all_as_read)(user=self.user)

    async def subscribe_to_topic(self, topic: str) -> None:
        """Join a topic the caller may see (the topic's access rule decides)."""
        subscribed = await database_sync_to_async(services.subscribe)(user=self.user, slug=topic)
        if not subscribed:
            raise HubException("Not authorized for this topic")
        await self.groups.add(topic_group(topic))

    async def unsubscribe_from_topic(self, topic: str) -> None:
        """Leave a topic."""
        await database_sync_to_async(services.unsubscribe)(user=self.user, slug=topic)
        await self.groups.discard(topic_group(topic))

    async def get_notifications(self, after_id: int | None = None, limit: int = 20) -> list[dict]:
        """Return the caller's notifications newer than `after_id` (catch-up after reconnect)."""
        if not 1 <= limit <= MAX_PAGE:
            raise HubException(f"limit must be between 1 and {MAX_PAGE}")
        rows = Notification.objects.for_user(self.user)
        if after_id is not None:
            rows = rows.filter(pk__gt=after_id).order_by("pk")
        return [payloads.notification(n) async for n in rows[:limit]]

    async def get_online_count(self) -> int:
        """Return how many users are online on any instance (staff only)."""
        if not self.user.is_staff:
            raise HubException("Only staff may see who is online")
        return len(await presence.online_users())
