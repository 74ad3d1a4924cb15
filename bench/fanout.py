"""Fan-out: one broadcast at a time, and broadcasts back to back, to N clients.

"One broadcast" is measured per run as a first (cold) broadcast alone, then
`spaced_count` broadcasts spaced so that each meets no other: the spacing is
the plan's `spaced_interval`, stretched to 1.5 times the cold broadcast's
time, up to `spaced_max_interval`. A contender whose median broadcast is
slower than the spacing overlaps them; the result says so (``overlapped``). The cold broadcast is
reported apart, the spaced ones as the median over each run's median.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from bench import stats

if TYPE_CHECKING:
    from bench.dialects import ClientSpec
    from bench.scenarios import ContenderRun
    from bench.servers import ServerProcess, Trigger

FANOUT_KEYS = ("complete_ms", "complete_max_ms", "p50_ms", "p99_ms", "throughput", "duration_s")
#: The spacing of one run's broadcasts, in units of its cold broadcast's time.
STRETCH = 1.5


def spacing(cold_ms: float, least: float, most: float) -> float:
    """Seconds between spaced broadcasts after a cold one of `cold_ms`."""
    if math.isnan(cold_ms):
        return most
    return min(most, max(least, STRETCH * cold_ms / 1000))


def fanout(
    run: ContenderRun, server: ServerProcess, trigger: Trigger, spec: ClientSpec, size: int
) -> None:
    """Measure one broadcast at a time and back to back at `size` clients."""
    plan = run.ctx.plan
    resized = run._resize(spec, size)
    dropped_before = run.ctx.loadgen.status()["dropped"]
    entry: dict[str, Any] = {"clients": resized["live"], "settle_s": resized["settle_s"]}
    colds: list[dict] = []
    intervals: list[float] = []
    for mode in ("spaced", "burst"):
        runs = []
        profiler = None
        if mode == "burst" and size == max(plan.fanout_sizes):
            profiler = run._profiler(server, f"burst-{size}")
        busy = 0.0
        client_cpu = server_cpu = 0.0
        for _ in range(plan.repeats):
            cpu = server.cpu_seconds(), run._loadgen_cpu()
            began = time.monotonic()
            if mode == "spaced":
                colds.append(run._broadcasts(trigger, spec, 1, 0.0))
                interval = spacing(
                    colds[-1]["complete_ms"], plan.spaced_interval, plan.spaced_max_interval
                )
                intervals.append(interval)
                runs.append(run._broadcasts(trigger, spec, plan.spaced_count, interval))
            else:
                runs.append(run._broadcasts(trigger, spec, plan.burst_count, 0.0))
            busy += time.monotonic() - began
            server_cpu += server.cpu_seconds() - cpu[0]
            client_cpu += run._loadgen_cpu() - cpu[1]
        if profiler is not None:
            profiler.stop()
        every = runs + colds if mode == "spaced" else runs
        received = sum(r["received"] for r in every)
        entry[mode] = {
            "broadcasts": plan.spaced_count if mode == "spaced" else plan.burst_count,
            "interval_s": max(intervals) if mode == "spaced" else 0.0,
            **stats.summarize(runs, FANOUT_KEYS),
            "received": received,
            "expected": sum(r["expected"] for r in every),
            "server_cpu_us_per_msg": 1e6 * server_cpu / received if received else None,
            # Averages over whole runs (commands and collection included),
            # so lower bounds of the load while messages flowed.
            "server_cpu_pct": 100 * server_cpu / busy if busy else None,
            "client_cpu_pct_per_worker": (100 * client_cpu / busy / plan.workers if busy else None),
        }
        if mode == "spaced":
            # Typically, not once: a shared machine delays a broadcast now and then.
            entry["spaced"]["overlapped"] = any(
                r["complete_ms"] > 1000 * interval
                for r, interval in zip(runs, intervals, strict=True)
            )
            entry["cold"] = stats.summarize(colds, ("complete_ms", "p50_ms", "p99_ms"))
    status = run.ctx.loadgen.status()
    entry["dropped"] = status["dropped"] - dropped_before
    entry["live_after"] = status["live"]
    run.result["fanout"][size] = entry
