"""``python -m bench ab``: ours against another checkout in alternating rounds.

On a shared machine the contender that runs second is often 10-20 % slower,
so ``bench run --baseline`` (all of one, then all of the other) cannot tell
a small change from the order. Here each of `rounds` rounds runs both
contenders once (repeats 1), alternating which goes first (A B, B A, A B,
...: ABBA over pairs of rounds), in one session (one Redis, one load
generator). Each metric is then compared round by round:

- the median of the rounds for each revision;
- the ratio ours/baseline: the median of the per-round ratios, and their range;
- how many rounds ours was better, worse, or equal;
- the verdict: "ours better" (or "ours worse") when a two-sided sign test
  over the rounds that differ gives p < `ALPHA` *and* the median ratio is
  beyond `MARGIN` in the same direction; without a ratio (the baseline at 0
  in every round, e.g. storm failures) the sign test decides alone. Else "no
  difference beyond noise", or "too few rounds" when even unanimous rounds
  could not reach p < `ALPHA` (fewer than 6).

A rate (a figure "per second") is better higher; every other metric (times,
memory, CPU, failures) better lower. Results: ab.json (every round's full
results) and ab.md in --out.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from bench import report, runner
from bench.plans import Plan
from bench.servers import CONTENDERS, Contender
from bench.trigger import STEPS

logger = logging.getLogger(__name__)

OURS = "ours-daphne"
BASELINE = "ours-daphne-baseline"
ROUNDS = 6
#: A sign test at this level ...
ALPHA = 0.05
#: ... and a median ratio at least this far from 1 make a difference.
MARGIN = 0.05
NOISE = "no difference beyond noise"


def contenders(base: Contender) -> tuple[str, str]:
    """The two contenders of every round: ours, then the baseline."""
    return (OURS, base.name)


def order(index: int, names: tuple[str, str]) -> tuple[str, str]:
    """Who goes first in round `index` (from 0): ours in even rounds, the baseline in odd."""
    return names if index % 2 == 0 else (names[1], names[0])


# Headline metrics -------------------------------------------------------------


def _items(table: dict | None) -> Iterator[tuple[int, dict]]:
    """A table keyed by size (int in memory, str once through JSON), by size."""
    yield from sorted(((int(k), v) for k, v in (table or {}).items() if v), key=lambda i: i[0])


def _median(entry: dict | None, *path: str) -> float | None:
    for key in path:
        entry = (entry or {}).get(key)
    return (entry or {}).get("median")


def headline(result: dict) -> dict[str, float]:
    """The figures of one contender's results compared by ``ab``, by name."""
    found: dict[str, float | None] = {}
    for size, entry in _items(result.get("fanout")):
        found[f"fan-out {size}: one broadcast, last client ms"] = _median(
            entry, "spaced", "complete_ms"
        )
        found[f"fan-out {size}: back to back, msg/s"] = _median(entry, "burst", "throughput")
    if storm := result.get("storm"):
        found["storm: connections/s"] = _median(storm, "per_s")
        found["storm: failures"] = storm.get("failed")
    if idle := result.get("idle"):
        found["idle: KiB per connection (worse rate)"] = idle.get("kib_per_connection")
    for rate, entry in _items(result.get("idle_by_rate")):
        found[f"idle, {rate} opening at a time: CPU ms per open"] = entry.get("open_cpu_ms")
        found[f"idle, {rate} opening at a time: idle CPU %"] = entry.get("idle_cpu_pct")
    for key, limit in (("rpc", "raised limit"), ("rpc_default", "default limit")):
        for size, entry in _items(result.get(key)):
            name = f"RPC {size} clients, {limit}"
            found[f"{name}: calls/s"] = _median(entry, "calls_per_s")
            found[f"{name}: p50 ms"] = _median(entry, "p50_ms")
            found[f"{name}: server CPU µs per call"] = entry.get("server_cpu_us_per_call")
    if e2e := result.get("e2e"):
        found["e2e: p50 ms"] = _median(e2e, "p50_ms")
        found["e2e: p99 ms"] = _median(e2e, "p99_ms")
        times = [_median(e2e, f"{step}_ms") for step in STEPS]
        for step, time_ in zip(STEPS, times, strict=True):
            found[f"e2e: {step.replace('_', ' ')} ms"] = time_
        # Each step alone (a difference of the medians): a change to one step
        # shows in it, not under the noise of the steps before.
        for step, time_, previous in zip(STEPS[1:], times[1:], times, strict=False):
            if time_ is not None and previous is not None:
                found[f"e2e: {step.replace('_', ' ')} step ms"] = time_ - previous
    if slow := result.get("slow_readers"):
        found["slow readers: others' p50 ms alone"] = _median(slow, "alone", "p50_ms")
        found["slow readers: others' p50 ms beside"] = _median(slow, "beside", "p50_ms")
    return {k: float(v) for k, v in found.items() if v is not None and not math.isnan(v)}


def higher_is_better(name: str) -> bool:
    return name.endswith("/s")


# The comparison ---------------------------------------------------------------


