"""Staff restricting a topic in the admin unsubscribes those it no longer admits."""

import pytest
from django.urls import reverse

from notifications.models import Topic
from tests.factories import make_topic

pytestmark = pytest.mark.django_db


def test_making_a_topic_staff_only_in_the_admin_drops_customer_subscriptions(
    client, customer, staff
):
    topic = make_topic("deals")
    topic.subscribers.add(customer, staff)
    client.force_login(staff)

    response = client.post(
        reverse("admin:notifications_topic_change", args=[topic.pk]),
        {"slug": "deals", "name": "Deals", "audience": Topic.Audience.STAFF,
         "subscribers": [customer.pk, staff.pk]},
    )  # fmt: skip

    assert response.status_code == 302
    topic.refresh_from_db()
    assert topic.audience == Topic.Audience.STAFF
    assert list(topic.subscribers.all()) == [staff]
