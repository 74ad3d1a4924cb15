"""One benchmark session: an embedded Redis, the load generator, the seeded database.

`session()` starts what every contender's run shares once; `measure()` runs
one contender in it; `run()` is ``python -m bench run``: every contender of
the plan in turn, the results written after each scenario. ``python -m
bench ab`` (`bench.ab`) runs its rounds in one session too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench import report, servers
from bench.database import Database
from bench.loadgen import LoadGenerator, raise_open_file_limit
from bench.plans import Plan
from bench.scenarios import ContenderRun, Context
from bench.servers import CONTENDERS, Contender
from config.embedded_redis import EmbeddedRedis, redis_server_binary

logger = logging.getLogger("bench")

ROOT = servers.ROOT
RESULTS = ROOT / "bench" / "results"
#: Paths whose changes do not change what a run measures.
UNMEASURED = ("bench/results", "tests", "docs", "*.md")
PACKAGES = (
    "django", "channels", "channels-redis", "daphne", "uvicorn", "websockets",
    "python-socketio", "redis", "uvloop",
)  # fmt: skip
#: What a checkout needs to run as the baseline: the server command of ours.
SERVER_COMMAND = Path("realtime", "server", "__main__.py")


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


def revision(checkout: Path = ROOT) -> str:
    """The commit measured, marked when the code it runs has local changes.

    Everything but the results, tests and documentation counts: the apps'
    code (orders/, notifications/) runs in ours as much as realtime/ does.
    """
    git = ["git", "-C", str(checkout)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", ".", *(f":(exclude){p}" for p in UNMEASURED)],
        capture_output=True,
        text=True,
    )
    commit = head.stdout.strip() or "unknown"
    return f"{commit}+local changes" if dirty.stdout.strip() else commit


def baseline(checkout: Path) -> Contender:
    """Register `checkout` as contender ours-daphne-baseline and return it.

    Raises ValueError when the checkout predates realtime/server/.
    """
    root = checkout.resolve()
    if not (root / SERVER_COMMAND).is_file():
        raise ValueError(f"{checkout} has no {SERVER_COMMAND}: it predates realtime/server/")
    base = servers.baseline(root, revision(root))
    CONTENDERS[base.name] = base
    return base


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def meta(auth: str) -> dict:
    """The machine, the versions and the revision of a run."""
    return {
        "started": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "machine": platform.platform(terse=True),
        "python": platform.python_version(),
        "load_before": load(),
        "load_after": load(),
        "versions": versions(),
        "revision": revision(),
        "auth": auth,
    }


@contextlib.contextmanager
def session(
    plan: Plan,
    *,
    checkpoint: Callable[[], None],
    profile_dir: Path | None = None,
    auth: str = "token",
    keep: bool = False,
) -> Iterator[Context]:
    """Redis, the load generator and the database for every contender of `plan`.

    The work dir (server logs) is kept when `keep` or when a run failed.
    """
    raise_open_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    redis = EmbeddedRedis(workdir / "redis").start()
    loadgen = LoadGenerator(plan.workers).start()
    ctx = None
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
            profile_dir=profile_dir,
            auth=auth,
            checkpoint=checkpoint,
        )
        yield ctx
    finally:
        loadgen.stop()
        redis.stop()
        if keep or ctx is None or ctx.failed:
            logger.warning("server logs kept in %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def measure(ctx: Context, name: str, into: dict) -> dict:
    """Run every scenario of the plan against contender `name`; its result goes in `into`.

    `into[name]` is filled as the scenarios finish, so that a checkpoint
    writes what was measured so far.
    """
    began = time.monotonic()
    logger.info("=== %s", name)
    runner = ContenderRun(CONTENDERS[name], ctx)
    into[name] = runner.result
    try:
        runner.run()
    except Exception as exc:
        logger.exception("%s failed", name)
        runner.result["errors"].append(f"{type(exc).__name__}: {exc}")
    ctx.failed = ctx.failed or bool(runner.result["errors"])
    logger.info("=== %s done in %.0f s", name, time.monotonic() - began)
    return runner.result


def run(plan: Plan, *, out: Path, profile: bool, auth: str, keep: bool) -> dict:
    """Every contender of `plan` in turn; the results in `out` (latest.json, .md, .png)."""
    results: dict = {"meta": meta(auth), "plan": plan.__dict__, "contenders": {}}
    started = time.monotonic()
    try:
        with session(
            plan,
            checkpoint=lambda: report.write_all(results, out, with_plot=False),
            profile_dir=out / "profiles" if profile else None,
            auth=auth,
            keep=keep,
        ) as ctx:
            for name in plan.contenders:
                measure(ctx, name, results["contenders"])
                results["meta"]["load_after"] = load()
                results["meta"]["seconds"] = round(time.monotonic() - started)
                report.write_all(results, out, with_plot=False)
    finally:
        # Also after an interruption: what was measured is rendered.
        report.write_all(results, out)
    logger.info("done in %.0f s: %s", time.monotonic() - started, out / "latest.md")
    return results
