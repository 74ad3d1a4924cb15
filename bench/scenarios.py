"""The scenarios, run against one contender: idle cost, fan-out, storm, e2e, RPC.

One server process per contender. The order is fixed so that memory is
measured on a fresh process: warm-up, idle, fan-out at each size, connect
storm, end to end (ours only), then RPC (ours on the test app with EchoHub).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis

from bench import abuse, stats
from bench.dialects import SIGNALR, ClientSpec
from bench.loadgen import LoadGenerator
from bench.plans import Plan
from bench.profiling import Profiler
from bench.servers import (
    PASSWORD,
    Contender,
    Database,
    ServerProcess,
    Trigger,
    cpu_seconds,
    start_server,
)
from bench.wsclient import http_post

logger = logging.getLogger(__name__)

#: Closing at least this many clients at once waits for the server to settle.
SETTLE_AFTER = 500
FANOUT_KEYS = ("complete_ms", "complete_max_ms", "p50_ms", "p99_ms", "throughput", "duration_s")


@dataclass
class Context:
    """What every contender's run shares."""

    plan: Plan
    loadgen: LoadGenerator
    redis_url: str
    workdir: Path
    database: Database | None
    profile_dir: Path | None = None
    auth: str = "token"
    #: Called after every scenario, so an interrupted run keeps its results.
    checkpoint: Callable[[], None] = lambda: None


