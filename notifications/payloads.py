"""The arguments of every notification client event, built in one place."""

from notifications.models import Notification


def notification(n: Notification) -> dict:
    """``ReceiveNotification(message)``: the seed's NotificationMessage, camelCase."""
    return {
        "id": str(n.pk),
        "title": n.title,
        "message": n.message,
        "type": n.type,
        "data": n.data,
        "createdAt": n.created_at.isoformat(),
        "isRead": n.is_read,
    }
