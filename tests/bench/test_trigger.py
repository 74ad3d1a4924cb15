"""The trigger's order changes: each change timed step by step, then nothing left behind."""

import pytest
from django.db.models.signals import pre_save

from bench import trigger
from orders import services
from orders.models import Order
from realtime import portal
from realtime.testing import EventListener
from tests.factories import make_order

pytestmark = pytest.mark.django_db(transaction=True)


def test_order_changes_are_timed_step_by_step_and_still_published(customer):
    order = make_order(customer)
    record, call = services._record, portal.call
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        reply = trigger.change_orders(order.pk, seq0=0, count=3, interval=0)
        statuses = [args[1] for args in events.wait_for("OrderStatusUpdated", count=3)]

    # The changes went out as without the timing: the watcher got all three.
    assert statuses == ["processing", "shipped", "processing"]
    assert len(reply["sent"]) == 3
    assert len(reply["steps"]) == 3
    for step in reply["steps"]:
        assert list(step) == list(trigger.STEPS)
        assert 0 < step["recorded"] <= step["committed"] <= step["handed_over"]

    # The wrapped functions and the receiver are gone after the run.
    assert (services._record, portal.call) == (record, call)
    assert not pre_save.has_listeners(Order)


def test_the_steps_reduce_to_medians():
    from bench.stats import step_medians

    steps = [
        {"committed": 1.0, "recorded": 3.0, "handed_over": 4.0},
        {"committed": 2.0, "recorded": 5.0, "handed_over": 9.0},
        {"committed": 9.0, "recorded": 9.5},  # its publish failed: no hand-over
    ]
    assert step_medians(steps) == {"committed_ms": 2.0, "recorded_ms": 5.0, "handed_over_ms": 6.5}
