"""Order pages: the list, one order, and the JSON state the page polls."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order, OrderItem
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_order_list_shows_only_the_customers_orders(client, customer, other_customer):
    mine = make_order(customer, number="A-1", status=Order.Status.SHIPPED)
    make_order(other_customer, number="B-1")
    client.force_login(customer)

    response = client.get(reverse("orders:list"))

    assert response.status_code == 200
    assert list(response.context["orders"]) == [mine]
    html = response.content.decode()
    assert f'data-order-id="{mine.pk}"' in html
    assert 'data-order-status="shipped"' in html
    assert "B-1" not in html


def test_order_list_pages_twenty_orders(client, customer):
    for _ in range(21):
        make_order(customer)
    client.force_login(customer)

    first = client.get(reverse("orders:list"))
    second = client.get(reverse("orders:list"), {"page": 2})

    assert len(first.context["orders"]) == 20
    assert len(second.context["orders"]) == 1


def test_staff_see_every_order(client, customer, staff):
    order = make_order(customer)
    client.force_login(staff)

    response = client.get(reverse("orders:list"))

    assert list(response.context["orders"]) == [order]
    assert "All orders" in response.content.decode()


def test_order_page_renders_live_widgets(client, customer, staff):
    order = make_order(
        customer, status=Order.Status.SHIPPED, progress=60, status_message="On the way"
    )
    client.force_login(customer)

    response = client.get(order.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-state-url="{reverse("orders:state", args=[order.pk])}"' in html
    assert 'data-orders-hub="/hubs/orders"' in html
    assert 'data-notifications-hub="/hubs/notifications"' in html
    assert '<progress max="100" value="60"' in html
    assert "On the way" in html
    assert "data-completion-dialog" in html
    assert "js/orders.js" in html


def test_order_page_shows_items_total_and_estimated_delivery(client, customer):
    order = make_order(customer, estimated_delivery=datetime.date(2026, 12, 2))
    OrderItem.objects.create(order=order, name="Teapot", quantity=2, unit_price=Decimal("12.50"))
    OrderItem.objects.create(order=order, name="Mug", quantity=1, unit_price=Decimal("7.25"))
    client.force_login(customer)

    html = client.get(order.get_absolute_url()).content.decode()

    assert "<td>Teapot</td>" in html
    assert '<td class="num">25.00</td>' in html
    assert '<td class="num" data-order-total>32.25</td>' in html
    assert "Wed, Dec 2" in html


def test_order_page_of_another_customer_is_not_found(client, customer, other_customer):
    order = make_order(other_customer)
    client.force_login(customer)

    assert client.get(order.get_absolute_url()).status_code == 404
    assert client.get(reverse("orders:state", args=[order.pk])).status_code == 404


@pytest.mark.parametrize("name", ["orders:list", "orders:detail", "orders:state"])
def test_order_pages_require_login(client, customer, name):
    order = make_order(customer)
    url = reverse(name) if name == "orders:list" else reverse(name, args=[order.pk])

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


def test_order_state_is_the_payload_as_json(client, customer):
    order = make_order(customer, status=Order.Status.DELIVERED, progress=100, status_message="Done")
    client.force_login(customer)

    response = client.get(reverse("orders:state", args=[order.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    state = response.json()
    assert state == {
        "id": str(order.pk),
        "number": order.number,
        "status": "delivered",
        "statusLabel": "Delivered",
        "message": "Done",
        "progress": 100,
        "isComplete": True,
        "updatedAt": state["updatedAt"],
    }


def test_home_redirects_to_the_order_list(client, customer):
    client.force_login(customer)

    response = client.get("/")

    assert response.status_code == 302
    assert response.url == reverse("orders:list")


def test_login_page_renders_without_the_bell(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert "data-bell" not in html
    assert "signalr.min.js" not in html
