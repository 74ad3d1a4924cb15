"""Numbers from raw measurements: percentiles, per-run metrics, spreads over runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median and min-max of one metric over repeated runs."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "runs": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def summarize(runs: list[dict], keys: Iterable[str]) -> dict[str, dict[str, float]]:
    """Spread of each metric over runs."""
    return {key: spread(run[key] for run in runs) for key in keys}


def step_medians(steps: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per step of a change (bench.trigger.STEPS), the median ms over changes."""
    by_step: dict[str, list[float]] = {}
    for change in steps:
        for step, ms in change.items():
            by_step.setdefault(step, []).append(ms)
    return {f"{step}_ms": statistics.median(values) for step, values in by_step.items()}


def fanout_run(receipts: dict, sent: list[float], seqs: list[int]) -> dict:
    """Metrics of one fan-out run (K broadcasts) from merged receipts."""
    latencies = [v for seq in seqs for v in receipts["latencies"].get(seq, ())]
    completions = [
        receipts["last"][seq] - at
        for seq, at in zip(seqs, sent, strict=True)
        if seq in receipts["last"]
    ]
    lasts = [receipts["last"][seq] for seq in seqs if seq in receipts["last"]]
    duration = (max(lasts) - sent[0]) if lasts else math.nan
    received = receipts["received"]
    return {
        "complete_ms": 1000 * statistics.median(completions) if completions else math.nan,
        "complete_max_ms": 1000 * max(completions) if completions else math.nan,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "duration_s": duration,
        "throughput": received / duration if duration and duration > 0 else math.nan,
        "received": received,
        "expected": receipts["expected"],
    }


def rpc_run(result: dict) -> dict:
    """Metrics of one RPC run."""
    rtts = result["rtts"]
    return {
        "calls_per_s": len(rtts) / result["elapsed"] if result["elapsed"] else math.nan,
        "p50_ms": 1000 * percentile(rtts, 0.50),
        "p99_ms": 1000 * percentile(rtts, 0.99),
        "calls": len(rtts),
        "errors": sum(result["errors"].values()),
    }


def storm_run(result: dict, start_at: float) -> dict:
    """Metrics of one connect storm."""
    finished = result["finished"]
    durations = [t - start_at for t in finished]
    elapsed = (max(finished) - start_at) if finished else math.nan
    return {
        "per_s": len(finished) / elapsed if finished and elapsed > 0 else math.nan,
        "elapsed_s": elapsed,
        "p50_ms": 1000 * percentile(durations, 0.50),
        "p99_ms": 1000 * percentile(durations, 0.99),
        "opened": result["opened"],
        "failed": result["failed"],
    }