def sign_test(better: int, worse: int) -> float:
    """Two-sided p of `better` against `worse` rounds if either were equally likely."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(better, worse) + 1)) / 2**n
    return min(1.0, 2 * tail)


def verdict(better: int, worse: int, ratio: float | None, higher: bool, rounds: int) -> str:
    """The rule of the module's docstring."""
    if 2 * 0.5**rounds >= ALPHA:
        return "too few rounds"
    if sign_test(better, worse) >= ALPHA:
        return NOISE
    ours_better = better > worse
    if ratio is not None:
        gain = ratio - 1 if higher else 1 - ratio
        if not (gain >= MARGIN if ours_better else gain <= -MARGIN):
            return NOISE
    return "ours better" if ours_better else "ours worse"


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def compare_metric(ours: list[float | None], base: list[float | None], higher: bool) -> dict:
    """One metric over the rounds (None where a round lacks it)."""
    pairs = [(o, b) for o, b in zip(ours, base, strict=True) if o is not None and b is not None]
    better = sum(1 for o, b in pairs if (o > b if higher else o < b))
    worse = sum(1 for o, b in pairs if (o < b if higher else o > b))
    ratio = _spread([o / b for o, b in pairs if b])
    return {
        "higher_is_better": higher,
        "ours": _spread([o for o in ours if o is not None]),
        "baseline": _spread([b for b in base if b is not None]),
        "ratio": ratio,
        "rounds": len(pairs),
        "better": better,
        "worse": worse,
        "p": sign_test(better, worse),
        "verdict": verdict(better, worse, ratio and ratio["median"], higher, len(pairs)),
    }


def aggregate(rounds: list[dict], names: tuple[str, str] = (OURS, BASELINE)) -> dict[str, dict]:
    """Every headline metric that both contenders reported in some round."""
    readings = [[headline(r["contenders"].get(name) or {}) for name in names] for r in rounds]
    metrics: dict[str, None] = {}  # names in order of appearance
    for ours, base in readings:
        metrics.update(dict.fromkeys(k for k in ours if k in base))
    return {
        name: compare_metric(
            [ours.get(name) for ours, _ in readings],
            [base.get(name) for _, base in readings],
            higher_is_better(name),
        )
        for name in metrics
    }


def errors(results: dict) -> list[str]:
    return [
        f"round {i + 1}, {name}: {error}"
        for i, r in enumerate(results["rounds"])
        for name, result in r["contenders"].items()
        for error in result.get("errors", ())
    ]


# Running and writing -----------------------------------------------------------


def compare(plan: Plan, *, rounds: int, out: Path, auth: str, keep: bool) -> dict:
    """Run `rounds` rounds of the plan's two contenders; write ab.json and ab.md to `out`."""
    names = (plan.contenders[0], plan.contenders[1])
    results: dict = {
        "meta": runner.meta(auth),
        "plan": plan.__dict__,
        "labels": {name: CONTENDERS[name].label for name in names},
        "rule": {"alpha": ALPHA, "margin": MARGIN},
        "rounds": [],
        "metrics": {},
    }
    started = time.monotonic()
    try:
        with runner.session(
            plan, checkpoint=lambda: write(results, out), auth=auth, keep=keep
        ) as ctx:
            for index in range(rounds):
                first = order(index, names)
                logger.info("=== round %d of %d: %s first", index + 1, rounds, first[0])
                entry: dict = {"order": list(first), "load_before": runner.load()}
                entry["contenders"] = {}
                results["rounds"].append(entry)
                for name in first:
                    runner.measure(ctx, name, entry["contenders"])
                entry["load_after"] = results["meta"]["load_after"] = runner.load()
                results["meta"]["seconds"] = round(time.monotonic() - started)
                results["metrics"] = aggregate(results["rounds"], names)
                write(results, out)
    finally:
        results["metrics"] = aggregate(results["rounds"], names)
        write(results, out)
    logger.info("done in %.0f s: %s", time.monotonic() - started, out / "ab.md")
    return results


def write(results: dict, out: Path) -> None:
    report.write_json(results, out / "ab.json")
    (out / "ab.md").write_text("\n".join(markdown(results)) + "\n")


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _ratio(ratio: dict | None) -> str:
    if not ratio:
        return "n/a"
    return f"{ratio['median']:.3f} [{ratio['min']:.3f}-{ratio['max']:.3f}]"


def markdown(results: dict) -> list[str]:
    meta, plan, labels = results["meta"], results["plan"], results["labels"]
    ours, base = labels.values()
    rounds = results["rounds"]
    firsts = " ".join("A" if r["order"][0] == OURS else "B" for r in rounds)
    lines = [
        f"# A/B: {ours} (A) against {base} (B)",
        "",
        f"{meta['started']}, revision {meta['revision']}, {meta['cpus']} CPUs, "
        f"load average {meta['load_before']} before, {meta['load_after']} after. "
        f"{len(rounds)} rounds of the {plan['name']} plan "
        f"(scenarios: {', '.join(plan['scenarios']) or 'all'}), each contender once per "
        f"round; first in each round: {firsts or 'none yet'}.",
        "",
        f"Verdict: better or worse when a two-sided sign test over the rounds that differ "
        f"gives p < {results['rule']['alpha']} and the median of the per-round ratios is "
        f"beyond ±{results['rule']['margin']:.0%} in the same direction (the sign test alone "
        f"when the baseline was 0 in every round); a sign test needs 6 rounds at the least. "
        f"Rates (/s) are better higher, everything else lower.",
        "",
        "| metric | A: median | B: median | A/B: median [min-max] | A better | p | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, m in results["metrics"].items():
        equal = m["rounds"] - m["better"] - m["worse"]
        tally = f"{m['better']} of {m['rounds']}" + (f" ({equal} equal)" if equal else "")
        lines.append(
            f"| {name} | {_num((m['ours'] or {}).get('median'))} "
            f"| {_num((m['baseline'] or {}).get('median'))} | {_ratio(m['ratio'])} "
            f"| {tally} | {m['p']:.3f} | {m['verdict']} |"
        )
    if failures := errors(results):
        lines += ["", "Errors:", "", *(f"- {e}" for e in failures)]
    return lines
