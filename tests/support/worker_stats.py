"""The workers of a `realtime.server --workers N` supervisor, and their connections."""

from __future__ import annotations

import json
from collections.abc import Iterable

import psutil
from redis import Redis

from realtime.store import key


def workers_of(supervisor: int) -> list[int]:
    """The PIDs of the supervisor's running workers."""
    return [p.pid for p in psutil.Process(supervisor).children() if p.is_running()]


def connections_by_pid(redis: Redis, pids: Iterable[int] | None = None) -> dict[int, int]:
    """Live connections per server process (of `pids`, if given), from the
    processes' stats snapshots (the dashboard's source)."""
    # A dead process's snapshot may expire between the scan and the read.
    values = redis.mget(list(redis.scan_iter(key("stats", "*"))))
    snapshots = [json.loads(v) for v in values if v is not None]
    by_pid = {int(s["instance"].rsplit(":", 1)[1]): s["connections"] for s in snapshots}
    if pids is None:
        return by_pid
    return {pid: by_pid[pid] for pid in pids if pid in by_pid}
