"""``manage.py realtime_check``: fail fast, in one line, when Redis or REALTIME is wrong."""

import asyncio
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from realtime import conf, redis_url
from realtime.redis_pool import primary_address


class Command(BaseCommand):
    help = (
        "Check the REALTIME setting and that REDIS_URL answers (optionally waiting for it); "
        "name the Redis primary."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep retrying")

    def handle(self, *args, wait, **options):
        try:
            conf.get()
        except ImproperlyConfigured as exc:
            raise CommandError(f"Configuration error: {exc}") from None
        url = redis_url.redacted(settings.REDIS_URL)
        target = redis_url.parse(settings.REDIS_URL)
        deadline = time.monotonic() + wait
        while True:
            try:
                primary = asyncio.run(primary_address(target))
                break
            except (RedisError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"REDIS_URL: cannot reach Redis at {url} ({exc})") from None
                time.sleep(0.2)
        through = f" (found by the sentinels of {target.service!r})" if target.uses_sentinel else ""
        self.stdout.write(
            f"Redis answers at {url}; the primary is {primary}{through}; "
            "REALTIME settings are valid."
        )
