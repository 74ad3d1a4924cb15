"""The notifications page: paged history and mark-read forms that work without the hub."""

import pytest
from django.urls import reverse

from notifications.models import Notification
from tests.factories import make_notification

pytestmark = pytest.mark.django_db


def test_notification_list_pages_twenty_per_page(client, customer):
    for i in range(25):
        make_notification(customer, title=f"Note {i}")
    client.force_login(customer)

    first = client.get(reverse("notifications:list"))
    second = client.get(reverse("notifications:list"), {"page": 2})

    assert first.status_code == 200
    assert len(first.context["notifications"]) == 20
    assert first.context["notifications"][0].title == "Note 24"
    assert len(second.context["notifications"]) == 5
    assert "Page 2 of 2" in second.content.decode()


def test_notification_list_shows_only_the_users_notifications(client, customer, other_customer):
    mine = make_notification(customer, title="For alice")
    make_notification(other_customer, title="For bob")
    client.force_login(customer)

    response = client.get(reverse("notifications:list"))

    assert list(response.context["notifications"]) == [mine]
    html = response.content.decode()
    assert f'data-notification-id="{mine.pk}"' in html
    assert "For bob" not in html


def test_order_updates_link_to_their_order_through_open(client, customer):
    n = make_notification(customer, type=Notification.Type.ORDER_UPDATE, data={"orderId": "7"})
    client.force_login(customer)

    response = client.get(reverse("notifications:list"))

    assert f'href="/notifications/{n.pk}/open"' in response.content.decode()


def test_notification_list_requires_login(client):
    url = reverse("notifications:list")

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


def test_mark_read_form_marks_and_redirects_back(
    client, customer, django_capture_on_commit_callbacks
):
    notification = make_notification(customer)
    client.force_login(customer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("notifications:mark_read", args=[notification.pk]),
            {"next": "/notifications/?page=1"},
        )

    assert response.status_code == 302
    assert response.url == "/notifications/?page=1"
    notification.refresh_from_db()
    assert notification.is_read


def test_mark_read_of_another_users_notification_is_not_found(client, customer, other_customer):
    notification = make_notification(other_customer)
    client.force_login(customer)

    response = client.post(reverse("notifications:mark_read", args=[notification.pk]))

    assert response.status_code == 404
    notification.refresh_from_db()
    assert not notification.is_read


def test_mark_read_ignores_an_offsite_next(client, customer):
    notification = make_notification(customer)
    client.force_login(customer)

    response = client.post(
        reverse("notifications:mark_read", args=[notification.pk]),
        {"next": "https://evil.example/"},
    )

    assert response.url == reverse("notifications:list")


def test_mark_all_read_form_marks_every_notification(
    client, customer, other_customer, django_capture_on_commit_callbacks
):
    make_notification(customer)
    make_notification(customer)
    theirs = make_notification(other_customer)
    client.force_login(customer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notifications:mark_all_read"))

    assert response.status_code == 302
    assert not Notification.objects.unread_for(customer).exists()
    theirs.refresh_from_db()
    assert not theirs.is_read


def test_mark_read_needs_post(client, customer):
    notification = make_notification(customer)
    client.force_login(customer)

    response = client.get(reverse("notifications:mark_read", args=[notification.pk]))

    assert response.status_code == 405
