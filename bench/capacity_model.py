"""The capacity model: from measured costs per operation to instances and Redis shards.

Everything here is arithmetic on `bench.capacity`'s results (latest.json),
so the tables in docs/scaling.md can be re-derived from a run's JSON with
``python -m bench capacity --report``.

The costs combine linearly. Per second, a deployment of ``C`` connections
on ``P`` server processes with a connect rate ``c`` and ``b`` broadcasts,
each reaching ``p`` processes and ``r`` recipients, costs

    daphne CPU = P x base + C x upkeep + c x (connect + subscribe + disconnect)
                 + b x (p x per-broadcast + r x per-recipient)
    Redis      = P x base + C x upkeep + c x (connect + subscribe + disconnect)
                 + b x (fixed + p x per-process)

(Redis calls, bytes and CPU alike). A Python process uses one core, so
instances = daphne CPU / the share of a core one process may use; Redis
runs commands on one core too, so shards = Redis CPU / the share of a core
one Redis may use.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Busy share of a core a daphne process may reach and keep latency (headroom
#: for a reconnect storm: the clients of a lost instance arrive at once).
PROCESS_BUDGET = 0.6
#: Busy share of a core one Redis may reach (commands run on one thread).
REDIS_BUDGET = 0.5
#: Connections one process holds at most (memory, and the time one broadcast
#: takes to reach every local socket).
PROCESS_CONNECTIONS = 20_000
SERVER_ROLE = "d1"


def _cpu(op: dict, role: str = SERVER_ROLE) -> float:
    return op["cpu_us"].get(role, 0.0) / 1e6


@dataclass(frozen=True)
class UnitCosts:
    """Seconds of CPU (daphne, Redis), Redis calls and bytes per operation."""

    daphne: float
    redis: float
    calls: float
    net: float

    @classmethod
    def of(cls, op: dict, role: str = SERVER_ROLE) -> UnitCosts:
        return cls(
            daphne=_cpu(op, role),
            redis=op["redis_cpu_us"] / 1e6,
            calls=op["calls"],
            net=op["net_in_bytes"] + op["net_out_bytes"],
        )

    def __add__(self, other: UnitCosts) -> UnitCosts:
        return UnitCosts(
            self.daphne + other.daphne,
            self.redis + other.redis,
            self.calls + other.calls,
            self.net + other.net,
        )

    def __mul__(self, k: float) -> UnitCosts:
        return UnitCosts(self.daphne * k, self.redis * k, self.calls * k, self.net * k)

    def at_least_zero(self) -> UnitCosts:
        """Each cost, or 0 where the measurement came out below it: a cost of
        about nothing measures as noise around zero (the idle upkeep now)."""
        return UnitCosts(*(max(0.0, v) for v in (self.daphne, self.redis, self.calls, self.net)))


ZERO = UnitCosts(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Costs:
    """The unit costs the model uses, from one run's ``ops``."""

    base: UnitCosts  # per process per second
    upkeep: UnitCosts  # per connection per second
    session: UnitCosts  # connect + subscribe + disconnect
    broadcast_fixed: UnitCosts  # once per broadcast (Redis only)
    per_process: UnitCosts  # per process with members (daphne: receive and encode)
    per_recipient: UnitCosts  # per socket written (daphne only)

    @classmethod
    def of(cls, ops: dict, background: dict) -> Costs:
        one, extra = ops["broadcast_one_process"], ops["broadcast_two_processes"]
        n1, n2 = extra["recipients"]["d1"], extra["recipients"]["d2"]
        # Two processes, n1 and n2 recipients: daphne CPU per broadcast is
        # per-process + n x per-recipient in each.
        c1, c2 = _cpu(extra, "d1"), _cpu(extra, "d2")
        recipient = (c1 - c2) / (n1 - n2) if n1 != n2 else 0.0
        per_process_redis = UnitCosts.of(ops["broadcast_per_extra_process"])
        whole = UnitCosts.of(one)
        return cls(
            base=UnitCosts.of(background),
            upkeep=UnitCosts.of(ops["upkeep_per_connection_minute"]).at_least_zero() * (1 / 60),
            session=UnitCosts.of(ops["connect_and_subscribe"])
            + UnitCosts.of(ops["disconnect_subscribed"]),
            # Redis's share only: daphne's is per process and per recipient.
            broadcast_fixed=UnitCosts(
                0.0,
                whole.redis - per_process_redis.redis,
                whole.calls - per_process_redis.calls,
                whole.net - per_process_redis.net,
            ),
            per_process=UnitCosts(
                max(0.0, c1 - n1 * recipient),
                per_process_redis.redis,
                per_process_redis.calls,
                per_process_redis.net,
            ),
            per_recipient=UnitCosts(recipient, 0.0, 0.0, 0.0),
        )


