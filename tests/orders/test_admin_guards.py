"""Staff cannot save an order that contradicts itself from the admin."""

import pytest
from django.urls import reverse

from orders.models import Order
from tests.factories import make_order
from tests.orders.test_admin import change_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_order(customer, number="A-1001", status=Order.Status.SHIPPED, progress=60)


def save(client, staff, order, django_capture_on_commit_callbacks, **changes):
    client.force_login(staff)
    url = reverse("admin:orders_order_change", args=[order.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, change_form(order, **changes))
    order.refresh_from_db()
    return response


def test_progress_input_has_max_100(client, staff, order):
    client.force_login(staff)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'name="progress"' in page
    assert 'max="100"' in page
    assert 'min="0"' in page


def test_progress_above_100_is_a_field_error(
    client, staff, order, django_capture_on_commit_callbacks
):
    response = save(client, staff, order, django_capture_on_commit_callbacks, progress="150")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["progress"]
    assert "less than or equal to 100" in errors["progress"][0]
    assert "order_progress_0_100" not in response.content.decode()
    assert order.progress == 60


def test_delivered_with_the_bar_untouched_completes_it(
    client, staff, order, django_capture_on_commit_callbacks
):
    response = save(client, staff, order, django_capture_on_commit_callbacks, status="delivered")
    assert response.status_code == 302
    assert (order.status, order.progress) == ("delivered", 100)
    assert order.events.first().progress == 100


def test_delivered_below_100_is_refused(client, staff, order, django_capture_on_commit_callbacks):
    response = save(
        client, staff, order, django_capture_on_commit_callbacks, status="delivered", progress="0"
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["progress"] == [
        "A delivered order is at 100 %."
    ]
    assert (order.status, order.progress) == ("shipped", 60)


def test_lowering_progress_needs_confirmation(
    client, staff, order, django_capture_on_commit_callbacks
):
    response = save(client, staff, order, django_capture_on_commit_callbacks, progress="40")
    assert response.status_code == 200
    assert "from 60 % to 40 %" in response.context["adminform"].form.errors["progress"][0]
    page = response.content.decode()
    assert 'type="checkbox" name="confirm_lower_progress"' in page
    assert order.progress == 60

    response = save(
        client,
        staff,
        order,
        django_capture_on_commit_callbacks,
        progress="40",
        confirm_lower_progress="on",
    )
    assert response.status_code == 302
    assert order.progress == 40


def test_raising_progress_needs_no_confirmation(
    client, staff, order, django_capture_on_commit_callbacks
):
    response = save(client, staff, order, django_capture_on_commit_callbacks, progress="80")
    assert response.status_code == 302
    assert order.progress == 80
