"""``python -m bench ab``: the verdict rule on made-up rounds, then two real rounds.

The real run compares this checkout with an export of its HEAD (`git
archive`), on the RPC scenario only, so that it stays short.
"""

import json
import subprocess
import sys
import tarfile

import pytest

from bench import ab, runner
from bench.plans import PLANS
from bench.servers import CONTENDERS, ROOT

THROUGHPUT = "fan-out 100: back to back, msg/s"
ONE_BROADCAST = "fan-out 100: one broadcast, last client ms"
FAILURES = "storm: failures"


def result(throughput: float, complete_ms: float, failed: int = 0) -> dict:
    """A contender's results, as a run writes them, reduced to a few figures."""
    return {
        "fanout": {
            100: {
                "spaced": {"complete_ms": {"median": complete_ms, "min": 0.0, "max": 99.0}},
                "burst": {"throughput": {"median": throughput}},
            }
        },
        "storm": {"per_s": {"median": 200.0}, "failed": failed},
        "errors": [],
    }


def rounds(pairs: list[tuple[dict, dict]]) -> list[dict]:
    names = (ab.OURS, ab.BASELINE)
    return [
        {"order": list(ab.order(i, names)), "contenders": {ab.OURS: ours, ab.BASELINE: base}}
        for i, (ours, base) in enumerate(pairs)
    ]


def test_rounds_alternate_who_goes_first():
    names = (ab.OURS, ab.BASELINE)
    firsts = [ab.order(i, names)[0] for i in range(4)]
    assert firsts == [ab.OURS, ab.BASELINE, ab.OURS, ab.BASELINE]
    assert sorted(ab.order(1, names)) == sorted(names)


@pytest.mark.parametrize(
    ("better", "worse", "p"),
    [(6, 0, 0.03125), (0, 6, 0.03125), (5, 1, 0.21875), (3, 3, 1.0), (0, 0, 1.0), (9, 1, 0.02148)],
)
def test_the_sign_test_is_the_two_sided_binomial_tail(better, worse, p):
    assert ab.sign_test(better, worse) == pytest.approx(p, abs=1e-5)


def test_ours_better_in_every_round_by_more_than_the_margin_is_better():
    made = [(result(33_000 + i, 9.0), result(30_000 + i, 10.0)) for i in range(6)]
    metrics = ab.aggregate(rounds(made))
    throughput = metrics[THROUGHPUT]
    assert throughput["verdict"] == "ours better"
    assert throughput["better"] == 6
    assert throughput["ratio"]["median"] == pytest.approx(1.1, abs=0.001)
    assert throughput["ours"]["median"] == pytest.approx(33_002.5)
    # Lower is better for a time: 9 ms against 10 ms.
    assert metrics[ONE_BROADCAST]["verdict"] == "ours better"


def test_worse_in_every_round_is_worse():
    made = [(result(20_000, 12.0), result(30_000, 10.0)) for _ in range(6)]
    metrics = ab.aggregate(rounds(made))
    assert metrics[THROUGHPUT]["verdict"] == "ours worse"
    assert metrics[ONE_BROADCAST]["verdict"] == "ours worse"
    assert metrics[ONE_BROADCAST]["better"] == 0


def test_a_consistent_difference_within_the_margin_is_noise():
    made = [(result(30_600, 9.9), result(30_000, 10.0)) for _ in range(8)]
    metrics = ab.aggregate(rounds(made))
    assert metrics[THROUGHPUT]["better"] == 8
    assert metrics[THROUGHPUT]["p"] < ab.ALPHA
    assert metrics[THROUGHPUT]["verdict"] == ab.NOISE


def test_a_large_difference_in_some_rounds_only_is_noise():
    faster, slower = result(40_000, 5.0), result(20_000, 20.0)
    made = [(faster, slower)] * 4 + [(slower, faster)] * 2
    metrics = ab.aggregate(rounds(made))
    assert metrics[THROUGHPUT]["better"] == 4
    assert metrics[THROUGHPUT]["verdict"] == ab.NOISE


def test_fewer_than_six_rounds_decide_nothing():
    made = [(result(60_000, 1.0), result(30_000, 10.0)) for _ in range(5)]
    assert ab.aggregate(rounds(made))[THROUGHPUT]["verdict"] == "too few rounds"


def test_failures_against_none_are_judged_by_the_sign_test_alone():
    made = [(result(30_000, 10.0, failed=3), result(30_000, 10.0)) for _ in range(6)]
    metrics = ab.aggregate(rounds(made))
    assert metrics[FAILURES]["ratio"] is None
    assert metrics[FAILURES]["verdict"] == "ours worse"
    # Equal in every round: no round differs.
    assert metrics[THROUGHPUT]["verdict"] == ab.NOISE
    assert metrics[THROUGHPUT]["better"] == metrics[THROUGHPUT]["worse"] == 0


