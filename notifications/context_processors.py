"""The unread count in every page's header and title, rendered by the server."""

from django.utils.functional import SimpleLazyObject

from notifications.models import Notification


def unread_notifications(request) -> dict:
    """Add ``unread_count`` (counted only if a template uses it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_count": SimpleLazyObject(lambda: Notification.objects.unread_for(user).count())}
