"""The notification hub's address and client event names.

Shared by the hub and the services without either importing the other.
"""

from realtime import hub_context

HUB = "notifications"

RECEIVE_NOTIFICATION = "ReceiveNotification"
NOTIFICATION_READ = "NotificationRead"
UNREAD_COUNT_UPDATED = "UnreadCountUpdated"
#: Events to this connection may have been lost (Redis restarted empty):
#: call GetNotifications(afterId) as after a reconnect.
RESYNC = "Resync"
CLIENT_EVENTS = frozenset({RECEIVE_NOTIFICATION, NOTIFICATION_READ, UNREAD_COUNT_UPDATED, RESYNC})

STAFF_GROUP = "staff"


def topic_group(slug: str) -> str:
    """The group of a topic's live subscribers."""
    return f"topic:{slug}"


def clients():
    """Audiences of the notification hub, for services and the worker."""
    return hub_context(HUB)
