"""``python -m bench.recorders``: CPU of the metric recorders, one process against ``--workers``.

Times the recorders of `realtime.metrics` in a process of their own, once
with prometheus_client's default values (one process) and once with
``PROMETHEUS_MULTIPROC_DIR`` set (each value in a memory-mapped file, as
under ``realtime.server --workers N``), and the exposition /metrics builds.
Best of five rounds of process time per call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import django

from realtime import Hub, metrics

ROOT = Path(__file__).resolve().parent.parent
CALLS = 100_000
ROUNDS = 5


def per_call(action: Callable[[], object], calls: int = CALLS) -> float:
    """Microseconds of process time per call, the best of ROUNDS."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(calls):
            action()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return round(best, 2)


class TimedHub(Hub):
    """One method to count invocations of."""

    async def add(self, a: int, b: int) -> int:
        return a + b


def measure() -> dict[str, float]:
    """Time each recorder in this process (its mode chosen by the environment)."""
    django.setup()
    hub = TimedHub.namespace
    return {
        "invoked": per_call(lambda: metrics.invoked(TimedHub, "Add", "ok", 0.001)),
        "opened+closed": per_call(
            lambda: (
                metrics.connection_opened(hub, "WebSockets"),
                metrics.connection_closed(hub, "WebSockets", "client_closed"),
            )
        ),
        "fanned_out": per_call(lambda: metrics.fanned_out(time.time(), time.time(), 10, 1000)),
        "wrote": per_call(lambda: metrics.wrote(100)),
        "exposition": per_call(metrics.exposition, calls=100),
    }


def run(directory: str | None) -> dict[str, float]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if directory:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    code = "import json, bench.recorders as r; print(json.dumps(r.measure()))"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.splitlines()[-1])


def main() -> None:
    single = run(None)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
        multi = run(directory)
    print(f"{'µs per call':<16}{'one process':>12}{'--workers':>12}")
    for name, value in single.items():
        print(f"{name:<16}{value:>12}{multi[name]:>12}")


if __name__ == "__main__":
    main()
