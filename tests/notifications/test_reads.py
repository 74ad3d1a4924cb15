"""The hub's compiled reads give what the QuerySets they are compiled from give."""

from itertools import product

import pytest
from django.utils import timezone

from notifications import reads
from notifications.models import Notification, Topic
from tests.factories import make_notification, make_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def topics(customer, other_customer):
    made = {}
    for audience, listed in product(Topic.Audience.values, (True, False)):
        topic = make_topic(f"{audience}-{'listed' if listed else 'open'}", audience=audience)
        if listed:
            topic.members.add(customer)
        topic.subscribers.add(other_customer)
        made[topic.slug] = topic
    return made


def test_the_topic_read_follows_the_rule_for_every_audience_and_user(
    topics, customer, other_customer, staff
):
    checked = 0
    for user, slug in product((customer, other_customer, staff), [*topics, "no-such-topic"]):
        rule = Topic.objects.subscribable_by(user).filter(slug=slug).first()
        found = reads.subscribable_topic(user, slug)
        if rule is None:
            assert found is None, (user.username, slug)
            continue
        subscribed = rule.subscribers.filter(pk=user.pk).exists()
        assert found == (rule.pk, subscribed), (user.username, slug)
        checked += 1
    assert checked >= 6  # allowed and refused cases both ran


def test_subscribed_slugs_are_the_subscriptions_the_rule_still_admits(
    topics, customer, other_customer, staff
):
    for topic in topics.values():
        topic.subscribers.add(customer, staff)
    for user in (customer, other_customer, staff):
        expected = list(
            Topic.objects.subscribable_by(user)
            .filter(subscribers=user)
            .values_list("slug", flat=True)
        )
        assert reads.subscribed_slugs(user) == expected
        assert expected  # not vacuous
    assert "staff-open" not in reads.subscribed_slugs(customer)
    assert "staff-open" in reads.subscribed_slugs(staff)


def test_unread_count_counts_only_the_users_unread(customer, other_customer):
    assert reads.unread_count(customer) == 0
    for _ in range(3):
        make_notification(customer)
    make_notification(customer, read_at=timezone.now())
    make_notification(other_customer)
    assert reads.unread_count(customer) == 3 == Notification.objects.unread_for(customer).count()
    assert reads.unread_count(other_customer) == 1


def test_a_subscribe_of_a_subscribed_user_is_one_query(customer, django_assert_num_queries):
    make_topic("deals").subscribers.add(customer)
    with django_assert_num_queries(1):
        assert reads.subscribable_topic(customer, "deals") is not None
