"""The one lease both publishers claim rows with, and who may write which rows."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from notifications.models import Notification
from orders.models import Order
from outbox import take_lease
from tests.factories import make_notification, make_order

pytestmark = pytest.mark.django_db

ORDERS = Path(__file__).resolve().parent.parent / "orders"


@pytest.fixture
def published_order(customer, django_capture_on_commit_callbacks):
    """An order whose creation was published: recorded and leased in its
    transaction (a test's), the lease then released by the after-commit send."""
    with django_capture_on_commit_callbacks(execute=True):
        return make_order(customer)


@pytest.mark.parametrize("model", [Order, Notification])
def test_a_row_is_claimed_once_until_its_lease_ends(customer, model, request):
    row = (
        request.getfixturevalue("published_order")
        if model is Order
        else make_notification(customer)
    )
    rows = model.objects.filter(pk=row.pk)
    assert rows.claim() == 1
    assert rows.claim() == 0
    assert not rows.claimable().exists()
    rows.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert rows.claimable().exists()
    assert rows.claim() == 1


def test_release_ends_the_lease_and_sets_fields_in_one_update(customer):
    note = make_notification(customer)
    rows = Notification.objects.filter(pk=note.pk)
    rows.claim()
    published_at = timezone.now()
    assert rows.release(published_at=published_at) == 1
    note.refresh_from_db()
    assert (note.claimed_until, note.published_at) == (None, published_at)
    assert rows.claim() == 1


def test_take_lease_agrees_with_claim_on_a_locked_row(published_order):
    rows = Order.objects.filter(pk=published_order.pk)
    assert rows.claim() == 1
    held = rows.select_for_update().get()
    assert not take_lease(held)  # a claim holds it
    rows.release()
    free = rows.select_for_update().get()
    assert take_lease(free)
    free.save(update_fields=["claimed_until"])
    assert rows.claim() == 0  # and now take_lease holds it
    rows.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert take_lease(rows.get())


WRITES = {"create", "bulk_create", "get_or_create", "update_or_create", "update", "delete"}


def _root(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def test_orders_write_notifications_only_through_the_notification_service():
    """orders/ never writes Notification rows itself (one writer per model)."""
    offenders = []
    for path in ORDERS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or _root(node.func) != "Notification":
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name in WRITES or isinstance(node.func, ast.Name):
                offenders.append(f"{path.relative_to(ORDERS.parent)}:{node.lineno}")
    assert offenders == []
