"""Results on disk: latest.json, the markdown tables and the targets (and the plot)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.plot import plot

OURS = (
    "ours-daphne", "ours-daphne-baseline", "ours-uvicorn", "ours-daphne-msgpack",
    "ours-daphne-nometrics", "ours-daphne-stateful",
)  # fmt: skip
TARGET_SIZES = (5000, 10000)
#: The variant whose clients negotiate stateful reconnect (compared with ours-daphne).
STATEFUL = "ours-daphne-stateful"


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _spread(entry: dict | None, digits: int = 0) -> str:
    if not entry or not entry.get("runs"):
        return "n/a"
    return (
        f"{_num(entry['median'], digits)} "
        f"[{_num(entry['min'], digits)}-{_num(entry['max'], digits)}]"
    )


def _contenders(results: dict) -> list[dict]:
    return list(results["contenders"].values())


def _fanout(contender: dict | None, size: int) -> dict | None:
    fanout = (contender or {}).get("fanout") or {}
    return fanout.get(size) or fanout.get(str(size))


def fanout_table(results: dict) -> list[str]:
    rows = [
        "| contender | N | one broadcast: last client ms | first (cold) ms | p50 / p99 ms "
        "| back to back: msg/s | p50 / p99 ms | delivered | dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in _contenders(results):
        for size in sorted(int(s) for s in (c.get("fanout") or {})):
            f = _fanout(c, size)
            spaced, burst = f.get("spaced", {}), f.get("burst", {})
            delivered = sum(m.get("received", 0) for m in (spaced, burst))
            expected = sum(m.get("expected", 0) for m in (spaced, burst))
            overlapped = " ²" if spaced.get("overlapped") else ""
            rows.append(
                f"| {c['label']} | {f['clients']:,} "
                f"| {_spread(spaced.get('complete_ms'))}{overlapped} "
                f"| {_spread((f.get('cold') or {}).get('complete_ms'))} "
                f"| {_num(spaced.get('p50_ms', {}).get('median'))} / "
                f"{_num(spaced.get('p99_ms', {}).get('median'))} "
                f"| {_spread(burst.get('throughput'))} "
                f"| {_num(burst.get('p50_ms', {}).get('median'))} / "
                f"{_num(burst.get('p99_ms', {}).get('median'))} "
                f"| {delivered:,}/{expected:,} | {f.get('dropped', 'n/a')} |"
            )
    return rows


def _per_contender(
    results: dict, header: list[str], key: str, row: Callable[[str, dict], str]
) -> list[str]:
    """A table: `header`, then `row(label, entry)` for each contender with `key`."""
    return [*header, *(row(c["label"], c[key]) for c in _contenders(results) if c.get(key))]


def idle_table(results: dict) -> list[str]:
    header = [
        "| contender | idle connections | RSS growth KiB/connection (the worse rate) "
        "| by opening rate | opened/s | server CPU ms per open | server CPU % while idle |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, idle: dict) -> str:
        # Every column is the worse rate's measurement, so one row is one process.
        by_rate = ", ".join(
            f"{int(rate)} at a time: {_num(entry['kib_per_connection'], 1)}"
            for rate, entry in sorted((int(r), e) for r, e in (idle.get("by_rate") or {}).items())
        )
        return (
            f"| {label} | {idle['connections']:,} | {_num(idle['kib_per_connection'], 1)} "
            f"| {by_rate or 'n/a'} | {_num(idle['open_per_s'])} "
            f"| {_num(idle['open_cpu_ms'], 2)} | {_num(idle.get('idle_cpu_pct'), 1)} |"
        )

    rows = [
        {**c, "idle": c.get("idle") and {**c["idle"], "by_rate": c.get("idle_by_rate")}}
        for c in _contenders(results)
    ]
    return [*header, *(row(c["label"], c["idle"]) for c in rows if c.get("idle"))]


def storm_table(results: dict) -> list[str]:
    header = [
        "| contender | clients at once | connections/s | all connected after s | p99 ms "
        "| failures |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    return _per_contender(
        results,
        header,
        "storm",
        lambda label, s: (
            f"| {label} | {s['clients']:,} | {_spread(s['per_s'])} "
            f"| {_spread(s['elapsed_s'], 2)} | {_spread(s['p99_ms'])} | {s['failed']} |"
        ),
    )


def _rpc_limit(contender: dict, key: str, entry: dict) -> str:
    """How the invocation rate was limited in one RPC pass."""
    if contender["name"] not in OURS:
        return "none (the peer has no limit)"
    if key == "rpc":
        return "raised to 100,000/s per connection"
    rate = entry.get("paced_per_client")
    return f"default, {_num(rate)}/s per connection; each client keeps to it"


def rpc_table(results: dict) -> list[str]:
    rows = [
        "| contender | invocation limit | clients | invocations/s | p50 ms | p99 ms "
        "| server CPU µs per call | calls per server wakeup | load average | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in _contenders(results):
        for key in ("rpc", "rpc_default"):
            for size in sorted(int(s) for s in (c.get(key) or {})):
                r = c[key].get(size) or c[key].get(str(size))
                rows.append(
                    f"| {c['label']} | {_rpc_limit(c, key, r)} | {r['clients']:,} "
                    f"| {_spread(r['calls_per_s'])} | {_spread(r['p50_ms'], 1)} "
                    f"| {_spread(r['p99_ms'], 1)} | {_num(r.get('server_cpu_us_per_call'))} "
                    f"| {_num(r.get('calls_per_wakeup'), 1)} | {_num(r.get('load_average'), 1)} "
                    f"| {r['errors']} |"
                )
    return rows


def e2e_table(results: dict) -> list[str]:
    header = [
        "| contender | other clients | recorded ms | committed ms | handed to Redis ms "
        "| p50 ms (on the page) | p99 ms | delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    return _per_contender(
        results,
        header,
        "e2e",
        lambda label, e: (
            f"| {label} | {e['others']:,} | {_spread(e.get('recorded_ms'), 1)} "
            f"| {_spread(e.get('committed_ms'), 1)} | {_spread(e.get('handed_over_ms'), 1)} "
            f"| {_spread(e['p50_ms'], 1)} | {_spread(e['p99_ms'], 1)} "
            f"| {e['received']}/{e['expected']} |"
        ),
    )


def _throughput(contender: dict | None, size: int) -> float:
    f = _fanout(contender, size) if contender else None
    if not f:
        return math.nan
    return f.get("burst", {}).get("throughput", {}).get("median", math.nan)


def _times(ratio: float) -> str:
    return "n/a" if math.isnan(ratio) else f"{ratio:.2f}x"


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def targets(results: dict) -> list[dict]:
    """Evaluate the issue's targets for each of our contenders."""
    by_name = results["contenders"]
    sizes = [s for s in TARGET_SIZES if any(_fanout(c, s) for c in by_name.values())]
    scale_note = ""
    if not sizes:
        fanout_sizes = [int(s) for c in by_name.values() for s in (c.get("fanout") or {})]
        sizes = [max(fanout_sizes)] if fanout_sizes else []
        scale_note = " (quick plan: largest N run, not the target N)"
    rows: list[dict] = []
    for name in OURS:
        ours = by_name.get(name)
        if not ours:
            continue

        def add(target: str, value: float, ok: bool | None, shown: str, name: str = name) -> None:
            rows.append(
                {"contender": name, "target": target, "value": value, "ok": ok, "shown": shown}
            )

        for size in sizes:
            mine = _throughput(ours, size)
            for peer, factor in (
                ("raw-websockets", 0.5),
                ("socketio", 3.0),
                ("channels-core", 8.0),
                ("channels-pubsub", 8.0),
            ):
                ratio = _ratio(mine, _throughput(by_name.get(peer), size))
                ok = None if math.isnan(ratio) else ratio >= factor
                add(
                    f"back to back at N={size}: >= {factor:g}x {peer}{scale_note}",
                    ratio,
                    ok,
                    _times(ratio),
                )
            ok = None if math.isnan(mine) else mine >= 15000
            add(f"back to back at N={size}: >= 15,000 msg/s{scale_note}", mine, ok, _num(mine))
            if name == STATEFUL:  # at most 15 % slower than without stateful reconnect
                ratio = _ratio(mine, _throughput(by_name.get("ours-daphne"), size))
                add(
                    f"back to back at N={size}: >= 0.85x ours-daphne{scale_note}",
                    ratio,
                    None if math.isnan(ratio) else ratio >= 0.85,
                    _times(ratio),
                )
        delivered = expected = dropped = 0
        for f in (ours.get("fanout") or {}).values():
            for mode in ("spaced", "burst"):
                delivered += f.get(mode, {}).get("received", 0)
                expected += f.get(mode, {}).get("expected", 0)
            dropped += f.get("dropped", 0) or 0
        add(
            "every broadcast delivered",
            delivered,
            delivered == expected,
            f"{delivered:,}/{expected:,}",
        )
        add("no connection dropped", dropped, dropped == 0, str(dropped))
        idle_size = results["plan"]["idle_size"]
        spaced = (_fanout(ours, idle_size) or {}).get("spaced", {})
        raw_spaced = (_fanout(by_name.get("raw-websockets"), idle_size) or {}).get("spaced", {})
        ratio = _ratio(
            spaced.get("complete_ms", {}).get("median", math.nan),
            raw_spaced.get("complete_ms", {}).get("median", math.nan),
        )
        add(
            f"one broadcast to {idle_size:,} idle clients within 2x raw",
            ratio,
            None if math.isnan(ratio) else ratio <= 2.0,
            f"{_times(ratio)} raw",
        )
        idle = ours.get("idle") or {}
        per = idle.get("kib_per_connection")
        add(
            f"idle <= 25 KiB RSS per connection (at {idle.get('connections', 0):,})",
            per,
            None if per is None else per <= 25,
            f"{_num(per, 1)} KiB",
        )
        storm = ours.get("storm") or {}
        add(
            f"connect storm: no failure at {storm.get('clients', 0):,} clients",
            storm.get("failed"),
            storm.get("failed") == 0 if storm else None,
            str(storm.get("failed", "n/a")),
        )
    return rows


