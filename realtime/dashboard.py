"""The admin's "Realtime" page and the hub that keeps it live (staff only).

The page connects to `DashboardHub` with the official SignalR client and
calls ``Snapshot(query)`` every two seconds: instances alive (their stats
snapshots in Redis, see realtime/stats.py), connections by hub and
transport, users online (count, and up to `USER_LIST_LIMIT` matching the
query with their connections), the last run_notifier batch, Redis status
and the last refusals of every instance.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from redis.exceptions import RedisError

from realtime import stats, store
from realtime.hub import AuthenticatedHub, HubException

USER_LIST_LIMIT = 100
REFUSAL_LIMIT = 50
MAX_QUERY = 150


class DashboardHub(AuthenticatedHub):
    """Live numbers for the admin's Realtime page."""

    namespace = "dashboard"

    @classmethod
    def allows(cls, user: Any) -> bool:
        return bool(user.is_active and user.is_staff)

    async def snapshot(self, query: str) -> dict:
        """Return everything the page shows; `query` filters users online by name."""
        if len(query) > MAX_QUERY:
            raise HubException(f"Search text is limited to {MAX_QUERY} characters.")
        try:
            return await build_snapshot(query.strip())
        except (RedisError, OSError):
            return {"time": time.time(), "redis": {"ok": False}}


async def _usernames(user_ids: set[str], query: str = "") -> dict[str, str]:
    ids = [int(u) for u in user_ids if u.isdigit()]
    users = get_user_model().objects.filter(pk__in=ids)
    if query:
        users = users.filter(username__icontains=query)
    users = users.order_by("username").values_list("pk", "username")
    return {str(pk): name async for pk, name in users[:USER_LIST_LIMIT]}


async def _users_online(query: str) -> dict:
    online = set(await store.online_users())
    names = await _usernames(online, query)
    listed = []
    for user_id, username in names.items():
        members = await store.connections_of(user_id)
        hubs = Counter(member.partition("|")[0] for member in members)
        listed.append({"username": username, "connections": len(members), "byHub": dict(hubs)})
    return {"count": len(online), "list": listed}


def _refusals(instances: list[dict]) -> list[dict]:
    merged = [
        {**refusal, "instance": snapshot["instance"]}
        for snapshot in instances
        for refusal in snapshot.get("refusals", ())
    ]
    merged.sort(key=lambda r: r["time"], reverse=True)
    return merged[:REFUSAL_LIMIT]


async def build_snapshot(query: str = "") -> dict:
    """Assemble the dashboard's numbers from Redis and the database."""
    started = time.perf_counter()
    await store.ping()
    redis_ms = round((time.perf_counter() - started) * 1000, 2)
    instances = await stats.instances()
    by_hub_transport: Counter[str] = Counter()
    for snapshot in instances:
        by_hub_transport.update(snapshot.get("byHubTransport", {}))
    refusals = _refusals(instances)
    names = await _usernames({r["user"] for r in refusals if r.get("user")})
    for refusal in refusals:
        refusal["user"] = names.get(refusal.get("user") or "", "")
    for snapshot in instances:
        snapshot.pop("refusals", None)
    return {
        "time": time.time(),
        "redis": {"ok": True, "ms": redis_ms},
        "instances": instances,
        "byHubTransport": dict(sorted(by_hub_transport.items())),
        "users": await _users_online(query),
        "worker": await stats.worker(),
        "refusals": refusals,
    }


def dashboard_page(request):
    """The admin page (wrapped in ``admin.site.admin_view``: staff only)."""
    context = {**admin.site.each_context(request), "title": "Realtime"}
    return TemplateResponse(request, "admin/realtime_dashboard.html", context)
