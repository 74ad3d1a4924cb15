"""The publisher's compiled read of an order gives what the ORM gives."""

import datetime

import pytest
from django.db import transaction

from orders import reads
from orders.models import Order
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_the_locked_read_is_the_orms_read_with_the_customer(customer, django_assert_num_queries):
    order = make_order(
        customer,
        status=Order.Status.SHIPPED,
        progress=40,
        status_message="On its way",
        estimated_delivery=datetime.date(2026, 12, 24),
        publish_pending=True,
    )
    Order.objects.filter(pk=order.pk).claim()  # a lease: an aware datetime to convert
    expected = Order.objects.select_related("customer").get(pk=order.pk)
    with transaction.atomic(), django_assert_num_queries(1):
        found = reads.locked_order(order.pk)
        customer_fields = _fields(found.customer)  # loaded with the order, no query
    assert _fields(found) == _fields(expected)
    assert expected.claimed_until is not None
    assert expected.estimated_delivery is not None
    assert customer_fields == _fields(expected.customer)
    assert found._state.adding is False
    assert found._state.db == "default"


def test_an_order_that_does_not_exist_reads_as_none(customer):
    order = make_order(customer)
    with transaction.atomic():
        assert reads.locked_order(order.pk + 1000) is None
        assert reads.locked_order(str(order.pk)).pk == order.pk  # as the ORM takes it
