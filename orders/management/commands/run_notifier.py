"""``manage.py run_notifier``: the seed's background notifier, as a worker.

Each batch publishes orders whose changes have not reached their customers
and notifications still pending publication, with the same functions the
signal path uses. Errors are logged and followed by a back-off; SIGTERM and
SIGINT stop the loop between batches. Two copies may run at once: every row
is claimed with a conditional UPDATE (a lease) before it is sent.
"""

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections
from redis.exceptions import RedisError

from notifications import services as notifications
from notifications.models import Notification
from orders import services as orders
from orders.models import Order
from realtime import stats

logger = logging.getLogger("orders.run_notifier")


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Publish unpublished order changes and pending notifications, in a loop."
    metrics_textfile = ""

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=_positive, default=30.0, help="seconds between batches"
        )
        parser.add_argument(
            "--backoff", type=_positive, default=60.0, help="seconds to wait after an error"
        )
        parser.add_argument("--batch", type=int, default=500, help="rows per batch and kind")
        parser.add_argument(
            "--once", action="store_true", help="run one batch and exit (cron, tests)"
        )
        parser.add_argument(
            "--metrics-textfile",
            default="",
            help="write Prometheus metrics here after each batch (node_exporter textfile)",
        )

    def handle(self, *args, interval, backoff, batch, once, metrics_textfile, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        self.metrics_textfile = metrics_textfile
        if once:
            published = self.run_batch(batch)
            self.stdout.write(
                f"published {published[0]} order changes, {published[1]} notifications"
            )
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        logger.info("run_notifier started (interval %.1fs)", interval)
        while not stop.is_set():
            close_old_connections()  # a long-lived process: drop broken DB connections
            try:
                published = self.run_batch(batch)
            except (DatabaseError, RedisError, OSError) as exc:
                logger.warning(
                    "batch failed; backing off %.1fs",
                    backoff,
                    exc_info=True,
                    extra={"event": "batch_failed", "reason": type(exc).__name__},
                )
                self.record(0.0, (0, 0), error=type(exc).__name__)
                stop.wait(backoff)
                continue
            if any(published):
                logger.info("published %d order changes, %d notifications", *published)
            stop.wait(interval)
        logger.info("run_notifier stopped")

    def run_batch(self, batch: int) -> tuple[int, int]:
        """Run one sweep; return (order changes, notifications) published."""
        started = time.perf_counter()
        changed = orders.publish_pending(limit=batch)
        delivered = notifications.publish_pending(limit=batch)
        self.record(time.perf_counter() - started, (changed, delivered))
        return changed, delivered

    def record(self, seconds: float, published: tuple[int, int], error: str = "") -> None:
        """Report the batch to the dashboard and to Prometheus (the textfile, if asked)."""
        try:
            pending = {
                "orders": Order.objects.unpublished().count(),
                "notifications": Notification.objects.pending().count(),
            }
        except DatabaseError:
            pending = {}
        stats.record_batch(
            seconds=seconds,
            published={"orders": published[0], "notifications": published[1]},
            pending=pending,
            error=error,
        )
        if self.metrics_textfile:
            try:
                stats.write_textfile(self.metrics_textfile)
            except OSError:
                logger.warning("could not write %s", self.metrics_textfile, exc_info=True)
