"""realtime.after_commit: a call after commit whose failure is logged under its name."""

import logging

import pytest
from django.db import transaction

from realtime import after_commit

pytestmark = pytest.mark.django_db(transaction=True)


def fails(number, *, reason):
    raise ValueError(f"{reason} {number}")


def test_a_failure_inside_a_transaction_is_logged_and_the_next_call_runs(caplog):
    ran = []
    with caplog.at_level(logging.ERROR), transaction.atomic():
        after_commit(fails, 1, reason="broken")
        after_commit(ran.append, "second")
        assert ran == []  # not before the commit
    assert ran == ["second"]
    assert "Error calling fails in on_commit() during transaction (broken 1)" in caplog.text


def test_outside_a_transaction_the_call_runs_at_once_and_its_failure_is_logged(caplog):
    with caplog.at_level(logging.ERROR):
        after_commit(fails, 2, reason="broken")
    assert "Error calling fails in on_commit() (broken 2)" in caplog.text


def test_a_rolled_back_transaction_calls_nothing():
    ran = []

    def register_then_fail():
        with transaction.atomic():
            after_commit(ran.append, "never")
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        register_then_fail()
    assert ran == []