def load(
    costs: Costs,
    *,
    connections: float,
    processes: float,
    connects: float,
    broadcasts: float,
    processes_per_broadcast: float,
    recipients_per_broadcast: float,
) -> UnitCosts:
    """Per second: CPU seconds of all daphne processes and Redis, calls, bytes."""
    return (
        costs.base * processes
        + costs.upkeep * connections
        + costs.session * connects
        + (
            costs.broadcast_fixed
            + costs.per_process * processes_per_broadcast
            + costs.per_recipient * recipients_per_broadcast
        )
        * broadcasts
    )


def predict_mixed(
    ops: dict, *, background: dict, hold: int, churn: float, rate: float, active: float
) -> dict:
    """What the mixed run should cost per second on one process (``active``: busy share)."""
    costs = Costs.of(ops, background)
    busy = load(
        costs,
        connections=hold,
        processes=0,
        connects=churn,
        broadcasts=rate,
        processes_per_broadcast=1,
        recipients_per_broadcast=hold,
    )
    idle = costs.upkeep * hold
    total = costs.base + busy * active + idle * (1 - active)
    return {
        "daphne_cpu": total.daphne,
        "redis_cpu": total.redis,
        "calls": total.calls,
        "net_bytes": total.net,
    }


@dataclass(frozen=True)
class Workload:
    """Traffic of a deployment, per second."""

    name: str
    connections: int
    connects: float
    deliveries: float  # messages written to sockets
    group_size: int  # recipients per broadcast

    def broadcasts(self) -> float:
        return self.deliveries / self.group_size


def processes_reached(group_size: int, processes: int) -> float:
    """Processes holding members of a group whose members land anywhere (round-robin)."""
    # Expected distinct processes among group_size uniform picks of P.
    return processes * (1 - (1 - 1 / processes) ** group_size)


def plan(costs: Costs, workload: Workload) -> dict:
    """Instances and Redis shards for `workload`, and what limits first."""
    processes = max(1, math.ceil(workload.connections / PROCESS_CONNECTIONS))
    for _ in range(10_000):
        reach = processes_reached(workload.group_size, processes)
        total = load(
            costs,
            connections=workload.connections,
            processes=processes,
            connects=workload.connects,
            broadcasts=workload.broadcasts(),
            processes_per_broadcast=reach,
            recipients_per_broadcast=workload.group_size,
        )
        if total.daphne / processes <= PROCESS_BUDGET:
            break
        processes += max(1, processes // 20)
    shards = max(1, math.ceil(total.redis / REDIS_BUDGET))
    by_memory = math.ceil(workload.connections / PROCESS_CONNECTIONS)
    return {
        "workload": workload.name,
        "connections": workload.connections,
        "connects_per_s": workload.connects,
        "deliveries_per_s": workload.deliveries,
        "group_size": workload.group_size,
        "processes": processes,
        "limited_by": "connections per process" if processes == by_memory else "daphne CPU",
        "daphne_cores": total.daphne,
        "redis_cores": total.redis,
        "redis_calls_per_s": total.calls,
        "redis_mbit_per_s": total.net * 8 / 1e6,
        "redis_shards": shards,
        "processes_per_broadcast": processes_reached(workload.group_size, processes),
    }


def workloads() -> list[Workload]:
    """The deployments docs/scaling.md sizes.

    "shop" is this project's traffic: one notification per user per minute
    (a user group, 1 recipient) and sessions of 10 minutes. "Azure's
    broadcast" is the Azure SignalR performance guide's broadcast case: two
    broadcasts per second to every connection, no churn. "Centrifugo's" is
    the published million-connection test at each size: every connection
    receives 0.5 messages per second through groups of 10, and 1/300 of the
    connections reconnect every second (200,000 per minute at one million).
    """
    out = []
    for size in (10_000, 100_000, 1_000_000):
        out.append(Workload("shop", size, size / 600, size / 60, 1))
        out.append(Workload("Azure's broadcast", size, 0.0, 2.0 * size, size))
        out.append(Workload("Centrifugo's", size, size / 300, size * 0.5, 10))
    return out


def meta() -> dict:
    """Where and on what the run measured."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "started": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "machine": platform.platform(terse=True),
        "python": platform.python_version(),
        "revision": head.stdout.strip() or "unknown",
        "load": "/".join(f"{x:.2f}" for x in os.getloadavg()),
    }
