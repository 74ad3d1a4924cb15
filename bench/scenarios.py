"""The scenarios, run against one contender: idle cost, fan-out, storm, e2e, RPC.

The order is fixed so that memory is measured on fresh processes. First, for
each opening rate but the plan's first, a server process of its own: warm-up
and idle at that rate. Then the main process: warm-up, idle at the first
rate, fan-out at each size, connect storm, end to end (ours only) and the
peers' RPC. Ours' RPC runs last on processes of the test app with EchoHub
(`bench.rpc`).
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
from bench.database import Database
from bench.dialects import SIGNALR, ClientSpec
from bench.fanout import fanout
from bench.loadgen import LoadGenerator
from bench.plans import Plan
from bench.profiling import Profiler
from bench.rpc import rpc, rpc_passes
from bench.servers import (
    PASSWORD,
    Contender,
    ServerProcess,
    Trigger,
    base_env,
    cpu_seconds,
    start_server,
)
from bench.trigger import STEPS
from bench.wsclient import http_post

logger = logging.getLogger(__name__)

#: Closing at least this many clients at once waits for the server to settle.
SETTLE_AFTER = 500


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
    #: Set once a contender's run reports an error: the work dir is kept.
    failed: bool = False


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
            "idle_by_rate": {},
            "fanout": {},
            "storm": None,
            "e2e": None,
            "slow_readers": None,
            "rpc": {},
            "rpc_default": {},
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

    def _resize(self, spec: ClientSpec, count: int, concurrency: int = 0) -> dict:
        """Make the pool exactly `count` live sessions of `spec`.

        New sessions open at most `concurrency` at a time (default: the
        plan's first opening rate).
        """
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
                concurrency=concurrency or self.ctx.plan.open_rates[0],
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
        reply = trigger.run(op=op, seq0=seqs[0], count=count, interval=interval, **extra)
        sent = reply["sent"]
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
        return (
            stats.fanout_run(receipts, sent, seqs)
            | {"dropped": receipts["dropped"]}
            | stats.step_medians(reply.get("steps", ()))
        )

    # Scenarios ------------------------------------------------------------------

    def run(self) -> dict:
        c, ctx = self.contender, self.ctx
        database_url = ctx.database.copy(c.name) if c.ours and ctx.database else ""
        Redis.from_url(ctx.redis_url).flushall()
        # ExitStack callbacks run in reverse and each runs even if another
        # raised: the clients close first, then the trigger and the server stop.
        with contextlib.ExitStack() as stack:
            database = {"DATABASE_URL": database_url} if database_url else {}
            env = base_env(ctx.redis_url, {**c.env, **database}, c.root)
            trigger = Trigger(c.trigger, env, ctx.workdir / f"{c.name}-trigger.log", c.root)
            stack.callback(trigger.stop)
            if self._wanted("idle"):
                for rate in ctx.plan.open_rates[1:]:
                    self._idle_apart(trigger, rate, database_url)
            server, port, _ = self._serve(stack, rpc=False, database_url=database_url)
            stack.callback(self._close_clients)
            self.main_scenarios(server, trigger, port)
        if c.ours and not c.fanout_only and self._wanted("rpc"):
            rpc_passes(self, database_url)
        return self.result

    def _wanted(self, scenario: str) -> bool:
        return not self.ctx.plan.scenarios or scenario in self.ctx.plan.scenarios

    def _idle_apart(self, trigger: Trigger, rate: int, database_url: str) -> None:
        """Idle cost at opening `rate`, on a fresh server process of its own."""
        with contextlib.ExitStack() as stack:
            server, port, _ = self._serve(stack, rpc=False, database_url=database_url)
            stack.callback(self._close_clients)
            spec = self.contender.spec(port, auth=self.ctx.auth)
            self._guard("warm-up", self.warm_up, trigger, spec, port)
            self._guard(f"idle ({rate} at a time)", self.idle, server, spec, rate)

    def _serve(
        self,
        stack: contextlib.ExitStack,
        *,
        rpc: bool,
        database_url: str,
        options: dict | None = None,
    ) -> tuple[ServerProcess, int, dict]:
        """Start the contender's server, stopped when `stack` closes."""
        server, port, env = start_server(
            self.contender,
            rpc=rpc,
            redis_url=self.ctx.redis_url,
            workdir=self.ctx.workdir,
            database_url=database_url,
            options=options,
        )
        stack.callback(server.stop)
        self.server = server
        return server, port, env

    def main_scenarios(self, server: ServerProcess, trigger: Trigger, port: int) -> None:
        """Every scenario that runs on the contender's own application."""
        c, plan = self.contender, self.ctx.plan
        spec = c.spec(port, auth=self.ctx.auth)
        self._guard("warm-up", self.warm_up, trigger, spec, port)
        if self._wanted("idle"):
            rate = plan.open_rates[0]
            self._guard(f"idle ({rate} at a time)", self.idle, server, spec, rate)
        if self._wanted("fanout"):
            for size in fanout_order(plan.fanout_sizes, plan.idle_size):
                if not c.max_clients or size <= c.max_clients:
                    self._guard(f"fan-out {size}", fanout, self, server, trigger, spec, size)
        if c.fanout_only:
            self._close_clients()
            return
        ours = c.ours and self.ctx.database
        if ours and self._wanted("slow"):
            self._guard("slow readers", abuse.slow_readers, self, server, trigger, spec, port)
        self._close_clients()
        if self._wanted("storm"):
            self._guard("storm", self.storm, spec, port)
        if ours and self._wanted("e2e"):
            self._guard("e2e", self.e2e, trigger, spec, port)
        self._close_clients()
        if not c.ours and self._wanted("rpc"):
            self._guard("rpc (no limit)", rpc, self, server, c.rpc_spec(port))

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

    def idle(self, server: ServerProcess, spec: ClientSpec, rate: int) -> None:
        """RSS growth per idle connection on a fresh process, opened `rate` at a time.

        `result["idle"]` keeps the worse of the rates measured.
        """
        size = self.ctx.plan.idle_size
        before = server.rss_kib()
        cpu = server.cpu_seconds()
        profiler = self._profiler(server, f"open-{size}-{rate}")
        resized = self._resize(spec, size, concurrency=rate)
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
        idle = {
            "connections": live,
            "open_concurrency": rate,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_connection": (after - before) / live if live else None,
            "open_per_s": len(finished) / (finished[-1] - opened["began"]) if finished else None,
            "open_cpu_ms": 1000 * (server.cpu_seconds() - cpu) / live if live else None,
            "failed": opened.get("failed", 0),
            "idle_cpu_pct": 100 * cpu_idle / window,
        }
        self.result["idle_by_rate"][rate] = idle
        worst = self.result["idle"]
        if worst is None or (idle["kib_per_connection"] or 0) > (worst["kib_per_connection"] or 0):
            self.result["idle"] = idle

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
        # The steps every run timed (a change whose publish failed lacks some).
        steps = [f"{s}_ms" for s in STEPS if all(f"{s}_ms" in run for run in runs)]
        self.result["e2e"] = {
            "others": resized["live"],
            "changes": plan.e2e_count,
            **stats.summarize(runs, ("p50_ms", "p99_ms", "complete_max_ms", *steps)),
            "received": sum(r["received"] for r in runs),
            "expected": sum(r["expected"] for r in runs),
        }


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
