"""PreparedQuery, and the access token's user lookup compiled with it (real database)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from realtime import PreparedQuery, auth

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_a_prepared_query_compiles_once_per_variant(customer, other_customer):
    built = []

    def build(variant, user_id):
        built.append(variant)
        return User.objects.filter(pk=user_id).values_list("username")

    query = PreparedQuery(build, user_id=PreparedQuery.STAND_IN_ID)
    for _ in range(3):
        assert query.rows("a", user_id=customer.pk) == [(customer.username,)]
        assert query.rows("a", user_id=other_customer.pk) == [(other_customer.username,)]
    query.rows("b", user_id=customer.pk)
    assert built == ["a", "b"]


def test_a_prepared_query_refuses_a_build_without_its_stand_in_and_wrong_values(customer):
    ignores = PreparedQuery(
        lambda _, user_id: User.objects.values_list("pk"), user_id=PreparedQuery.STAND_IN_ID
    )
    with pytest.raises(ValueError, match="does not use the stand-ins"):
        ignores.rows(user_id=customer.pk)
    query = PreparedQuery(
        lambda _, user_id: User.objects.filter(pk=user_id).values_list("pk"),
        user_id=PreparedQuery.STAND_IN_ID,
    )
    with pytest.raises(TypeError, match="expected values"):
        query.rows(pk=customer.pk)


def _fields(user) -> dict:
    return {field.attname: getattr(user, field.attname) for field in User._meta.concrete_fields}


def test_a_tokens_user_is_the_orms_active_user_in_one_query(customer, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = auth._active_user.func(str(customer.pk))

    assert isinstance(found, User)
    assert _fields(found) == _fields(User.objects.get(pk=customer.pk))
    assert found._state.adding is False
    assert found._state.db == "default"


@pytest.mark.parametrize("user_id", ["999999", "-5", "abc", "", "12.5", str(2**70)])
def test_an_unknown_or_malformed_user_id_finds_no_user(customer, user_id):
    assert auth._active_user.func(user_id) is None


def test_an_inactive_user_is_not_found(customer):
    customer.is_active = False
    customer.save(update_fields=["is_active"])

    assert auth._active_user.func(str(customer.pk)) is None


def test_the_lookup_compiles_its_sql_once(customer, other_customer, monkeypatch):
    builds = []
    real = auth._ACTIVE_USER._build
    monkeypatch.setattr(
        auth._ACTIVE_USER, "_build", lambda *a, **k: builds.append(a) or real(*a, **k)
    )
    monkeypatch.setattr(auth._ACTIVE_USER, "_compiled", {})

    for user in (customer, other_customer, customer):
        assert auth._active_user.func(str(user.pk)).pk == user.pk

    assert len(builds) == 1


def test_a_primary_key_the_stand_in_cannot_stand_for_goes_through_the_orm(customer, monkeypatch):
    # As with a UUID primary key: the ORM's own lookup, uncompiled.
    monkeypatch.setattr(User._meta.pk, "to_python", str)
    monkeypatch.setattr(auth._ACTIVE_USER, "_compiled", {})

    assert auth._active_user.func(str(customer.pk)).pk == customer.pk
    assert auth._ACTIVE_USER._compiled == {}
