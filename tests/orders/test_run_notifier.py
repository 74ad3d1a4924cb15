"""``manage.py run_notifier``: sweeps what skipped the signal, once, safely."""

import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.db import connection

from notifications.models import Notification
from orders.models import Order
from realtime import stats
from realtime.testing import EventListener
from tests.factories import make_order

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_a_queryset_update_is_published_by_the_worker_once(customer):
    """Real commits: the notification goes out when the order's state is recorded."""
    order = make_order(customer)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED)  # skips the signal
    with EventListener("orders", [f"order:{order.pk}"]) as events:
        out = io.StringIO()
        call_command("run_notifier", "--once", stdout=out)
        # The order's own publish delivers the customer's notification inline.
        assert "published 1 order changes, 0 notifications" in out.getvalue()
        call_command("run_notifier", "--once", stdout=out)
        assert "published 0 order changes, 0 notifications" in out.getvalue()
        assert events.wait_for("OrderStatusUpdated") == [[str(order.pk), "shipped", ""]]
    (notification,) = Notification.objects.filter(recipient=customer)
    assert notification.published_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_create_no_duplicate(customer):
    orders = [make_order(customer) for _ in range(5)]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(status=Order.Status.PROCESSING)
    errors = []

    def sweep():
        try:
            call_command("run_notifier", "--once", stdout=io.StringIO())
        except Exception as exc:  # surfaced below with the test's assertion
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=sweep) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert Notification.objects.filter(recipient=customer).count() == 5
    assert not Order.objects.unpublished().exists()


@pytest.mark.parametrize("arguments", [["--interval", "0"], ["--batch", "0"], ["--backoff", "-1"]])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises((CommandError, SystemExit)):
        call_command("run_notifier", *arguments)


def test_the_loop_stops_cleanly_on_sigterm(tmp_path, redis_url):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "INFO",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_notifier", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in worker.stderr:
            if "run_notifier started" in line:
                break
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        assert "run_notifier stopped" in worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.django_db(transaction=True)
def test_each_batch_is_exported_for_prometheus_and_the_dashboard(customer, tmp_path):
    """The worker writes its metrics as a textfile and its last batch to Redis."""
    orders = [make_order(customer) for _ in range(3)]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(status=Order.Status.PROCESSING)
    textfile = tmp_path / "notifier.prom"
    call_command(
        "run_notifier", "--once", "--metrics-textfile", str(textfile), stdout=io.StringIO()
    )
    exported = textfile.read_text()
    assert 'notifier_pending_rows{kind="orders"} 0.0' in exported
    assert 'notifier_published_total{kind="orders"}' in exported
    assert "notifier_batch_duration_seconds_count" in exported
    batch = async_to_sync(stats.worker)()
    assert batch["published"] == {"orders": 3, "notifications": 0}
    assert batch["pending"] == {"orders": 0, "notifications": 0}
    assert batch["error"] == ""
