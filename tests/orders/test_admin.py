"""The admin is how staff trigger updates: every change goes through the services."""

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from notifications.models import Notification
from orders.models import Order, OrderEvent
from realtime import presence
from tests.factories import make_order, make_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def published_order(customer, django_capture_on_commit_callbacks):
    """An order whose creation was already published (as in production)."""
    with django_capture_on_commit_callbacks(execute=True):
        return make_order(customer, number="A-1001")


def change_form(order: Order, **changes) -> dict:
    data = {
        "status": order.status,
        "progress": order.progress,
        "status_message": order.status_message,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "0",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    return data | changes


def test_order_changelist_and_search(client, staff, published_order, other_customer):
    make_order(other_customer, number="B-2001")
    client.force_login(staff)
    url = reverse("admin:orders_order_changelist")

    everything = client.get(url)
    found = client.get(url, {"q": "A-1001"})

    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 2
    assert [o.number for o in found.context["cl"].result_list] == ["A-1001"]


def test_order_change_page_shows_history_read_only(client, staff, published_order):
    client.force_login(staff)

    response = client.get(reverse("admin:orders_order_change", args=[published_order.pk]))

    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][-1]
    assert inline.formset.model is OrderEvent
    assert not inline.has_add_permission
    assert not inline.has_change_permission


def test_admin_save_records_history_and_publishes(
    client, staff, customer, published_order, django_capture_on_commit_callbacks
):
    client.force_login(staff)
    url = reverse("admin:orders_order_change", args=[published_order.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            change_form(
                published_order, status="shipped", progress=60, status_message="On the truck"
            ),
        )

    assert response.status_code == 302
    order = Order.objects.get(pk=published_order.pk)
    assert (order.status, order.progress, order.status_message) == ("shipped", 60, "On the truck")
    event = OrderEvent.objects.get(order=order)
    assert (event.status, event.progress, event.message, event.actor) == (
        "shipped",
        60,
        "On the truck",
        staff,
    )
    assert order.publish_pending is False
    assert order.notified_status == order.status
    assert Notification.objects.get(recipient=customer).title == "Order A-1001: Shipped"


def test_admin_save_without_state_change_records_no_history(
    client, staff, published_order, django_capture_on_commit_callbacks
):
    client.force_login(staff)
    url = reverse("admin:orders_order_change", args=[published_order.pk])

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, change_form(published_order))

    assert not OrderEvent.objects.exists()


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("mark_processing", "processing"),
        ("mark_shipped", "shipped"),
        ("mark_delivered", "delivered"),
    ],
)
def test_bulk_actions_change_status_through_the_service(
    client, staff, customer, django_capture_on_commit_callbacks, action, status
):
    with django_capture_on_commit_callbacks(execute=True):
        orders = [make_order(customer) for _ in range(2)]
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:orders_order_changelist"),
            {"action": action, "_selected_action": [o.pk for o in orders]},
            follow=True,
        )

    assert response.status_code == 200
    assert f"2 orders marked {status}." in response.content.decode()
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]):
        assert order.status == status
        assert order.publish_pending is False
        assert order.notified_status == status
        assert order.events.get().actor == staff
    assert Notification.objects.filter(recipient=customer).count() == 2


def test_marking_delivered_completes_progress(
    client, staff, published_order, django_capture_on_commit_callbacks
):
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_order_changelist"),
            {"action": "mark_delivered", "_selected_action": [published_order.pk]},
        )

    published_order.refresh_from_db()
    assert published_order.progress == 100


def test_customers_cannot_reach_the_admin(client, customer):
    client.force_login(customer)

    response = client.get(reverse("admin:orders_order_changelist"))

    assert response.status_code == 302


# Sending notifications -------------------------------------------------------


def send(client, **fields):
    data = {"title": "Maintenance", "message": "Tonight at 22:00", "type": "announcement"}
    return client.post(reverse("admin:notifications_notification_send"), data | fields, follow=True)


def test_send_page_renders(client, staff):
    client.force_login(staff)

    response = client.get(reverse("admin:notifications_notification_send"))

    assert response.status_code == 200
    assert "Send notification" in response.content.decode()


def test_add_redirects_to_send(client, staff):
    client.force_login(staff)

    response = client.get(reverse("admin:notifications_notification_add"))

    assert response.url == reverse("admin:notifications_notification_send")


def test_send_to_chosen_users_persists_one_row_each(
    client, staff, customer, other_customer, django_capture_on_commit_callbacks
):
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, audience="users", users=[customer.pk, other_customer.pk])

    assert "2 notifications persisted" in response.content.decode()
    rows = Notification.objects.filter(title="Maintenance")
    assert sorted(n.recipient.username for n in rows) == ["alice", "bob"]
    assert all(n.published_at is not None for n in rows)
    assert {n.type for n in rows} == {"announcement"}


def test_send_to_topic_reaches_its_subscribers(
    client, staff, customer, other_customer, django_capture_on_commit_callbacks
):
    topic = make_topic("deals")
    topic.subscribers.add(customer)
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, audience="topic", topic=topic.pk)

    assert "1 notification persisted" in response.content.decode()
    assert Notification.objects.get(title="Maintenance").recipient == customer
    assert Notification.objects.get(title="Maintenance").topic == topic


def test_send_to_all_staff(
    client, staff, customer, django_user_model, django_capture_on_commit_callbacks
):
    django_user_model.objects.create_user("sally", is_staff=True)
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, audience="staff")

    assert "2 notifications persisted" in response.content.decode()
    recipients = {n.recipient.username for n in Notification.objects.filter(title="Maintenance")}
    assert recipients == {"sam", "sally"}


@pytest.mark.parametrize(("audience", "field"), [("users", "users"), ("topic", "topic")])
def test_send_needs_its_audience(client, staff, audience, field):
    client.force_login(staff)

    response = send(client, audience=audience)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Notification.objects.exists()


def test_notification_and_topic_changelists(client, staff, customer):
    Notification.objects.create(recipient=customer, title="Hi")
    make_topic("ops")
    client.force_login(staff)

    notifications = client.get(reverse("admin:notifications_notification_changelist"))
    topics = client.get(reverse("admin:notifications_topic_changelist"))

    assert notifications.status_code == 200
    assert "Send notification" in notifications.content.decode()
    assert topics.status_code == 200


def test_order_list_shows_who_is_online(client, staff, customer, other_customer):
    make_order(customer)
    make_order(other_customer)
    async_to_sync(presence.add_connection)(customer.pk, "orders|test-connection")
    try:
        client.force_login(staff)
        response = client.get("/admin/orders/order/")
        assert response.status_code == 200
        assert response.context["title"] == "Orders · 1 online now"
        changelist = response.context["cl"]
        (online,) = [field for field in changelist.list_display if callable(field)]
        assert {o.customer.username: online(o) for o in changelist.result_list} == {
            "alice": True,
            "bob": False,
        }
    finally:
        async_to_sync(presence.remove_connection)(customer.pk, "orders|test-connection")
