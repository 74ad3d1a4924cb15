"""``GET /healthz``: does the database answer, does Redis answer, which Redis is primary."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from redis.exceptions import RedisError

from realtime.redis_pool import primary_address
from realtime.redis_url import parse


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


async def _redis_primary() -> str | None:
    try:
        return await primary_address(parse(settings.REDIS_URL), timeout=2)
    except (RedisError, OSError, TimeoutError):
        return None


async def healthz(request):
    """Answer 200 when the database and Redis both answer, else 503 naming the failure.

    ``redis_primary`` is the ``host:port`` of the Redis that answered: with
    Sentinel, the primary the sentinels name now.
    """
    database = await sync_to_async(_database_ok)()
    primary = await _redis_primary()
    body = {
        "database": "ok" if database else "unavailable",
        "redis": "ok" if primary else "unavailable",
        "redis_primary": primary,
    }
    return JsonResponse(body, status=200 if database and primary else 503)
