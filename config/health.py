"""``GET /healthz``: does the database answer, does every Redis shard answer, which
Redis is the primary of each."""

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from redis.exceptions import RedisError

from realtime.redis_pool import primary_address
from realtime.redis_url import RedisTarget, parse_all


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


async def _redis_primary(target: RedisTarget) -> str | None:
    try:
        return await primary_address(target, timeout=2)
    except (RedisError, OSError, TimeoutError):
        return None


async def healthz(request):
    """Answer 200 when the database and every Redis shard answer, else 503 naming the failure.

    ``redis_shards`` holds, in ``REDIS_URL`` order, the ``host:port`` of the
    Redis that answered for each shard (with Sentinel, the primary the
    sentinels name now), or null for a shard that did not answer;
    ``redis_primary`` is the first shard's.
    """
    database = await sync_to_async(_database_ok)()
    primaries = await asyncio.gather(*map(_redis_primary, parse_all(settings.REDIS_URL)))
    redis = all(primaries)
    body = {
        "database": "ok" if database else "unavailable",
        "redis": "ok" if redis else "unavailable",
        "redis_primary": primaries[0],
        "redis_shards": primaries,
    }
    return JsonResponse(body, status=200 if database and redis else 503)
