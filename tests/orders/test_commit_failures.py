"""A publisher that fails after commit is logged; the code that committed goes on.

Real commits (a transactional test database), so Django runs the on-commit
callbacks as in production; the one mock injects the failure.
"""

import logging
from unittest import mock

import pytest
from django.db import OperationalError, transaction

from orders import services
from orders.models import Order
from realtime.testing import EventListener
from tests.factories import make_order

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_publish_that_fails_unexpectedly_leaves_the_commit_and_the_other_orders_alone(
    customer, caplog
):
    failing, other = make_order(customer), make_order(customer)
    record = services._record

    def locked_for_one(order_id):
        if order_id == failing.pk:
            raise OperationalError("database is locked")
        return record(order_id)

    with (
        EventListener("orders", [f"order:{failing.pk}", f"order:{other.pk}"]) as events,
        mock.patch.object(services, "_record", side_effect=locked_for_one),
        caplog.at_level(logging.ERROR),
    ):
        with transaction.atomic():  # the caller's commit: nothing raises into it
            services.change_status(failing, status=Order.Status.SHIPPED)
            services.change_status(other, status=Order.Status.SHIPPED)
        # The callback after the failed one still ran.
        assert events.wait_for("OrderStatusUpdated") == [[str(other.pk), "shipped", ""]]
    assert "Error calling publish_order_change in on_commit()" in caplog.text
    assert "database is locked" in caplog.text
    # Nothing lost: the sweep delivers the failed order's change.
    failing.refresh_from_db()
    assert failing.has_unpublished_changes
    with EventListener("orders", [f"order:{failing.pk}"]) as events:
        assert services.publish_pending() == 1
        assert events.wait_for("OrderStatusUpdated") == [[str(failing.pk), "shipped", ""]]


def test_a_record_that_fails_with_the_commit_keeps_the_change_and_records_after_it(
    customer, caplog
):
    order = make_order(customer)
    record, failures = services._record, iter([OperationalError("database is locked")])

    def fails_once(order_id):
        for failure in failures:
            raise failure
        return record(order_id)

    with (
        EventListener("orders", [f"order:{order.pk}"]) as events,
        mock.patch.object(services, "_record", side_effect=fails_once),
        caplog.at_level(logging.WARNING, logger="orders.services"),
    ):
        with transaction.atomic():
            services.change_status(order, status=Order.Status.SHIPPED, message="Sent")
        assert events.wait_for("OrderStatusUpdated") == [[str(order.pk), "shipped", "Sent"]]
    assert f"order {order.pk}: recording with the commit failed (database is locked)" in caplog.text
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.events.count() == 1
    assert not order.has_unpublished_changes
    assert not order.publish_pending


def test_a_publish_that_fails_after_a_save_outside_a_transaction_is_logged_not_raised(
    customer, caplog
):
    with (
        mock.patch.object(services, "_record", side_effect=OperationalError("database is locked")),
        caplog.at_level(logging.ERROR),
    ):
        order = make_order(customer)  # autocommit: saved, then published at once
    assert "Error calling publish_order_change in on_commit()" in caplog.text
    # Nothing lost: the sweep delivers it.
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        assert services.publish_pending() == 1
        assert events.wait_for("OrderStatusUpdated") == [[str(order.pk), "pending", ""]]
