"""What a batch of operations cost Redis and the server processes.

A `Probe` reads ``INFO all`` of a dedicated redis-server (calls per command
from ``commandstats``, ``total_net_input_bytes`` and
``total_net_output_bytes`` from ``stats``, ``used_cpu_user`` plus
``used_cpu_sys`` from ``cpu``) and the CPU time of the processes measured,
before and after a batch. `Cost` is the difference, with what the probe
itself adds (one INFO round trip per difference) and the background of idle
processes (timers: liveness, registry checks, stats snapshots, the channel
layer's blocking reads) taken out, so that it divides into a cost per
operation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from redis import Redis

from bench.servers import cpu_seconds

#: The probe's own command, never counted as an operation's.
PROBE_COMMAND = "info"


@dataclass(frozen=True)
class Sample:
    """Redis counters and process CPU times at one instant."""

    at: float
    #: How many samples the probe had taken before this one.
    seq: int
    commands: dict[str, int]
    net_in: int
    net_out: int
    redis_cpu: float
    cpu: dict[str, float]


@dataclass(frozen=True)
class Cost:
    """What happened between two samples (or its share per operation)."""

    seconds: float
    commands: dict[str, float] = field(default_factory=dict)
    net_in: float = 0.0
    net_out: float = 0.0
    redis_cpu: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> float:
        return sum(self.commands.values())

    def minus(self, other: Cost, times: float = 1.0) -> Cost:
        """This cost less `times` x `other` (commands and CPU never below zero)."""
        names = set(self.commands) | set(other.commands)
        return Cost(
            seconds=self.seconds,
            commands={
                n: self.commands.get(n, 0.0) - times * other.commands.get(n, 0.0) for n in names
            },
            net_in=self.net_in - times * other.net_in,
            net_out=self.net_out - times * other.net_out,
            redis_cpu=self.redis_cpu - times * other.redis_cpu,
            cpu={r: v - times * other.cpu.get(r, 0.0) for r, v in self.cpu.items()},
        )

    def per(self, count: float) -> Cost:
        """The share of one of `count` operations."""
        return Cost(
            seconds=self.seconds / count,
            commands={n: v / count for n, v in self.commands.items()},
            net_in=self.net_in / count,
            net_out=self.net_out / count,
            redis_cpu=self.redis_cpu / count,
            cpu={r: v / count for r, v in self.cpu.items()},
        )

    def as_dict(self) -> dict:
        """JSON-ready: commands rounded, only those that happen, largest first."""
        commands = {
            n: round(v, 3)
            for n, v in sorted(self.commands.items(), key=lambda kv: -kv[1])
            if round(v, 3) > 0
        }
        return {
            "calls": round(self.calls, 3),
            "commands": commands,
            "net_in_bytes": round(self.net_in, 1),
            "net_out_bytes": round(self.net_out, 1),
            "redis_cpu_us": round(1e6 * self.redis_cpu, 2),
            "cpu_us": {r: round(1e6 * v, 2) for r, v in self.cpu.items()},
        }


class Probe:
    """Samples one Redis and the CPU time of named processes."""

    def __init__(self, redis_url: str, pids: Mapping[str, Callable[[], int]]) -> None:
        self.redis = Redis.from_url(redis_url)
        #: role -> a function returning the role's current PID
        self.pids = dict(pids)
        self.overhead = Cost(seconds=0.0)
        self.background = Cost(seconds=1.0)
        self._taken = 0

    def sample(self) -> Sample:
        info = self.redis.info("all")
        commands = {
            name.removeprefix("cmdstat_"): stats["calls"]
            for name, stats in info.items()
            if name.startswith("cmdstat_")
        }
        self._taken += 1
        return Sample(
            at=time.monotonic(),
            seq=self._taken,
            commands=commands,
            net_in=info["total_net_input_bytes"],
            net_out=info["total_net_output_bytes"],
            redis_cpu=info["used_cpu_user"] + info["used_cpu_sys"],
            cpu={role: cpu_seconds(pid()) for role, pid in self.pids.items()},
        )

    def difference(self, before: Sample, after: Sample) -> Cost:
        """Everything between two samples but the probe's own round trips (one per sample)."""
        names = set(before.commands) | set(after.commands)
        commands = {
            n: float(after.commands.get(n, 0) - before.commands.get(n, 0))
            for n in names
            if n != PROBE_COMMAND
        }
        raw = Cost(
            seconds=after.at - before.at,
            commands=commands,
            net_in=after.net_in - before.net_in,
            net_out=after.net_out - before.net_out,
            redis_cpu=after.redis_cpu - before.redis_cpu,
            cpu={r: after.cpu[r] - before.cpu.get(r, 0.0) for r in after.cpu},
        )
        return raw.minus(self.overhead, times=after.seq - before.seq)

    def calibrate(self, seconds: float, rounds: int = 7) -> None:
        """Measure the probe's own bytes and Redis CPU, then the background per second."""
        pairs = []
        for _ in range(rounds):
            first = self.sample()
            pairs.append((first, self.sample()))
        self.overhead = Cost(
            seconds=0.0,
            net_in=statistics.median(b.net_in - a.net_in for a, b in pairs),
            net_out=statistics.median(b.net_out - a.net_out for a, b in pairs),
            redis_cpu=statistics.median(b.redis_cpu - a.redis_cpu for a, b in pairs),
        )
        before = self.sample()
        time.sleep(seconds)
        idle = self.difference(before, self.sample())
        self.background = idle.per(idle.seconds)

    def measure(self, action: Callable[[], object], settle: Callable[[], None]) -> Cost:
        """Run `action`, wait with `settle`; return the cost less the background."""
        before = self.sample()
        action()
        settle()
        cost = self.difference(before, self.sample())
        return cost.minus(self.background, times=cost.seconds)

    def quiet(self, role: str, *, busy: float = 0.05, hold: int = 3, timeout: float = 60.0) -> None:
        """Wait until `role` uses under `busy` of a core for `hold` half-seconds in a row."""
        calm = 0
        deadline = time.monotonic() + timeout
        last = cpu_seconds(self.pids[role]())
        while calm < hold and time.monotonic() < deadline:
            time.sleep(0.5)
            now = cpu_seconds(self.pids[role]())
            calm = calm + 1 if (now - last) / 0.5 < busy + self.background.cpu.get(role, 0) else 0
            last = now