def test_a_round_without_the_baseline_is_left_out_of_the_pairs():
    made = rounds([(result(33_000, 9.0), result(30_000, 10.0)) for _ in range(6)])
    made.append({"order": [ab.OURS], "contenders": {ab.OURS: result(1.0, 1000.0)}})
    throughput = ab.aggregate(made)[THROUGHPUT]
    assert throughput["rounds"] == 6
    assert throughput["verdict"] == "ours better"
    assert throughput["ours"]["min"] == 1.0  # its own median still sees every round


def test_results_read_back_from_json_give_the_same_figures():
    made = result(30_000, 10.0) | {
        "rpc": {20: {"calls_per_s": {"median": 9000.0}, "server_cpu_us_per_call": 90.0}},
        "idle": {"kib_per_connection": 24.0},
        "idle_by_rate": {64: {"open_cpu_ms": 2.0, "idle_cpu_pct": 1.0}},
        "slow_readers": {"alone": {"p50_ms": {"median": 3.0}}, "beside": {}},
        "e2e": {
            "p50_ms": {"median": 5.0},
            "recorded_ms": {"median": 1.0},
            "handed_over_ms": {"median": 4.0},
        },
    }
    figures = ab.headline(made)
    assert figures == ab.headline(json.loads(json.dumps(made)))
    assert figures["RPC 20 clients, raised limit: calls/s"] == 9000.0
    assert figures["idle, 64 opening at a time: CPU ms per open"] == 2.0
    assert "slow readers: others' p50 ms beside" not in figures
    # Each step of the order change, where the run timed it.
    assert (figures["e2e: p50 ms"], figures["e2e: recorded ms"]) == (5.0, 1.0)
    assert "e2e: committed ms" not in figures
    assert figures["e2e: handed over ms"] == 4.0
    # A step alone where the step before it was timed too.
    assert "e2e: handed over step ms" not in figures
    made["e2e"]["committed_ms"] = {"median": 3.25}
    steps = ab.headline(made)
    assert (steps["e2e: committed step ms"], steps["e2e: handed over step ms"]) == (2.25, 0.75)
    assert ab.higher_is_better("RPC 20 clients, raised limit: calls/s")
    assert not ab.higher_is_better("RPC 20 clients, raised limit: server CPU µs per call")


def test_the_report_has_a_row_per_metric_and_the_errors():
    made = rounds([(result(33_000, 9.0), result(30_000, 10.0)) for _ in range(6)])
    made[2]["contenders"][ab.BASELINE]["errors"] = ["storm: TimeoutError: slow"]
    results = {
        "meta": runner.meta("token"),
        "plan": PLANS["quick"].__dict__,
        "labels": {ab.OURS: "ours", ab.BASELINE: "ours at abc1234"},
        "rule": {"alpha": ab.ALPHA, "margin": ab.MARGIN},
        "rounds": made,
        "metrics": ab.aggregate(made),
    }
    text = "\n".join(ab.markdown(results))
    assert f"| {THROUGHPUT} | 33,000 | 30,000 | 1.100 [1.100-1.100] | 6 of 6 |" in text
    assert "| storm: failures | 0 | 0 | n/a | 0 of 6 (6 equal) | 1.000 |" in text
    assert f"round 3, {ab.BASELINE}: storm: TimeoutError: slow" in text
    assert "first in each round: A B A B A B." in text


def test_a_baseline_without_realtime_server_is_refused_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "ab", "--baseline", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"python -m bench ab: {tmp_path} has no realtime/server/__main__.py: "
        "it predates realtime/server/"
    ]


@pytest.fixture
def head(tmp_path):
    """An export of this checkout's HEAD, registered as the baseline contender."""
    archive = tmp_path / "head.tar"
    subprocess.run(["git", "-C", ROOT, "archive", "-o", archive, "HEAD"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "head", filter="data")
    yield runner.baseline(tmp_path / "head")
    CONTENDERS.pop(ab.BASELINE)


def test_two_real_rounds_of_rpc(head, tmp_path):
    plan = PLANS["quick"].with_overrides(
        contenders=ab.contenders(head),
        repeats=1,
        scenarios=("rpc",),
        rpc_sizes=(5,),
        rpc_duration=0.2,
    )
    out = tmp_path / "out"
    results = ab.compare(plan, rounds=2, out=out, auth="token", keep=False)
    assert ab.errors(results) == []
    assert [r["order"] for r in results["rounds"]] == [
        [ab.OURS, ab.BASELINE],
        [ab.BASELINE, ab.OURS],
    ]
    calls = json.loads((out / "ab.json").read_text())["metrics"][
        "RPC 5 clients, raised limit: calls/s"
    ]
    assert calls["rounds"] == 2
    assert calls["ours"]["median"] > 0
    assert calls["baseline"]["median"] > 0
    assert calls["verdict"] == "too few rounds"
    assert "| RPC 5 clients, default limit: p50 ms |" in (out / "ab.md").read_text()
