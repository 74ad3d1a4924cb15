"""Plain factory functions for test data (no factory_boy)."""

import itertools

from notifications.models import Notification, Topic
from orders.models import Order

_numbers = itertools.count(1001)


def make_order(customer, **overrides) -> Order:
    fields = {"number": f"T-{next(_numbers)}", "status": Order.Status.PENDING} | overrides
    return Order.objects.create(customer=customer, **fields)


def make_notification(recipient, **overrides) -> Notification:
    fields = {"title": "Hello", "message": "A message"} | overrides
    return Notification.objects.create(recipient=recipient, **fields)


def make_topic(slug="deals", audience=Topic.Audience.EVERYONE, **overrides) -> Topic:
    return Topic.objects.create(slug=slug, name=slug.title(), audience=audience, **overrides)
