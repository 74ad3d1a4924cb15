"""The JSON feed (polling and "load more"), links that mark read, the count in every page."""

import pytest
from django.urls import reverse

from notifications.models import Notification
from realtime.groups import user_group
from realtime.testing import EventListener
from tests.factories import make_notification

pytestmark = pytest.mark.django_db


def test_feed_is_the_unread_count_and_the_newest_notifications(client, customer, other_customer):
    notes = [make_notification(customer, title=f"Note {i}") for i in range(10)]
    notes[0].read_at = notes[0].created_at
    notes[0].save()
    make_notification(other_customer, title="Not alice's")
    client.force_login(customer)

    body = client.get(reverse("notifications:feed")).json()

    assert body["unreadCount"] == 9
    assert [n["title"] for n in body["notifications"]] == [f"Note {i}" for i in range(9, 1, -1)]
    assert body["hasMore"] is True


def test_feed_pages_back_before_an_id(client, customer):
    notes = [make_notification(customer, title=f"Note {i}") for i in range(5)]
    client.force_login(customer)

    body = client.get(reverse("notifications:feed"), {"before": notes[3].pk, "limit": 2}).json()

    assert [n["id"] for n in body["notifications"]] == [str(notes[2].pk), str(notes[1].pk)]
    assert body["hasMore"] is True
    last = client.get(reverse("notifications:feed"), {"before": notes[1].pk}).json()
    assert [n["id"] for n in last["notifications"]] == [str(notes[0].pk)]
    assert last["hasMore"] is False


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"limit": "0"}, "limit must be a positive whole number"),
        ({"limit": "51"}, "limit must be at most 50"),
        ({"before": "x"}, "before must be a positive whole number"),
        ({"before": "-3"}, "before must be a positive whole number"),
    ],
)
def test_feed_refuses_bad_parameters(client, customer, query, error):
    client.force_login(customer)

    response = client.get(reverse("notifications:feed"), query)

    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_feed_requires_login(client):
    assert client.get(reverse("notifications:feed")).status_code == 302


def test_opening_a_notification_marks_it_read_everywhere_and_goes_to_its_order(
    client, customer, django_capture_on_commit_callbacks
):
    n = make_notification(customer, type=Notification.Type.ORDER_UPDATE, data={"orderId": "7"})
    client.force_login(customer)

    with EventListener("notifications", [user_group(customer.pk)]) as events:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.get(reverse("notifications:open", args=[n.pk]))
        read = events.wait_for("NotificationRead")

    assert response.status_code == 302
    assert response.url == "/orders/7/"
    n.refresh_from_db()
    assert n.is_read
    assert read == [[str(n.pk)]]


def test_opening_another_users_notification_is_not_found(client, customer, other_customer):
    theirs = make_notification(other_customer)
    client.force_login(customer)

    response = client.get(reverse("notifications:open", args=[theirs.pk]))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert not theirs.is_read


def test_opening_a_notification_without_a_target_goes_to_the_list(client, customer):
    n = make_notification(customer)
    client.force_login(customer)

    response = client.get(reverse("notifications:open", args=[n.pk]))

    assert response.url == reverse("notifications:list")


def test_mark_all_read_confirms_how_many(client, customer):
    make_notification(customer)
    make_notification(customer)
    client.force_login(customer)

    response = client.post(reverse("notifications:mark_all_read"), follow=True)

    assert "Marked 2 notifications read." in response.content.decode()


def test_every_page_renders_the_unread_count_in_the_bell_and_the_title(client, customer):
    for _ in range(3):
        make_notification(customer)
    client.force_login(customer)

    html = client.get(reverse("orders:list")).content.decode()

    assert "<title>(3) My orders · Shop</title>" in html
    assert 'data-unread="3"' in html
    assert 'data-unread-count aria-hidden="true">3</span>' in html


def test_mark_all_read_is_not_offered_when_nothing_is_unread(client, customer):
    n = make_notification(customer)
    client.force_login(customer)
    assert "data-mark-all-read-form" in client.get(reverse("notifications:list")).content.decode()

    n.read_at = n.created_at
    n.save()
    html = client.get(reverse("notifications:list")).content.decode()

    assert '<form method="post" action="/notifications/read-all"' in html
    assert "data-mark-all-read-form hidden" in html
