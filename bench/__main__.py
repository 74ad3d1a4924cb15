"""``python -m bench run --quick|--full``: every scenario against every contender.

Starts an embedded Redis, seeds a SQLite template for our server, starts the
load-generator workers once, then runs each contender in turn (one server
process each). Results go to bench/results/latest.json, latest.md and
fanout.png; they are rewritten after every contender, so an interrupted run
still leaves what it measured. ``python -m bench report`` re-renders the
markdown and the plot from latest.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import capacity, memory, report, servers
from bench.database import Database
from bench.loadgen import LoadGenerator, raise_open_file_limit
from bench.plans import ALL_CONTENDERS, PLANS, SCENARIOS, Plan
from bench.scenarios import ContenderRun, Context
from bench.servers import CONTENDERS
from config.embedded_redis import EmbeddedRedis, redis_server_binary

logger = logging.getLogger("bench")

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = (
    "django", "channels", "channels-redis", "daphne", "uvicorn", "websockets",
    "python-socketio", "redis", "uvloop",
)  # fmt: skip


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    banner = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    found["redis-server"] = next((p.split("=")[1] for p in banner if p.startswith("v=")), "?")
    return found


def revision(checkout: Path = RESULTS.parent.parent) -> str:
    """The commit measured, marked when realtime/ or config/ has local changes."""
    git = ["git", "-C", str(checkout)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "realtime", "config"], capture_output=True, text=True
    )
    commit = head.stdout.strip() or "unknown"
    return f"{commit}+local changes" if dirty.stdout.strip() else commit


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run(plan: Plan, *, out: Path, profile: bool, auth: str, keep: bool) -> dict:
    raise_open_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    results: dict = {
        "meta": {
            "started": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "cpus": os.cpu_count(),
            "machine": platform.platform(terse=True),
            "python": platform.python_version(),
            "load_before": _load(),
            "load_after": _load(),
            "versions": versions(),
            "revision": revision(),
            "auth": auth,
        },
        "plan": plan.__dict__,
        "contenders": {},
    }
    redis = EmbeddedRedis(workdir / "redis").start()
    loadgen = LoadGenerator(plan.workers).start()
    failed = False
    started = time.monotonic()
    try:
        database = None
        if any(CONTENDERS[name].ours for name in plan.contenders):
            database = Database(workdir, redis.url, plan.max_clients, cookies=auth == "cookie")
        ctx = Context(
            plan=plan,
            loadgen=loadgen,
            redis_url=redis.url,
            workdir=workdir,
            database=database,
            profile_dir=out / "profiles" if profile else None,
            auth=auth,
            checkpoint=lambda: report.write_all(results, out, with_plot=False),
        )
        for name in plan.contenders:
            began = time.monotonic()
            logger.info("=== %s", name)
            runner = ContenderRun(CONTENDERS[name], ctx)
            results["contenders"][name] = runner.result
            try:
                runner.run()
            except Exception as exc:
                logger.exception("%s failed", name)
                runner.result["errors"].append(f"{type(exc).__name__}: {exc}")
            failed = failed or bool(results["contenders"][name].get("errors"))
            logger.info("=== %s done in %.0f s", name, time.monotonic() - began)
            results["meta"]["load_after"] = _load()
            results["meta"]["seconds"] = round(time.monotonic() - started)
            report.write_all(results, out, with_plot=False)
    finally:
        loadgen.stop()
        redis.stop()
        if keep or failed:
            logger.warning("server logs kept in %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        # Also after an interruption: what was measured is rendered.
        report.write_all(results, out)
    logger.info("done in %.0f s: %s", time.monotonic() - started, out / "latest.md")
    return results


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


def main(argv: list[str] | None = None) -> int:
    # A background job inherits SIGINT ignored; a benchmark must stop cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the benchmark")
    size = run_parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="plan", const="quick")
    size.add_argument("--full", action="store_const", dest="plan", const="full")
    run_parser.add_argument(
        "--contenders", help=f"comma-separated subset of {', '.join(ALL_CONTENDERS)}"
    )
    run_parser.add_argument("--workers", type=int, help="load-generator processes")
    run_parser.add_argument("--repeats", type=int, help="runs per measurement")
    run_parser.add_argument(
        "--sizes", help="comma-separated fan-out sizes (overrides the plan's N)"
    )
    run_parser.add_argument("--burst-count", type=int, help="back-to-back broadcasts per run")
    run_parser.add_argument("--idle-size", type=int, help="connections of the idle scenario")
    run_parser.add_argument("--storm-size", type=int, help="clients of the connect storm")
    run_parser.add_argument("--idle-cpu-window", type=float, help="seconds of idle CPU sampling")
    run_parser.add_argument("--rpc-sizes", help="comma-separated RPC client counts")
    run_parser.add_argument("--rpc-duration", type=float, help="seconds of each RPC run")
    run_parser.add_argument(
        "--open-rates", help="comma-separated clients opening at a time in the idle scenario"
    )
    run_parser.add_argument(
        "--scenarios", help=f"comma-separated subset of {', '.join(SCENARIOS)} (default: all)"
    )
    run_parser.add_argument("--auth", choices=("token", "cookie"), default="token")
    run_parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. a git worktree of the previous commit): its code runs as "
        "contender ours-daphne-baseline, after ours-daphne unless --contenders places it",
    )
    run_parser.add_argument("--profile", action="store_true", help="py-spy the burst at max N")
    run_parser.add_argument("--keep", action="store_true", help="keep the work dir and logs")
    run_parser.add_argument("--out", type=Path, default=RESULTS)
    heap_parser = commands.add_parser("heap", help="per-connection memory breakdown")
    heap_parser.add_argument("--contenders", default="ours-daphne")
    heap_parser.add_argument("--size", type=int, default=300)
    heap_parser.add_argument("--out", type=Path, default=RESULTS / "heap")
    capacity.add_parser(commands)
    report_parser = commands.add_parser("report", help="re-render latest.md and fanout.png")
    report_parser.add_argument("--out", type=Path, default=RESULTS)
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
    plan = PLANS[args.plan or "quick"].with_overrides(
        contenders=tuple(args.contenders.split(",")) if args.contenders else None,
        workers=args.workers,
        repeats=args.repeats,
        burst_count=args.burst_count,
        idle_size=args.idle_size,
        storm_size=args.storm_size,
        idle_cpu_window=args.idle_cpu_window,
        fanout_sizes=_ints(args.sizes),
        open_rates=_ints(args.open_rates),
        rpc_sizes=_ints(args.rpc_sizes),
        rpc_duration=args.rpc_duration,
        scenarios=tuple(args.scenarios.split(",")) if args.scenarios else None,
    )
    if args.baseline:
        base = servers.baseline(args.baseline.resolve(), revision(args.baseline))
        CONTENDERS[base.name] = base
        if base.name not in plan.contenders:  # else where --contenders puts it
            names = list(plan.contenders)
            at = names.index("ours-daphne") + 1 if "ours-daphne" in names else 0
            plan = plan.with_overrides(contenders=(*names[:at], base.name, *names[at:]))
    for kind, names, known in (
        ("scenarios", plan.scenarios, SCENARIOS),
        ("contenders", plan.contenders, CONTENDERS),
    ):
        if unknown := set(names) - set(known):
            parser.error(f"unknown {kind}: {', '.join(sorted(unknown))}")
    results = run(plan, out=args.out, profile=args.profile, auth=args.auth, keep=args.keep)
    failed = any(c.get("errors") for c in results["contenders"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
