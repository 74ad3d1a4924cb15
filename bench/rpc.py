"""RPC: clients invoking an echo in a loop, one call outstanding each.

The peers have no invocation limit. Ours has one (MAX_INVOCATIONS_PER_SECOND,
50 a second per connection by default), so ours is measured twice, each time
on a fresh process of the test application (EchoHub at /hubs/echo):

- ``raised``: the limit raised out of the way (`RPC_OPTIONS`), clients
  looping as fast as their replies come, like the peers' clients;
- ``default``: the limit as deployed, each client keeping to it (at most
  that many calls a second), as a well-behaved client does; the server
  would refuse the rest with "Too many invocations; slow down.".
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from bench import stats
from bench.servers import RPC_OPTIONS
from realtime.conf import RealtimeSettings

if TYPE_CHECKING:
    from bench.dialects import ClientSpec
    from bench.scenarios import ContenderRun
    from bench.servers import ServerProcess

#: Per pass: the result key, REALTIME options, client pacing (calls a
#: second, 0: none). "rpc" is the pass comparable with the peers'.
LIMITS: dict[str, tuple[str, dict, float]] = {
    "raised": ("rpc", RPC_OPTIONS, 0.0),
    "default": ("rpc_default", {}, RealtimeSettings().MAX_INVOCATIONS_PER_SECOND),
}


def rpc_passes(run: ContenderRun, database_url: str) -> None:
    """Ours: each pass of `LIMITS` on a fresh server of the test application."""
    for limit, (key, options, rate) in LIMITS.items():
        with contextlib.ExitStack() as stack:
            server, port, _ = run._serve(
                stack, rpc=True, options=options, database_url=database_url
            )
            stack.callback(run._close_clients)
            spec = run.contender.rpc_spec(port)
            run._guard(f"rpc ({limit} limit)", rpc, run, server, spec, key, rate)


def rpc(
    run: ContenderRun, server: ServerProcess, spec: ClientSpec, key: str = "rpc", rate: float = 0
) -> None:
    """Calls a second and round trips at each of the plan's client counts."""
    plan = run.ctx.plan
    results = run.result.setdefault(key, {})
    for size in plan.rpc_sizes:
        resized = run._resize(spec, size)
        cpu, wakeups = server.cpu_seconds(), server.wakeups()
        profiler = None
        if size == max(plan.rpc_sizes):
            profiler = run._profiler(server, f"{key}-{size}")
        runs = [
            stats.rpc_run(run.ctx.loadgen.rpc(size, plan.rpc_duration, rate))
            for _ in range(plan.repeats)
        ]
        if profiler is not None:
            profiler.stop()
        calls = sum(r["calls"] for r in runs)
        wakeups = server.wakeups() - wakeups
        results[size] = {
            "clients": resized["live"],
            "duration_s": plan.rpc_duration,
            "paced_per_client": rate,
            **stats.summarize(runs, ("calls_per_s", "p50_ms", "p99_ms")),
            "errors": sum(r["errors"] for r in runs),
            "server_cpu_us_per_call": (
                1e6 * (server.cpu_seconds() - cpu) / calls if calls else None
            ),
            "calls_per_wakeup": calls / wakeups if wakeups else None,
            # Other work on the machine takes the server's core and caches.
            "load_average": os.getloadavg()[0],
        }
    run.ctx.loadgen.trim(0)
