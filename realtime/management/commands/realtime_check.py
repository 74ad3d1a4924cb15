"""``manage.py realtime_check``: fail fast, in one line, when Redis or REALTIME is wrong."""

import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from redis import Redis
from redis.exceptions import RedisError

from realtime import conf


class Command(BaseCommand):
    help = "Check the REALTIME setting and that REDIS_URL answers (optionally waiting for it)."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep retrying")

    def handle(self, *args, wait, **options):
        try:
            conf.get()
        except ImproperlyConfigured as exc:
            raise CommandError(f"Configuration error: {exc}") from None
        deadline = time.monotonic() + wait
        client = Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        while True:
            try:
                client.ping()
                break
            except (RedisError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"REDIS_URL: cannot reach Redis at {_safe(settings.REDIS_URL)} ({exc})"
                    ) from None
                time.sleep(0.2)
            finally:
                client.close()
        self.stdout.write(
            f"Redis answers at {_safe(settings.REDIS_URL)}; REALTIME settings are valid."
        )


def _safe(url: str) -> str:
    """Return the URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
