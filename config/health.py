"""``GET /healthz``: does the database answer, does Redis answer."""

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


async def _redis_ok() -> bool:
    client = Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await asyncio.wait_for(client.ping(), timeout=3))
    except (RedisError, OSError, TimeoutError):
        return False
    finally:
        await client.aclose()


async def healthz(request):
    """Answer 200 when the database and Redis both answer, else 503 naming the failure."""
    database = await sync_to_async(_database_ok)()
    redis = await _redis_ok()
    body = {
        "database": "ok" if database else "unavailable",
        "redis": "ok" if redis else "unavailable",
    }
    return JsonResponse(body, status=200 if database and redis else 503)
