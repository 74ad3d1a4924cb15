"""Every write with consequences for notifications: persist, commit, publish.

A notification is a row before it is a message. Publishing is scheduled with
``transaction.on_commit`` and is idempotent: a row is claimed under a short
lease, sent, then marked published; a failed send leaves it pending for
``run_notifier``. Delivery is at least once: a process killed after Redis took
the message but before the row was marked sends it again when the lease
ends, and clients drop repeats by notification id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from notifications import events, payloads, reads
from notifications.events import NOTIFICATION_READ, RECEIVE_NOTIFICATION, UNREAD_COUNT_UPDATED
from notifications.models import Notification, Topic
from realtime import DeliveryError, after_commit

logger = logging.getLogger(__name__)


# Sending ------------------------------------------------------------------------


def _schedule(notification_ids: list[int]) -> None:
    after_commit(publish_many, notification_ids)


@transaction.atomic
def send_to_users(
    users: Iterable[Any],
    *,
    title: str,
    message: str = "",
    type: str = Notification.Type.INFO,
    data: dict | None = None,
    topic: Topic | None = None,
    publish: bool = True,
) -> list[Notification]:
    """Persist one notification per user; publish each after commit.

    With `publish` False the caller publishes them (``publish_many``) when
    it chooses; rows it never publishes stay pending for ``run_notifier``.
    """
    rows = [
        Notification(
            recipient=user, title=title, message=message, type=type, data=data or {}, topic=topic
        )
        for user in users
    ]
    created = Notification.objects.bulk_create(rows)
    if publish:
        _schedule([n.pk for n in created])
    return created


def send_to_user(user: Any, *, title: str, message: str = "", **fields: Any) -> Notification:
    """Persist a notification for one user; publish it after commit."""
    return send_to_users([user], title=title, message=message, **fields)[0]


def broadcast_to_topic(
    topic: Topic, *, title: str, message: str = "", **fields: Any
) -> list[Notification]:
    """Notify every subscriber the topic's audience admits now (one row each, live).

    The audience is checked here, at send time: a user who subscribed while
    the topic was open gets nothing once staff restricted it.
    """
    return send_to_users(
        topic.subscribers.filter(topic.admits(), is_active=True).distinct(),
        title=title,
        message=message,
        type=fields.pop("type", Notification.Type.ANNOUNCEMENT),
        topic=topic,
        **fields,
    )


def send_to_group(
    group: str, *, title: str, message: str = "", **fields: Any
) -> list[Notification]:
    """Notify a named audience: staff (``events.STAFF_GROUP``), or "topic:<slug>"."""
    if group == events.STAFF_GROUP:
        users = get_user_model().objects.filter(is_staff=True, is_active=True)
        return send_to_users(users, title=title, message=message, **fields)
    if group.startswith("topic:"):
        topic = Topic.objects.get(slug=group.removeprefix("topic:"))
        return broadcast_to_topic(topic, title=title, message=message, **fields)
    raise ValueError(f"unknown notification group {group!r}")


# Publishing ------------------------------------------------------------------------


def publish_notification(notification_id: int) -> bool:
    """Deliver a pending notification to its recipient's connections, once.

    Return True when this call published it. A failed send is logged and
    the row stays pending for the worker; nothing raises into the caller.
    """
    if not Notification.objects.pending().filter(pk=notification_id).claim():
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    recipient = notification.recipient
    unread = Notification.objects.unread_for(recipient).count()
    user = events.clients().user(recipient.pk)
    try:
        user.send(RECEIVE_NOTIFICATION, payloads.notification(notification))
        user.send(UNREAD_COUNT_UPDATED, unread)
    except DeliveryError as exc:
        # The cause is logged where it happened (realtime.context); one line here.
        logger.warning("notification %s stays pending: %s", notification_id, exc)
        Notification.objects.filter(pk=notification_id).release()
        return False
    Notification.objects.filter(pk=notification_id).release(published_at=timezone.now())
    return True


def publish_many(notification_ids: list[int]) -> int:
    """Publish several notifications; return how many went out."""
    return sum(publish_notification(pk) for pk in notification_ids)


def publish_pending(*, limit: int = 500) -> int:
    """Publish notifications still pending (the worker's sweep)."""
    pending = Notification.objects.pending().claimable().order_by("pk")
    return publish_many(list(pending.values_list("pk", flat=True)[:limit]))


# Reading state -------------------------------------------------------------------


def update_unread_count(user: Any) -> int:
    """Send the user's current unread count to all of the user's connections."""
    count = Notification.objects.unread_for(user).count()
    try:
        events.clients().user(user.pk).send(UNREAD_COUNT_UPDATED, count)
    except DeliveryError:
        logger.warning("unread count for user %s not delivered", user.pk, exc_info=True)
    return count


def _announce_read(user_id: int, notification_ids: list[int]) -> None:
    user = get_user_model().objects.get(pk=user_id)
    context = events.clients().user(user_id)
    try:
        for notification_id in notification_ids:
            context.send(NOTIFICATION_READ, str(notification_id))
    except DeliveryError:
        logger.warning("read receipts for user %s not delivered", user_id, exc_info=True)
    update_unread_count(user)


@transaction.atomic
def mark_as_read(*, user: Any, notification_id: int) -> bool:
    """Mark one of `user`'s notifications read; False if it is not theirs."""
    updated = (
        Notification.objects.unread_for(user)
        .filter(pk=notification_id)
        .update(read_at=timezone.now())
    )
    if not updated and not Notification.objects.for_user(user).filter(pk=notification_id).exists():
        return False
    after_commit(_announce_read, user.pk, [notification_id])
    return True


@transaction.atomic
def mark_all_as_read(*, user: Any) -> int:
    """Mark every unread notification of `user` read; return how many."""
    ids = list(Notification.objects.unread_for(user).values_list("pk", flat=True))
    Notification.objects.filter(pk__in=ids).update(read_at=timezone.now())
    after_commit(_announce_read, user.pk, ids)
    return len(ids)


# Topics ------------------------------------------------------------------------------


def subscribe(*, user: Any, slug: str) -> bool:
    """Subscribe `user` to a topic they may see; False when refused.

    Pages re-subscribe on every (re)connect, so the common case is "already
    subscribed": one read (the access rule and the subscription together),
    no write transaction. `add` is atomic and ignores a row another request
    inserted meanwhile.
    """
    found = reads.subscribable_topic(user, slug)
    if found is None:
        # %.100r: the slug is the client's; repr escapes it, 100 bounds it.
        logger.info("user %s refused topic %.100r", user.pk, slug)
        return False
    topic_id, subscribed = found
    if not subscribed:
        Topic.objects.get(pk=topic_id).subscribers.add(user)
    return True


@transaction.atomic
def apply_topic_audience(topic: Topic) -> int:
    """Unsubscribe the users the topic's audience no longer admits; return how many.

    Run after staff change a topic's audience or members. After commit, their
    live connections leave the topic's group on every instance; a
    re-subscribe is refused by the same rule.
    """
    excluded = topic.subscribers.exclude(pk__in=topic.subscribers.filter(topic.admits()))
    removed = list(excluded.values_list("pk", flat=True))
    topic.subscribers.remove(*removed)
    if removed:
        logger.info("topic %r: unsubscribed %d outside its audience", topic.slug, len(removed))
        after_commit(_leave_topic_group, topic.slug, removed)
    return len(removed)


def _leave_topic_group(slug: str, user_ids: list[int]) -> None:
    try:
        events.clients().remove_users_from_group(events.topic_group(slug), user_ids)
    except DeliveryError as exc:
        # Nothing the app sends goes to topic groups (see broadcast_to_topic).
        logger.warning("topic %r: live members not removed: %s", slug, exc)


@transaction.atomic
def unsubscribe(*, user: Any, slug: str) -> None:
    """Unsubscribe `user` from a topic (no error if not subscribed)."""
    for topic in Topic.objects.filter(slug=slug):
        topic.subscribers.remove(user)
