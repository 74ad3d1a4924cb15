"""bench/results/capacity/latest.md: the costs, the check and the model as tables."""

from __future__ import annotations

from bench.capacity_model import Costs, plan, workloads

LABELS = {
    "connect": "connect (negotiate, WebSocket, handshake, on_connected)",
    "subscribe": "subscribe (SubscribeToTopic: a group join)",
    "connect_and_subscribe": "connect + subscribe",
    "disconnect": "disconnect",
    "disconnect_subscribed": "disconnect of a subscribed connection",
    "upkeep_per_connection_minute": "upkeep per idle connection per minute (presence, registry)",
    "broadcast_one_process": "group broadcast, members in 1 process",
    "broadcast_two_processes": "group broadcast, members in 2 processes",
    "broadcast_per_extra_process": "broadcast: each further process with members",
    "long_poll_connect_and_subscribe": "long polling: connect + subscribe",
    "long_poll_per_delivery": "long polling: one message delivered (one poll)",
}


def _top(commands: dict, count: int = 4) -> str:
    shown = [f"{name} {value:g}" for name, value in list(commands.items())[:count]]
    rest = len(commands) - count
    return ", ".join(shown) + (f", +{rest} more" if rest > 0 else "")


def ops_table(ops: dict) -> list[str]:
    lines = [
        "| operation | Redis calls | commands | bytes to Redis | bytes from Redis "
        "| Redis CPU µs | daphne CPU µs | sender CPU µs |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in LABELS.items():
        op = ops.get(name)
        if op is None:
            continue
        cpu = op["cpu_us"]
        daphne = " + ".join(f"{cpu[r]:,.0f}" for r in ("d1", "d2") if r in cpu)
        lines.append(
            f"| {label} | {op['calls']:.2f} | {_top(op['commands'])} "
            f"| {op['net_in_bytes']:,.0f} | {op['net_out_bytes']:,.0f} "
            f"| {op['redis_cpu_us']:,.1f} | {daphne} | {cpu.get('trigger', 0):,.0f} |"
        )
    return lines


def check_table(check: dict) -> list[str]:
    measured, predicted = check["measured"], check["predicted"]
    rows = [
        ("daphne CPU (share of a core)", measured["cpu_us"]["d1"] / 1e6, predicted["daphne_cpu"]),
        ("Redis CPU (share of a core)", measured["redis_cpu_us"] / 1e6, predicted["redis_cpu"]),
        ("Redis calls per second", measured["calls"], predicted["calls"]),
        (
            "Redis bytes per second",
            measured["net_in_bytes"] + measured["net_out_bytes"],
            predicted["net_bytes"],
        ),
    ]
    lines = ["| per second | predicted | measured | error |", "|---|---:|---:|---:|"]
    for label, got, want in rows:
        error = (got - want) / want if want else float("nan")
        digits = 3 if want < 10 else 0
        lines.append(f"| {label} | {want:,.{digits}f} | {got:,.{digits}f} | {error:+.0%} |")
    return lines


def model_table(result: dict) -> list[str]:
    costs = Costs.of(result["ops"], result["background_per_s"])
    lines = [
        "| workload | connections | connects/s | messages/s | group | daphne processes "
        "| limited by | daphne cores | Redis cores | Redis calls/s | Redis Mbit/s | shards |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads():
        p = plan(costs, workload)
        lines.append(
            f"| {p['workload']} | {p['connections']:,} | {p['connects_per_s']:,.0f} "
            f"| {p['deliveries_per_s']:,.0f} | {p['group_size']:,} | {p['processes']:,} "
            f"| {p['limited_by']} | {p['daphne_cores']:,.1f} | {p['redis_cores']:,.2f} "
            f"| {p['redis_calls_per_s']:,.0f} | {p['redis_mbit_per_s']:,.0f} "
            f"| {p['redis_shards']} |"
        )
    return lines


def render(result: dict) -> str:
    meta = result.get("meta", {})
    check = result["check"]
    background = result["background_per_s"]
    lines = [
        "# Capacity: Redis and CPU per operation",
        "",
        f"Measured {meta.get('started', '?')} on {meta.get('cpus', '?')} cores "
        f"({meta.get('machine', '?')}, Python {meta.get('python', '?')}), revision "
        f"{meta.get('revision', '?')}, load {meta.get('load', '?')}. "
        "`python -m bench capacity`; what the columns mean: docs/scaling.md.",
        "",
        "Idle background of one server process per second: "
        f"{background['calls']:.1f} Redis calls, "
        f"{background['net_in_bytes'] + background['net_out_bytes']:,.0f} bytes, "
        f"Redis CPU {background['redis_cpu_us']:,.0f} µs, "
        f"daphne CPU {background['cpu_us'].get('d1', 0):,.0f} µs.",
        "",
        *ops_table(result["ops"]),
        "",
        f"## Check: {check['hold']:,} held connections, {check['churn_per_s']:g} connects/s, "
        f"{check['broadcasts_per_s']:g} broadcasts/s to all of them, "
        f"{check['seconds']:.0f} s on one process",
        "",
        *check_table(check),
        "",
        "## Model",
        "",
        *model_table(result),
        "",
    ]
    return "\n".join(lines)
