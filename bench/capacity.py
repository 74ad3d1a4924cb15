"""``python -m bench capacity``: what each operation costs Redis and daphne, then a check.

Against a dedicated redis-server and real daphne processes (`bench.servers`,
started as deploy/ starts them), each operation runs as a batch between two
`bench.redisprobe` samples, so that commands, bytes and CPU divide into a
cost per operation:

- connect (negotiate, WebSocket, handshake, authentication, registration,
  the hub's on_connected), disconnect, subscribe (``SubscribeToTopic``);
- presence and registry upkeep per connection per minute (idle connections);
- a group broadcast with members in one process, then in two (the
  difference is the cost per process with members), and daphne's CPU per
  broadcast and per recipient;
- long polling: a poll carrying one broadcast, per client.

Then a mixed workload (held connections, connect churn, broadcasts) runs for
a while and its measured Redis and daphne CPU are compared with what
`bench.capacity_model` predicts from the costs above. Results go to
bench/results/capacity/ (latest.json, latest.md); docs/scaling.md builds on
them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from bench import capacity_model, capacity_report
from bench.database import Database
from bench.dialects import SIGNALR, ClientSpec
from bench.loadgen import LoadGenerator, raise_open_file_limit
from bench.longpoll import LongPollClient
from bench.redisprobe import Cost, Probe
from bench.servers import CONTENDERS, Contender, Trigger, start_server
from config.embedded_redis import EmbeddedRedis

logger = logging.getLogger(__name__)

OUT = Path(__file__).resolve().parent / "results" / "capacity"
HUB = "/hubs/notifications"
TOPIC = "bench"
#: The operations are measured with the process heartbeat refreshed every 20
#: minutes (PRESENCE_TTL / 3), not every 20 s; the upkeep and the check run
#: with the defaults. (Connections' entries are never refreshed within a run:
#: their lease, ENTRY_LEASE, is re-written every 20 minutes.)
QUIET_REFRESH = replace(
    CONTENDERS["ours-daphne"], env={"REALTIME_OPTIONS": json.dumps({"PRESENCE_TTL": 3600.0})}
)
DEFAULTS = CONTENDERS["ours-daphne"]
#: Clients opened before measuring (more than a batch opens at once).
WARM_UP = 300
#: Members of the broadcast group on the second process.
SMALL_GROUP = 10


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``capacity`` subcommand of ``python -m bench``."""
    parser = commands.add_parser("capacity", help="Redis and CPU cost per operation, a model")
    parser.add_argument("--batch", type=int, default=1000, help="connections per batch")
    parser.add_argument("--broadcasts", type=int, default=200, help="broadcasts per batch")
    parser.add_argument(
        "--idle", type=float, default=60.0, help="seconds of idle upkeep (whole refreshes)"
    )
    parser.add_argument("--background", type=float, default=15.0, help="seconds of idle base")
    parser.add_argument("--long-polls", type=int, default=100, help="long-polling clients")
    parser.add_argument("--hold", type=int, default=1500, help="mixed run: held connections")
    parser.add_argument("--churn", type=float, default=10.0, help="mixed run: connects/s")
    parser.add_argument("--rate", type=float, default=10.0, help="mixed run: broadcasts/s")
    parser.add_argument("--duration", type=float, default=60.0, help="mixed run: seconds")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--report", action="store_true", help="only re-render latest.md from latest.json"
    )


def spec(port: int, *, join: bool) -> ClientSpec:
    """Clients of the notification hub, joined to the topic when `join`."""
    return ClientSpec(
        SIGNALR,
        port,
        HUB,
        auth="token",
        ready_target="UnreadCountUpdated",
        join_topic=TOPIC if join else "",
    )


