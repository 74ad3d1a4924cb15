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
        "Check the REALTIME setting and that every Redis of REDIS_URL answers (optionally "
        "waiting for it); name the primary of each."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep retrying")

    def handle(self, *args, wait, **options):
        try:
            conf.get()
        except ImproperlyConfigured as exc:
            raise CommandError(f"Configuration error: {exc}") from None
        targets = redis_url.parse_all(settings.REDIS_URL)
        deadline = time.monotonic() + wait
        found = [self._primary(target, deadline) for target in targets]
        if len(targets) == 1:
            self.stdout.write(f"Redis answers at {found[0]}; REALTIME settings are valid.")
            return
        for number, line in enumerate(found, start=1):
            self.stdout.write(f"Redis shard {number} of {len(targets)} answers at {line}.")
        self.stdout.write("REALTIME settings are valid.")

    def _primary(self, target: redis_url.RedisTarget, deadline: float) -> str:
        """Return "<url>; the primary is <host:port>[ (found by ...)]" once it answers."""
        url = redis_url.redacted(target.url)
        while True:
            try:
                primary = asyncio.run(primary_address(target))
                break
            except (RedisError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"REDIS_URL: cannot reach Redis at {url} ({exc})") from None
                time.sleep(0.2)
        through = f" (found by the sentinels of {target.service!r})" if target.uses_sentinel else ""
        return f"{url}; the primary is {primary}{through}"
