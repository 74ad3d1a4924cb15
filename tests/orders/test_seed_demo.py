"""``seed_demo`` creates the demo data once, through the services."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from notifications.models import Notification, Topic
from orders.models import Order, OrderEvent

pytestmark = pytest.mark.django_db(transaction=True)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_creates_users_orders_topics_and_notifications():
    output = seed("--password", "pw-test-123")

    users = get_user_model().objects
    assert users.get(username="staff").is_superuser
    for name in ("alice", "bob", "staff"):
        assert users.get(username=name).check_password("pw-test-123")
        assert f"{name}" in output
    assert Order.objects.count() == 6
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values) - {
        "cancelled"
    }
    # Created through the services: history rows, and published.
    assert OrderEvent.objects.filter(order__number="A-1003").exists()
    assert not Order.objects.unpublished().exists()
    assert Topic.objects.get(slug="ops").audience == Topic.Audience.STAFF
    assert Topic.objects.get(slug="deals").subscribers.count() == 3
    assert Notification.objects.filter(title="Welcome to the shop").count() == 2
    assert "pw-test-123" in output
    # What the order page shows: items, a total and an estimated delivery date.
    order = Order.objects.with_total().get(number="A-1002")
    assert [(i.name, i.quantity) for i in order.items.all()] == [
        ("Walnut chopping board", 1),
        ("Olive oil, 500 ml", 2),
    ]
    assert order.total == Decimal("62.80")
    assert not Order.objects.filter(estimated_delivery__isnull=True).exists()


def test_seed_demo_twice_creates_no_duplicates_and_keeps_passwords():
    first = seed()
    password = next(
        line.split()[1] for line in first.splitlines() if line.strip().startswith("alice")
    )
    counts = (Order.objects.count(), Notification.objects.count(), OrderEvent.objects.count())

    second = seed()

    assert (Order.objects.count(), Notification.objects.count(), OrderEvent.objects.count()) == (
        counts
    )
    assert get_user_model().objects.get(username="alice").check_password(password)
    assert "(unchanged)" in second
    assert "kept their passwords" in second


def test_seed_demo_password_option_resets_existing_users():
    seed()

    seed("--password", "new-pass-456")

    assert get_user_model().objects.get(username="bob").check_password("new-pass-456")