def targets_table(rows: list[dict]) -> list[str]:
    marks = {True: "met", False: "**missed**", None: "not measured"}
    lines = ["| contender | target | measured | result |", "|---|---|---:|---|"]
    lines += [
        f"| {r['contender']} | {r['target']} | {r['shown']} | {marks[r['ok']]} |" for r in rows
    ]
    return lines


def slow_readers_table(results: dict) -> list[str]:
    header = [
        "| contender | other clients | p50 / p99 ms alone | p50 / p99 ms beside 10 slow readers "
        "| readers closed by the server | RSS MiB before / during / after |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, s: dict) -> str:
        alone, beside = s["alone"], s["beside"]
        phases = ("rss_before_kib", "rss_during_kib", "rss_after_kib")
        rss = " / ".join(_num(s[key] / 1024, 1) for key in phases)
        return (
            f"| {label} | {s['others']:,} "
            f"| {_spread(alone['p50_ms'], 1)} / {_spread(alone['p99_ms'], 1)} "
            f"| {_spread(beside['p50_ms'], 1)} / {_spread(beside['p99_ms'], 1)} "
            f"| {s['closed_by_server']:,} | {rss} |"
        )

    return _per_contender(results, header, "slow_readers", row)


def _spaced_note(plan: dict) -> str:
    if "spaced_max_interval" not in plan:  # a run from before the cold broadcast
        return (
            f"One broadcast: {plan['spaced_count']} broadcasts {plan['spaced_interval']} s apart "
            "per run."
        )
    return (
        f"One broadcast: per run, a first (cold) broadcast alone, then {plan['spaced_count']} "
        f"spaced {plan['spaced_interval']} s apart or 1.5x the cold one's time if longer, at "
        f"most {plan['spaced_max_interval']} s; the median of each run's median. ² A broadcast "
        "took longer than that spacing, so some overlapped."
    )


def markdown(results: dict) -> str:
    meta = results["meta"]
    plan = results["plan"]
    out = [
        f"# Benchmark results ({plan['name']} plan)",
        "",
        f"Run {meta['started']} of revision {meta.get('revision', '?')} on {meta['cpus']} CPUs "
        f"({meta['machine']}), Python "
        f"{meta['python']}; load average {meta['load_before']} before and "
        f"{meta['load_after']} after; the machine was shared. Load generator: "
        f"{plan['workers']} worker processes. Values are medians over {plan['repeats']} runs "
        "with [min-max]. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
        "## Fan-out (payload ~200 B JSON, one topic group, triggered from another process)",
        "",
        _spaced_note(plan)
        + f" Back to back: {plan['burst_count']} broadcasts per run. Latency = receive time - "
        "send time embedded in the payload.",
        "",
        *fanout_table(results),
        "",
        "## Idle cost (fresh server process, VmRSS growth / connections)",
        "",
        "Measured once per opening rate (clients opening at a time), each on a fresh "
        "process; the worse rate is reported.",
        "",
        *idle_table(results),
        "",
        "## Connect storm (every client starts at the same instant)",
        "",
        *storm_table(results),
        "",
        "## RPC (each client invokes an echo in a loop, one call outstanding)",
        "",
        "Ours limits invocations per connection (MAX_INVOCATIONS_PER_SECOND); the peers have no "
        "such limit. Ours is measured with the limit raised (the row comparable with the peers) "
        "and with the default limit, its clients keeping to it.",
        "",
        *rpc_table(results),
        "",
        "## End to end: order status committed by the service -> customer's client",
        "",
        "Each time is from just before `orders.services.change_status` (medians over the "
        "changes of a run, then over runs): the state recorded and leased for the publish, "
        "in the change's transaction; that transaction committed; the first event handed "
        "to Redis; on the customer's page "
        "(p50 and p99 over every change).",
        "",
        *e2e_table(results),
        "",
        "## Clients that never read (10, 4 KiB receive buffers, an invocation every 5 ms)",
        "",
        f"{plan.get('slow_count', 0)} broadcasts {plan.get('slow_interval', 0)} s apart per run, "
        "to the same clients alone and beside the slow readers; a reader the server closes is "
        "replaced at once.",
        "",
        *slow_readers_table(results),
        "",
        "## Targets",
        "",
        *targets_table(results.get("targets", [])),
        "",
    ]
    errors = [(c["label"], e) for c in _contenders(results) for e in c.get("errors", [])]
    if errors:
        out += ["## Errors", "", *(f"- {label}: {e}" for label, e in errors), ""]
    return "\n".join(out)


def write_all(results: dict, directory: Path, *, with_plot: bool = True) -> None:
    """Write latest.json, latest.md and (unless told not to) fanout.png."""
    write_json(results, directory / "latest.json")
    results["targets"] = targets(results)
    write_json(results, directory / "latest.json")
    (directory / "latest.md").write_text(markdown(results))
    if with_plot:
        plot(results, directory / "fanout.png")