class CapacityRun:
    """The measurements of one run, in order, on one Redis and one or two servers."""

    def __init__(self, args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack):
        self.args = args
        self.workdir = workdir
        self.stack = stack
        self.redis = EmbeddedRedis(workdir / "redis").start()
        stack.callback(self.redis.stop)
        self.loadgen = LoadGenerator(2).start()
        stack.callback(self.loadgen.stop)
        users = max(args.batch, args.hold) + 200
        self.database = Database(workdir, self.redis.url, users, cookies=False)
        self.tokens = self.database.credentials["tokens"]
        self.servers = {}
        self._started = itertools.count()
        self.ports = {}
        self.trigger: Trigger | None = None
        self.probe: Probe | None = None
        self.result: dict = {"params": {k: str(v) for k, v in vars(args).items()}, "ops": {}}

    # Processes ------------------------------------------------------------------

    def serve(self, role: str, contender: Contender = QUIET_REFRESH) -> int:
        server, port, env = start_server(
            contender,
            rpc=False,
            redis_url=self.redis.url,
            workdir=self.workdir,
            database_url=self.database.copy(f"{role}-{next(self._started)}"),
        )
        self.stack.callback(server.stop)
        self.servers[role], self.ports[role] = server, port
        if self.trigger is None:
            self.trigger = Trigger("ours", env, self.workdir / "trigger.log")
            self.stack.callback(self.trigger.stop)
        return port

    def watch(self) -> Probe:
        pids = {role: (lambda s=server: s.pid) for role, server in self.servers.items()}
        pids["trigger"] = lambda: self.trigger.process.pid
        self.probe = Probe(self.redis.url, pids)
        return self.probe

    def settle(self) -> None:
        for role in self.servers:
            self.probe.quiet(role)

    def record(self, name: str, cost: Cost, count: float, **extra: object) -> Cost:
        share = cost.per(count)
        self.result["ops"][name] = {"count": count, **share.as_dict(), **extra}
        logger.info(
            "%s: %.2f commands, %.0f B in, %.0f B out, Redis %.1f us, daphne %s us",
            name,
            share.calls,
            share.net_in,
            share.net_out,
            1e6 * share.redis_cpu,
            {r: round(1e6 * v) for r, v in share.cpu.items()},
        )
        return share

    # Operations -----------------------------------------------------------------

    def open(self, role: str, count: int, *, join: bool) -> None:
        opened = self.loadgen.open(spec(self.ports[role], join=join), count, self.tokens)
        if opened["failed"]:
            raise RuntimeError(f"{opened['failed']} of {count} failed: {opened['errors']}")

    def broadcasts(self, count: int, interval: float) -> None:
        self.trigger.run(op="broadcast", seq0=0, count=count, interval=interval)

    def measure_connections(self) -> None:
        a, probe = self.args, self.probe
        n = a.batch
        self.record(
            "connect", probe.measure(lambda: self.open("d1", n, join=False), self.settle), n
        )
        self.record("disconnect", probe.measure(lambda: self.loadgen.trim(0), self.settle), n)
        joined = probe.measure(lambda: self.open("d1", n, join=True), self.settle)
        self.record("connect_and_subscribe", joined, n)
        self.record("subscribe", joined.per(n).minus(self._cost_of("connect")), 1)

    def _cost_of(self, name: str) -> Cost:
        op = self.result["ops"][name]
        return Cost(
            seconds=0.0,
            commands=dict(op["commands"]),
            net_in=op["net_in_bytes"],
            net_out=op["net_out_bytes"],
            redis_cpu=op["redis_cpu_us"] / 1e6,
            cpu={r: v / 1e6 for r, v in op["cpu_us"].items()},
        )

    def measure_broadcasts(self) -> None:
        a = self.args
        b = a.broadcasts
        one = self.probe.measure(lambda: self.broadcasts(b, 0.05), self.settle)
        self.record("broadcast_one_process", one, b, recipients={"d1": a.batch})
        self.serve("d2")
        self.watch().calibrate(a.background / 2)
        # A few members on the second process: its CPU per broadcast is then
        # nearly all per-process work, and the first's 1,000 give the slope.
        self.open("d2", SMALL_GROUP, join=True)
        self.settle()
        two = self.probe.measure(lambda: self.broadcasts(b, 0.05), self.settle)
        self.record(
            "broadcast_two_processes", two, b, recipients={"d1": a.batch, "d2": SMALL_GROUP}
        )
        self.record("broadcast_per_extra_process", two.minus(one), b)
        n = a.batch
        self.record(
            "disconnect_subscribed",
            self.probe.measure(lambda: self.loadgen.trim(0), self.settle),
            n + SMALL_GROUP,
        )
        self.servers.pop("d2").stop()
        self.watch().calibrate(a.background / 2)

    def measure_upkeep(self) -> None:
        """Idle connections on a process with the default settings, for whole refreshes."""
        a = self.args
        self.servers.pop("d1").stop()
        self.serve("d1", DEFAULTS)
        self.open("d1", 20, join=True)
        self.broadcasts(3, 0.05)
        self.loadgen.trim(0)
        self.watch()
        self.settle()
        self.probe.calibrate(a.background)
        self.result["background_per_s"] = self.probe.background.as_dict()
        self.open("d1", a.batch, join=True)
        self.settle()
        # Nothing is refreshed per connection: a fixed window of idleness.
        before = self.probe.sample()
        time.sleep(a.idle)
        idle = self.probe.difference(before, self.probe.sample())
        idle = idle.minus(self.probe.background, times=idle.seconds)
        self.record("upkeep_per_connection_minute", idle, a.batch * idle.seconds / 60)
        self.loadgen.trim(0)
        self.settle()

    def measure_long_polling(self) -> None:
        clients = [
            LongPollClient(self.ports["d1"], HUB, self.tokens[i])
            for i in range(self.args.long_polls)
        ]
        b = max(20, self.args.broadcasts // 10)
        loop = asyncio.new_event_loop()
        try:

            async def open_all() -> None:
                gate = asyncio.Semaphore(20)

                async def one(client: LongPollClient) -> None:
                    async with gate:
                        await client.open(TOPIC)

                await asyncio.gather(*(one(c) for c in clients))

            opened = self.probe.measure(lambda: loop.run_until_complete(open_all()), self.settle)
            self.record("long_poll_connect_and_subscribe", opened, len(clients))

            async def poll_through_broadcasts() -> None:
                stop = asyncio.Event()
                deadline = loop.time() + 120
                tasks = [loop.create_task(c.run(stop, deadline)) for c in clients]
                await asyncio.sleep(1.0)
                # 0.25 s apart: every poll comes back for the next one in time.
                await asyncio.to_thread(self.broadcasts, b, 0.25)
                for _ in range(200):
                    if all(len(c.received) >= b for c in clients):
                        break
                    await asyncio.sleep(0.1)
                stop.set()
                await asyncio.gather(*(c.close() for c in clients))
                await asyncio.gather(*tasks)

            cost = self.probe.measure(
                lambda: loop.run_until_complete(poll_through_broadcasts()), self.settle
            )
            polls = sum(c.polls for c in clients)
            delivered = sum(len(c.received) for c in clients)
            self.record(
                "long_poll_per_delivery",
                cost,
                delivered,
                polls=polls,
                broadcasts=b,
                expected=b * len(clients),
            )
        finally:
            loop.close()

    def measure_mixed(self) -> None:
        """Held connections, churn and broadcasts at once; compare with the model."""
        a, probe = self.args, self.probe
        self.open("d1", a.hold, join=True)
        self.settle()
        count = int(a.rate * a.duration)
        sender = threading.Thread(target=self.broadcasts, args=(count, 1.0 / a.rate))

        def workload() -> None:
            sender.start()
            start = time.monotonic()
            owed = 0.0
            for second in range(int(a.duration)):
                owed += a.churn
                batch, owed = int(owed), owed - int(owed)
                self.open("d1", batch, join=True)
                self.loadgen.trim(a.hold)
                time.sleep(max(0.0, start + second + 1 - time.monotonic()))
            sender.join()

        # Measured whole, background included: the prediction includes it too.
        before = probe.sample()
        workload()
        self.settle()
        cost = probe.difference(before, probe.sample())
        measured = cost.per(cost.seconds)
        predicted = capacity_model.predict_mixed(
            self.result["ops"],
            background=probe.background.as_dict(),
            hold=a.hold,
            churn=a.churn,
            rate=a.rate,
            active=a.duration / cost.seconds,
        )
        self.result["check"] = {
            "hold": a.hold,
            "churn_per_s": a.churn,
            "broadcasts_per_s": a.rate,
            "seconds": round(cost.seconds, 1),
            "measured": measured.as_dict(),
            "predicted": predicted,
        }
        self.loadgen.trim(0)
        self.settle()

    def run(self) -> dict:
        self.serve("d1")
        # Warm up: lazily imported code, the backplane, the trigger's epoch
        # wait, and as many pooled Redis connections as a batch opens at once.
        self.open("d1", WARM_UP, join=True)
        self.broadcasts(3, 0.05)
        self.loadgen.trim(0)
        self.watch()
        self.settle()
        self.probe.calibrate(self.args.background)
        self.measure_connections()
        self.measure_broadcasts()
        self.measure_long_polling()
        self.measure_upkeep()
        self.measure_mixed()
        return self.result


def main(args: argparse.Namespace) -> int:
    out: Path = args.out
    if args.report:
        result = json.loads((out / "latest.json").read_text())
        (out / "latest.md").write_text(capacity_report.render(result))
        return 0
    raise_open_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            result = CapacityRun(args, workdir, stack).run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["meta"] = capacity_model.meta()
    (out / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "latest.md").write_text(capacity_report.render(result))
    logger.info("wrote %s", out / "latest.md")
    return 0
