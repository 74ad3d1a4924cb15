"""The periodic re-check: one batch per process, Django's session rules, token stamps."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from realtime import revocation
from realtime.auth import credential_stamp

pytestmark = pytest.mark.django_db

check = revocation._still_valid.func  # the sync body, run here without the thread hop


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_the_recheck_costs_two_queries_per_500_users(django_user_model):
    create = django_user_model.objects.create_user
    users = [create(f"u{i}", password="pw-123456") for i in range(60)]
    sessions = {session_of(user): str(user.pk) for user in users}

    with CaptureQueriesContext(connection) as queries:
        valid, stamps = check(sessions, {str(u.pk) for u in users})

    assert len(queries) == 2  # the users, then their sessions
    assert valid == set(sessions)
    assert stamps == {str(u.pk): credential_stamp(u) for u in users}


def test_sessions_that_ended_are_no_longer_valid(customer, other_customer, staff):
    kept, flushed = session_of(customer), session_of(other_customer)
    changed = session_of(staff)
    Session.objects.filter(session_key=flushed).delete()
    staff.set_password("another-pass-9")
    staff.save()

    valid, _ = check(
        {kept: str(customer.pk), flushed: str(other_customer.pk), changed: str(staff.pk)}, set()
    )

    assert valid == {kept}


def test_a_session_of_another_user_is_not_valid_for_this_one(customer, other_customer):
    valid, _ = check({session_of(customer): str(other_customer.pk)}, set())
    assert valid == set()


def test_inactive_users_have_no_stamp(customer):
    customer.is_active = False
    customer.save()
    assert check({}, {str(customer.pk)}) == (set(), {})
