"""``python -m bench run --quick|--full``: every scenario against every contender.

`bench.runner` starts an embedded Redis, seeds a SQLite template for our
server, starts the load-generator workers once, then runs each contender in
turn (one server process each). Results go to bench/results/latest.json,
latest.md and fanout.png; they are rewritten after every contender, so an
interrupted run still leaves what it measured. ``python -m bench report``
re-renders the markdown and the plot from latest.json. ``python -m bench ab
--baseline DIR`` compares ours with another checkout in alternating rounds
(`bench.ab`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench import ab, capacity, memory, report
from bench.database import Database
from bench.loadgen import LoadGenerator, raise_open_file_limit
from bench.plans import ALL_CONTENDERS, PLANS, SCENARIOS, Plan
from bench.runner import RESULTS, baseline, run
from bench.servers import CONTENDERS
from config.embedded_redis import EmbeddedRedis

logger = logging.getLogger("bench")


def heap_breakdown(names: list[str], size: int, out: Path) -> int:
    raise_open_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="bench-heap-"))
    redis = EmbeddedRedis(workdir / "redis").start()
    loadgen = LoadGenerator(2).start()
    try:
        database = None
        if any(CONTENDERS[name].ours for name in names):
            database = Database(workdir, redis.url, size + 20, cookies=False)
        for name in names:
            memory.measure(
                CONTENDERS[name],
                size,
                loadgen=loadgen,
                redis_url=redis.url,
                workdir=workdir,
                database=database,
                out=out,
            )
    finally:
        loadgen.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    # Run the finally blocks, so every child process is stopped by its PID.
    raise SystemExit(128 + signum)


def _ints(text: str | None) -> tuple[int, ...] | None:
    """A comma-separated option as integers (None when not given)."""
    return tuple(int(part) for part in text.split(",")) if text else None


def _plan_options(parser: argparse.ArgumentParser) -> None:
    """The options of `run` and `ab` that size the plan, and how clients log in."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="plan", const="quick")
    size.add_argument("--full", action="store_const", dest="plan", const="full")
    parser.add_argument("--workers", type=int, help="load-generator processes")
    parser.add_argument("--sizes", help="comma-separated fan-out sizes (overrides the plan's N)")
    parser.add_argument("--burst-count", type=int, help="back-to-back broadcasts per run")
    parser.add_argument("--idle-size", type=int, help="connections of the idle scenario")
    parser.add_argument("--storm-size", type=int, help="clients of the connect storm")
    parser.add_argument("--idle-cpu-window", type=float, help="seconds of idle CPU sampling")
    parser.add_argument("--rpc-sizes", help="comma-separated RPC client counts")
    parser.add_argument("--rpc-duration", type=float, help="seconds of each RPC run")
    parser.add_argument("--e2e-count", type=int, help="order changes per end-to-end run")
    parser.add_argument(
        "--open-rates", help="comma-separated clients opening at a time in the idle scenario"
    )
    parser.add_argument(
        "--scenarios", help=f"comma-separated subset of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--auth", choices=("token", "cookie"), default="token")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and logs")


def _plan(args: argparse.Namespace, **changes: object) -> Plan:
    return PLANS[args.plan or "quick"].with_overrides(
        workers=args.workers,
        burst_count=args.burst_count,
        idle_size=args.idle_size,
        storm_size=args.storm_size,
        idle_cpu_window=args.idle_cpu_window,
        fanout_sizes=_ints(args.sizes),
        open_rates=_ints(args.open_rates),
        rpc_sizes=_ints(args.rpc_sizes),
        rpc_duration=args.rpc_duration,
        e2e_count=args.e2e_count,
        scenarios=tuple(args.scenarios.split(",")) if args.scenarios else None,
        **changes,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the benchmark")
    _plan_options(run_parser)
    run_parser.add_argument(
        "--contenders", help=f"comma-separated subset of {', '.join(ALL_CONTENDERS)}"
    )
    run_parser.add_argument("--repeats", type=int, help="runs per measurement")
    run_parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. a git worktree of the previous commit): its code runs as "
        "contender ours-daphne-baseline, after ours-daphne unless --contenders places it",
    )
    run_parser.add_argument("--profile", action="store_true", help="py-spy the burst at max N")
    run_parser.add_argument("--out", type=Path, default=RESULTS)
    ab_parser = commands.add_parser(
        "ab", help="ours against --baseline in alternating rounds, with a verdict per metric"
    )
    _plan_options(ab_parser)
    ab_parser.add_argument(
        "--baseline", type=Path, required=True, help="the other checkout (ours-daphne-baseline)"
    )
    ab_parser.add_argument("--rounds", type=int, default=ab.ROUNDS, help="rounds of both")
    ab_parser.add_argument("--out", type=Path, default=RESULTS / "ab")
    heap_parser = commands.add_parser("heap", help="per-connection memory breakdown")
    heap_parser.add_argument("--contenders", default="ours-daphne")
    heap_parser.add_argument("--size", type=int, default=300)
    heap_parser.add_argument("--out", type=Path, default=RESULTS / "heap")
    capacity.add_parser(commands)
    report_parser = commands.add_parser("report", help="re-render latest.md and fanout.png")
    report_parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A background job inherits SIGINT ignored; a benchmark must stop cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "report":
        results = json.loads((args.out / "latest.json").read_text())
        report.write_all(results, args.out)
        return 0
    if args.command == "capacity":
        return capacity.main(args)
    if args.command == "heap":
        return heap_breakdown(args.contenders.split(","), args.size, args.out)
    try:
        base = baseline(args.baseline) if args.baseline else None
    except ValueError as exc:
        sys.exit(f"python -m bench {args.command}: {exc}")
    if args.command == "ab":
        plan = _plan(args, contenders=ab.contenders(base), repeats=1)
    else:
        contenders = tuple(args.contenders.split(",")) if args.contenders else None
        plan = _plan(args, contenders=contenders, repeats=args.repeats)
    if base and base.name not in plan.contenders:  # else where --contenders puts it
        names = list(plan.contenders)
        at = names.index("ours-daphne") + 1 if "ours-daphne" in names else 0
        plan = plan.with_overrides(contenders=(*names[:at], base.name, *names[at:]))
    for kind, names, known in (
        ("scenarios", plan.scenarios, SCENARIOS),
        ("contenders", plan.contenders, CONTENDERS),
    ):
        if unknown := set(names) - set(known):
            parser.error(f"unknown {kind}: {', '.join(sorted(unknown))}")
    if args.command == "ab":
        results = ab.compare(plan, rounds=args.rounds, out=args.out, auth=args.auth, keep=args.keep)
        return 1 if ab.errors(results) else 0
    results = run(plan, out=args.out, profile=args.profile, auth=args.auth, keep=args.keep)
    failed = any(c.get("errors") for c in results["contenders"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
