"""bench/'s capacity tools: the Redis probe counts exactly what a batch did; the model adds up."""

from __future__ import annotations

import math
import os

import pytest
from redis import Redis

from bench.capacity_model import Costs, Workload, plan, predict_mixed, processes_reached
from bench.redisprobe import Probe
from config.embedded_redis import EmbeddedRedis


@pytest.fixture
def own_redis_url(tmp_path):
    """A Redis of its own: on the session's, other tests' backplanes mark
    themselves alive (a SET every second), and one landed in a batch once."""
    server = EmbeddedRedis(tmp_path).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_the_probe_counts_a_batch_without_its_own_info_calls(own_redis_url):
    url = own_redis_url
    redis = Redis.from_url(url)
    probe = Probe(url, {"self": os.getpid})
    probe.calibrate(0.2)

    def batch() -> None:
        for i in range(100):
            redis.set(f"capacity-test:{i}", "x" * 100)
        redis.delete(*[f"capacity-test:{i}" for i in range(100)])

    cost = probe.measure(batch, settle=lambda: None)
    redis.close()
    assert cost.commands.get("set") == pytest.approx(100, abs=1)
    assert cost.commands.get("del") == pytest.approx(1, abs=1)
    assert "info" not in cost.commands
    # 100 SETs of a 100-byte value: at least the values themselves went in.
    assert cost.net_in > 100 * 100
    assert cost.per(100).commands["set"] == pytest.approx(1, abs=0.01)


def test_samples_taken_in_between_are_not_counted(own_redis_url):
    url = own_redis_url
    probe = Probe(url, {"self": os.getpid})
    probe.calibrate(0.2)
    before = probe.sample()
    for _ in range(10):
        probe.sample()
    idle = probe.difference(before, probe.sample())
    assert idle.calls == 0
    # Ten INFO replies of several KB each would show here.
    assert abs(idle.net_out) < 0.5 * 10 * probe.overhead.net_out


def _op(daphne_us: dict, redis_us: float, calls: float, net: float, **extra) -> dict:
    return {
        "calls": calls,
        "commands": {},
        "net_in_bytes": net,
        "net_out_bytes": 0.0,
        "redis_cpu_us": redis_us,
        "cpu_us": daphne_us,
        **extra,
    }


OPS = {
    "upkeep_per_connection_minute": _op({"d1": 600.0}, 60.0, 30.0, 1200.0),
    "connect_and_subscribe": _op({"d1": 10000.0}, 300.0, 26.0, 2000.0),
    "disconnect_subscribed": _op({"d1": 500.0}, 20.0, 7.0, 700.0),
    "broadcast_one_process": _op({"d1": 3000.0}, 500.0, 16.0, 4000.0),
    "broadcast_two_processes": _op(
        {"d1": 3000.0, "d2": 2000.0}, 900.0, 27.0, 8000.0, recipients={"d1": 1000, "d2": 500}
    ),
    "broadcast_per_extra_process": _op({"d2": 2000.0}, 400.0, 11.0, 4000.0),
}
BACKGROUND = _op({"d1": 3000.0}, 1000.0, 8.0, 1000.0)


def test_the_model_splits_a_broadcast_into_per_process_and_per_recipient_costs():
    costs = Costs.of(OPS, BACKGROUND)
    # 3 ms for 1,000 recipients and 2 ms for 500: 2 µs each, 1 ms per process.
    assert costs.per_recipient.daphne == pytest.approx(2e-6)
    assert costs.per_process.daphne == pytest.approx(1e-3)
    assert costs.broadcast_fixed.calls == pytest.approx(5.0)
    assert costs.per_process.calls == pytest.approx(11.0)
    assert costs.upkeep.calls == pytest.approx(0.5)


def test_an_upkeep_measured_below_zero_counts_as_none():
    # Entries are written once, so idle connections cost Redis about nothing,
    # and a measurement lands on either side of zero.
    ops = {**OPS, "upkeep_per_connection_minute": _op({"d1": 290.0}, -10.4, -0.01, 5.0)}
    costs = Costs.of(ops, BACKGROUND)
    assert (costs.upkeep.redis, costs.upkeep.calls) == (0.0, 0.0)
    assert costs.upkeep.daphne == pytest.approx(290e-6 / 60)
    assert costs.upkeep.net == pytest.approx(5.0 / 60)


def test_the_mixed_prediction_adds_background_upkeep_churn_and_broadcasts():
    predicted = predict_mixed(OPS, background=BACKGROUND, hold=1000, churn=10, rate=5, active=1.0)
    # 3 ms + 1,000 x 10 µs + 10 x 10.5 ms + 5 x (1 ms + 1,000 x 2 µs)
    assert predicted["daphne_cpu"] == pytest.approx(0.003 + 0.010 + 0.105 + 0.015)
    assert predicted["calls"] == pytest.approx(8 + 500 + 330 + 5 * 16)


def test_groups_spread_over_processes_by_round_robin():
    assert processes_reached(1, 100) == pytest.approx(1)
    assert processes_reached(10, 1) == pytest.approx(1)
    assert processes_reached(10, 1000) == pytest.approx(9.955, abs=0.01)
    assert processes_reached(10**6, 50) == pytest.approx(50)


def test_more_connections_need_more_processes_and_each_stays_in_budget():
    costs = Costs.of(OPS, BACKGROUND)
    small = plan(costs, Workload("w", 10_000, 10, 1000, 1))
    large = plan(costs, Workload("w", 1_000_000, 1000, 100_000, 1))
    assert large["processes"] > small["processes"]
    assert large["daphne_cores"] / large["processes"] <= 0.6
    assert large["redis_shards"] == math.ceil(large["redis_cores"] / 0.5)
