"""The hub's per-connection reads, compiled once (realtime.PreparedQuery).

The rules stay the QuerySets of notifications.models; a test holds these
reads equal to them for every audience and kind of user.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef

from notifications.models import Notification, Topic
from realtime import PreparedQuery

_TOPIC = PreparedQuery(
    lambda is_staff, user_id, slug: (
        Topic.objects.subscribable_to(user_id, is_staff=is_staff)
        .filter(slug=slug)
        .annotate(
            subscribed=Exists(
                Topic.subscribers.through.objects.filter(topic=OuterRef("pk"), user=user_id)
            )
        )
        .values_list("pk", "subscribed")[:1]
    ),
    user_id=PreparedQuery.STAND_IN_ID,
    slug=PreparedQuery.STAND_IN_TEXT,
)
_SUBSCRIBED_SLUGS = PreparedQuery(
    lambda is_staff, user_id: (
        Topic.objects.subscribable_to(user_id, is_staff=is_staff)
        .filter(subscribers=user_id)
        .values_list("slug")
    ),
    user_id=PreparedQuery.STAND_IN_ID,
)
_UNREAD = PreparedQuery(
    lambda _, user_id: (
        Notification.objects.unread_for(user_id)
        .order_by()
        .values("recipient")
        .annotate(unread=Count("pk"))
        .values_list("unread")
    ),
    user_id=PreparedQuery.STAND_IN_ID,
)


def subscribable_topic(user: Any, slug: str) -> tuple[int, bool] | None:
    """Return (topic id, whether `user` is subscribed) if `user` may subscribe to `slug`."""
    if not user.is_authenticated:
        return None
    rows = _TOPIC.rows(bool(user.is_staff), user_id=user.pk, slug=slug)
    return (rows[0][0], bool(rows[0][1])) if rows else None


def subscribed_slugs(user: Any) -> list[str]:
    """Slugs of the topics `user` subscribed to and may still see."""
    # DISTINCT with the topics' ordering also selects the ordering column.
    return [row[0] for row in _SUBSCRIBED_SLUGS.rows(bool(user.is_staff), user_id=user.pk)]


def unread_count(user: Any) -> int:
    """How many of `user`'s notifications are unread."""
    rows = _UNREAD.rows(user_id=user.pk)
    return rows[0][0] if rows else 0
