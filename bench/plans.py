"""How big and how long: the quick plan (CI, under 2 minutes) and the full one."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Plan:
    """Sizes, counts and durations of every scenario."""

    name: str
    contenders: tuple[str, ...]
    fanout_sizes: tuple[int, ...]
    idle_size: int
    repeats: int
    spaced_count: int  # broadcasts per run after a cold one (bench.fanout)
    spaced_interval: float  # least spacing; 1.5x the cold broadcast's time if longer
    spaced_max_interval: float  # ... but no more than this
    burst_count: int  # broadcasts per run, back to back
    storm_size: int
    storm_repeats: int
    rpc_sizes: tuple[int, ...]
    rpc_duration: float
    e2e_others: int
    e2e_count: int
    e2e_interval: float
    slow_others: int  # clients whose latency is measured next to 10 slow readers
    slow_count: int  # broadcasts per run, `slow_interval` apart
    slow_interval: float
    settle: float = 1.0  # seconds to let a server settle before measuring memory
    idle_cpu_window: float = 1.0  # seconds over which idle CPU is measured
    #: Clients opening at a time in the idle scenario: the first rate on the
    #: main server process, every other on a fresh process of its own.
    open_rates: tuple[int, ...] = (64, 400)
    workers: int = 2
    #: Scenarios to run (idle, fanout, slow, storm, e2e, rpc); empty: all.
    scenarios: tuple[str, ...] = ()

    @property
    def max_clients(self) -> int:
        return max(*self.fanout_sizes, self.idle_size, self.storm_size, self.e2e_others)

    def with_overrides(self, **changes: object) -> Plan:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


SCENARIOS = ("idle", "fanout", "slow", "storm", "e2e", "rpc")

ALL_CONTENDERS = (
    "ours-daphne",
    "ours-uvicorn",
    "ours-daphne-msgpack",
    "ours-daphne-nometrics",
    "ours-daphne-stateful",
    "raw-websockets",
    "signalr-floor",
    "channels-core",
    "channels-pubsub",
    "socketio",
)

QUICK = Plan(
    name="quick",
    contenders=(
        "ours-daphne",
        "ours-uvicorn",
        "raw-websockets",
        "channels-core",
        "channels-pubsub",
        "socketio",
    ),
    fanout_sizes=(100, 300),
    idle_size=300,
    repeats=3,
    spaced_count=20,
    spaced_interval=0.05,
    spaced_max_interval=0.5,
    burst_count=10,
    storm_size=300,
    storm_repeats=2,
    rpc_sizes=(20, 100),
    rpc_duration=0.5,
    e2e_others=100,
    e2e_count=5,
    e2e_interval=0.1,
    slow_others=300,
    slow_count=20,
    slow_interval=0.1,
    settle=0.5,
    idle_cpu_window=0.5,
)

FULL = Plan(
    name="full",
    # Peers right after the first of ours, so that a run stopped early can
    # still compare; the MessagePack variant last.
    contenders=(
        "ours-daphne",
        "raw-websockets",
        "socketio",
        "signalr-floor",
        "channels-pubsub",
        "channels-core",
        "ours-uvicorn",
        "ours-daphne-msgpack",
        "ours-daphne-stateful",
    ),
    fanout_sizes=(1000, 5000, 10000),
    idle_size=5000,
    repeats=3,
    spaced_count=20,
    spaced_interval=0.25,
    spaced_max_interval=2.0,
    burst_count=10,
    storm_size=2000,
    storm_repeats=2,
    rpc_sizes=(100, 1000),
    rpc_duration=3.0,
    e2e_others=1000,
    e2e_count=20,
    e2e_interval=0.25,
    slow_others=5000,
    slow_count=20,
    slow_interval=0.25,
    settle=2.0,
    # Whole keep-alive periods of ours (a Ping each way every 15 s) and of
    # raw websockets (a ping every 20 s): a shorter window holds all, part or
    # none of a peer's pings, depending on when its clients opened.
    idle_cpu_window=60.0,
)

PLANS = {"quick": QUICK, "full": FULL}