@dataclass
class ContenderRun:
    """Run every scenario against one contender and collect the results."""

    contender: Contender
    ctx: Context
    result: dict[str, Any] = field(default_factory=dict)
    server: ServerProcess | None = None
    _seq: int = 0

    def __post_init__(self) -> None:
        c = self.contender
        self.result = {
            "name": c.name,
            "label": c.label,
            "server": c.server,
            "protocol": c.protocol if c.ours else "json",
            "idle": None,
            "fanout": {},
            "storm": None,
            "e2e": None,
            "slow_readers": None,
            "rpc": {},
            "errors": [],
        }

    # Helpers ------------------------------------------------------------------

    def _seqs(self, count: int) -> list[int]:
        seqs = list(range(self._seq, self._seq + count))
        self._seq += count
        return seqs

    def _credentials(self) -> list[str]:
        if not self.contender.ours or self.ctx.database is None:
            return []
        creds = self.ctx.database.credentials
        return creds["cookies"] if self.ctx.auth == "cookie" else creds["tokens"]

    def _resize(self, spec: ClientSpec, count: int) -> dict:
        """Make the pool exactly `count` live sessions of `spec`."""
        live = self.ctx.loadgen.status()["live"]
        opened = None
        settled = 0.0
        if live > count:
            self.ctx.loadgen.trim(count)
            if live - count >= SETTLE_AFTER:
                settled = self._settle()
        elif live < count:
            opened = self.ctx.loadgen.open(
                spec,
                count - live,
                self._credentials(),
                concurrency=self.ctx.plan.open_concurrency,
            )
            if opened["failed"]:
                logger.warning(
                    "%s: %d of %d clients failed to open: %s",
                    self.contender.name,
                    opened["failed"],
                    count - live,
                    opened["errors"],
                )
        status = self.ctx.loadgen.status()
        return {"live": status["live"], "opened": opened, "settle_s": settled}

    def _settle(self, timeout: float = 120.0, busy: float = 0.4) -> float:
        """Wait until the server's CPU use drops below `busy`; return the seconds waited.

        Closing thousands of clients at once leaves the server busy cleaning
        up; measuring during that would blame the next scenario.
        """
        server = self.server
        began = time.monotonic()
        if server is None:
            return 0.0
        for _ in range(int(timeout / 0.5)):
            cpu = server.cpu_seconds()
            time.sleep(0.5)
            if (server.cpu_seconds() - cpu) / 0.5 < busy:
                break
        return time.monotonic() - began

    def _broadcasts(
        self, trigger: Trigger, spec: ClientSpec, count: int, interval: float, **extra: Any
    ) -> dict:
        seqs = self._seqs(count)
        op = extra.pop("op", "broadcast")
        expected = self.ctx.loadgen.arm(seqs, spec)
        sent = trigger.run(op=op, seq0=seqs[0], count=count, interval=interval, **extra)
        # Generous: 15 s, plus the sending time, plus 0.5 ms per message.
        timeout = min(600.0, 15.0 + count * interval + expected / 2000)
        receipts = self.ctx.loadgen.collect(timeout=timeout)
        if receipts["received"] < receipts["expected"]:
            logger.warning(
                "%s: %s x%d: %d of %d receipts missing after %.0f s (%d connections dropped)",
                self.contender.name,
                op,
                count,
                receipts["expected"] - receipts["received"],
                receipts["expected"],
                timeout,
                receipts["dropped"],
            )
        return stats.fanout_run(receipts, sent, seqs) | {"dropped": receipts["dropped"]}

    # Scenarios ------------------------------------------------------------------

    def run(self) -> dict:
        c, ctx = self.contender, self.ctx
        database_url = ctx.database.copy(c.name) if c.ours and ctx.database else ""
        Redis.from_url(ctx.redis_url).flushall()
        # ExitStack callbacks run in reverse and each runs even if another
        # raised: the clients close first, then the trigger and the server stop.
        with contextlib.ExitStack() as stack:
            server, port, env = self._serve(stack, rpc=False, database_url=database_url)
            trigger = Trigger(c.trigger, env, ctx.workdir / f"{c.name}-trigger.log")
            stack.callback(trigger.stop)
            stack.callback(self._close_clients)
            self.main_scenarios(server, trigger, port)
        if c.ours and not c.fanout_only:
            with contextlib.ExitStack() as stack:
                server, port, _ = self._serve(stack, rpc=True, database_url=database_url)
                stack.callback(self._close_clients)
                self._guard("rpc", self.rpc, server, c.rpc_spec(port))
        return self.result

    def _serve(
        self, stack: contextlib.ExitStack, *, rpc: bool, database_url: str
    ) -> tuple[ServerProcess, int, dict]:
        """Start the contender's server, stopped when `stack` closes."""
        server, port, env = start_server(
            self.contender,
            rpc=rpc,
            redis_url=self.ctx.redis_url,
            workdir=self.ctx.workdir,
            database_url=database_url,
        )
        stack.callback(server.stop)
        self.server = server
        return server, port, env

    def main_scenarios(self, server: ServerProcess, trigger: Trigger, port: int) -> None:
        """Every scenario that runs on the contender's own application."""
        c, plan = self.contender, self.ctx.plan
        spec = c.spec(port, auth=self.ctx.auth)
        self._guard("warm-up", self.warm_up, trigger, spec, port)
        self._guard("idle", self.idle, server, spec)
        for size in fanout_order(plan.fanout_sizes, plan.idle_size):
            if not c.max_clients or size <= c.max_clients:
                self._guard(f"fan-out {size}", self.fanout, server, trigger, spec, size)
        if c.fanout_only:
            self._close_clients()
            return
        if c.ours and self.ctx.database:
            self._guard("slow readers", abuse.slow_readers, self, server, trigger, spec, port)
        self._close_clients()
        self._guard("storm", self.storm, spec, port)
        if c.ours and self.ctx.database:
            self._guard("e2e", self.e2e, trigger, spec, port)
        self._close_clients()
        if not c.ours:
            self._guard("rpc", self.rpc, server, c.rpc_spec(port))

    def _close_clients(self) -> None:
        try:
            live = self.ctx.loadgen.status()["live"]
            self.ctx.loadgen.trim(0)
        except (RuntimeError, TimeoutError):
            logger.warning("%s: could not close every client", self.contender.name, exc_info=True)
            return
        if live >= SETTLE_AFTER:
            with contextlib.suppress(OSError):  # the server may have exited
                self._settle()

    def _guard(self, name: str, scenario: Any, *args: Any) -> None:
        started = time.monotonic()
        try:
            scenario(*args)
        except Exception as exc:
            logger.exception("%s: %s failed", self.contender.name, name)
            self.result["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            self._close_clients()
        logger.info("%s: %s took %.1f s", self.contender.name, name, time.monotonic() - started)
        try:
            self.ctx.checkpoint()
        except Exception:
            logger.warning("could not write intermediate results", exc_info=True)

    def warm_up(self, trigger: Trigger, spec: ClientSpec, port: int) -> None:
        """Load lazily imported code and start the backplane before measuring memory."""
        credentials = self._credentials()
        if self.contender.ours and self.ctx.database:
            # One real client's path: POST /realtime/token, then connect with it.
            customer = self.ctx.database.credentials["customer"]["username"]
            status, body = _post_sync(port, "/realtime/token", customer)
            if status != 200:
                raise RuntimeError(f"/realtime/token answered {status}")
            credentials = [body["accessToken"]]
        self.ctx.loadgen.open(spec, 20, credentials, concurrency=20)
        for _ in range(2):
            self._broadcasts(trigger, spec, 2, 0.0)
        self.ctx.loadgen.trim(0)
        time.sleep(self.ctx.plan.settle)

    def idle(self, server: ServerProcess, spec: ClientSpec) -> None:
        """RSS growth per idle connection on a fresh process."""
        size = self.ctx.plan.idle_size
        before = server.rss_kib()
        cpu = server.cpu_seconds()
        profiler = self._profiler(server, f"open-{size}")
        resized = self._resize(spec, size)
        if profiler is not None:
            profiler.stop()
        time.sleep(2 * self.ctx.plan.settle)
        after = server.rss_kib()
        # What keeping the connections costs: client pings, server timers.
        window = self.ctx.plan.idle_cpu_window
        profiler = self._profiler(server, f"idle-{size}")
        cpu_idle = server.cpu_seconds()
        time.sleep(window)
        cpu_idle = server.cpu_seconds() - cpu_idle
        if profiler is not None:
            profiler.stop()
        live = resized["live"]
        opened = resized["opened"] or {}
        finished = opened.get("finished") or []
        self.result["idle"] = {
            "connections": live,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_connection": (after - before) / live if live else None,
            "open_per_s": len(finished) / (finished[-1] - opened["began"]) if finished else None,
            "open_cpu_ms": 1000 * (server.cpu_seconds() - cpu) / live if live else None,
            "failed": opened.get("failed", 0),
            "idle_cpu_pct": 100 * cpu_idle / window,
        }

    def fanout(self, server: ServerProcess, trigger: Trigger, spec: ClientSpec, size: int) -> None:
        plan = self.ctx.plan
        resized = self._resize(spec, size)
        dropped_before = self.ctx.loadgen.status()["dropped"]
        entry: dict[str, Any] = {"clients": resized["live"], "settle_s": resized["settle_s"]}
        for mode, count, interval in (
            ("spaced", plan.spaced_count, plan.spaced_interval),
            ("burst", plan.burst_count, 0.0),
        ):
            runs = []
            profiler = None
            if mode == "burst" and size == max(plan.fanout_sizes):
                profiler = self._profiler(server, f"burst-{size}")
            busy = 0.0
            client_cpu = server_cpu = 0.0
            for _ in range(plan.repeats):
                cpu = server.cpu_seconds(), self._loadgen_cpu()
                began = time.monotonic()
                runs.append(self._broadcasts(trigger, spec, count, interval))
                busy += time.monotonic() - began
                server_cpu += server.cpu_seconds() - cpu[0]
                client_cpu += self._loadgen_cpu() - cpu[1]
            if profiler is not None:
                profiler.stop()
            received = sum(r["received"] for r in runs)
            entry[mode] = {
                "broadcasts": count,
                "interval_s": interval,
                **stats.summarize(runs, FANOUT_KEYS),
                "received": received,
                "expected": sum(r["expected"] for r in runs),
                "server_cpu_us_per_msg": 1e6 * server_cpu / received if received else None,
                # Averages over whole runs (commands and collection included),
                # so lower bounds of the load while messages flowed.
                "server_cpu_pct": 100 * server_cpu / busy if busy else None,
                "client_cpu_pct_per_worker": (
                    100 * client_cpu / busy / plan.workers if busy else None
                ),
            }
        status = self.ctx.loadgen.status()
        entry["dropped"] = status["dropped"] - dropped_before
        entry["live_after"] = status["live"]
        self.result["fanout"][size] = entry

    def _loadgen_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.ctx.loadgen.pids)

    def _profiler(self, server: ServerProcess, phase: str) -> Profiler | None:
        if self.ctx.profile_dir is None:
            return None
        return Profiler(server.pid, self.ctx.profile_dir / f"{self.contender.name}-{phase}")

    def storm(self, spec: ClientSpec, port: int) -> None:
        """Every client connects at once; count successes and failures."""
        plan = self.ctx.plan
        if self.contender.ours:
            spec = ClientSpec(
                SIGNALR, port, spec.path, auth=spec.auth, ready_target="UnreadCountUpdated"
            )
        runs = []
        for _ in range(plan.storm_repeats):
            start_at = time.time() + 0.3
            opened = self.ctx.loadgen.open(
                spec,
                plan.storm_size,
                self._credentials(),
                concurrency=plan.storm_size,
                timeout=60.0,
                start_at=start_at,
            )
            runs.append(stats.storm_run(opened, start_at) | {"errors": opened["errors"]})
            self._close_clients()
        self.result["storm"] = {
            "clients": plan.storm_size,
            **stats.summarize(runs, ("per_s", "elapsed_s", "p50_ms", "p99_ms")),
            "failed": sum(r["failed"] for r in runs),
            "errors": [r["errors"] for r in runs if r["errors"]],
        }

    def e2e(self, trigger: Trigger, spec: ClientSpec, port: int) -> None:
        """Order status change committed by the service -> the customer's client."""
        plan = self.ctx.plan
        credentials = self.ctx.database.credentials
        resized = self._resize(spec, plan.e2e_others)
        customer = ClientSpec(
            SIGNALR, port, "/hubs/orders", auth="cookie", subscribe_order=credentials["order"]
        )
        opened = self.ctx.loadgen.open(customer, 1, [credentials["customer"]["cookie"]])
        if opened["opened"] != 1:
            raise RuntimeError(f"the customer could not connect: {opened['errors']}")
        runs = [
            self._broadcasts(
                trigger,
                customer,
                plan.e2e_count,
                plan.e2e_interval,
                op="orders",
                order=credentials["order"],
            )
            for _ in range(plan.repeats)
        ]
        self.result["e2e"] = {
            "others": resized["live"],
            "changes": plan.e2e_count,
            **stats.summarize(runs, ("p50_ms", "p99_ms", "complete_max_ms")),
            "received": sum(r["received"] for r in runs),
            "expected": sum(r["expected"] for r in runs),
        }

    def rpc(self, server: ServerProcess, spec: ClientSpec) -> None:
        plan = self.ctx.plan
        for size in plan.rpc_sizes:
            resized = self._resize(spec, size)
            cpu = server.cpu_seconds()
            profiler = None
            if size == max(plan.rpc_sizes):
                profiler = self._profiler(server, f"rpc-{size}")
            runs = [
                stats.rpc_run(self.ctx.loadgen.rpc(size, plan.rpc_duration))
                for _ in range(plan.repeats)
            ]
            if profiler is not None:
                profiler.stop()
            calls = sum(r["calls"] for r in runs)
            self.result["rpc"][size] = {
                "clients": resized["live"],
                "duration_s": plan.rpc_duration,
                **stats.summarize(runs, ("calls_per_s", "p50_ms", "p99_ms")),
                "errors": sum(r["errors"] for r in runs),
                "server_cpu_us_per_call": (
                    1e6 * (server.cpu_seconds() - cpu) / calls if calls else None
                ),
            }
        self.ctx.loadgen.trim(0)


def fanout_order(sizes: tuple[int, ...], idle_size: int) -> list[int]:
    """The idle pool's size first, then growing, then shrinking: fewest reconnects."""
    sizes = sorted(set(sizes))
    first = [idle_size] if idle_size in sizes else []
    larger = [s for s in sizes if s > idle_size]
    smaller = [s for s in sizes if s < idle_size][::-1]
    return first + larger + smaller


def _post_sync(port: int, path: str, username: str) -> tuple[int, dict]:
    return asyncio.run(
        http_post("127.0.0.1", port, path, form={"username": username, "password": PASSWORD})
    )
