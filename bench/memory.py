"""``python -m bench heap``: what one idle connection costs, by allocation site.

Starts one contender under `bench.heap`, opens a few clients and closes them
(lazy imports, pools), dumps, opens N idle clients, dumps again, and writes
the per-connection breakdown to ``<out>/heap-<contender>-<N>.txt``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from redis import Redis

from bench import heap
from bench.database import Database
from bench.loadgen import LoadGenerator
from bench.servers import Contender, start_server

logger = logging.getLogger(__name__)

DUMP_TIMEOUT = 120.0


def _dump(pid: int, directory: Path, n: int) -> None:
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + DUMP_TIMEOUT
    while not (directory / f"{n}.done").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server wrote no heap dump {n}")
        time.sleep(0.2)


def measure(
    contender: Contender,
    size: int,
    *,
    loadgen: LoadGenerator,
    redis_url: str,
    workdir: Path,
    database: Database | None,
    out: Path,
) -> Path:
    """Write the per-connection breakdown of `size` idle clients; return its path."""
    directory = workdir / f"heap-{contender.name}"
    database_url = database.copy(f"heap-{contender.name}") if contender.ours and database else ""
    Redis.from_url(redis_url).flushall()
    server, port, _ = start_server(
        contender,
        rpc=False,
        redis_url=redis_url,
        workdir=workdir,
        database_url=database_url,
        heap_dir=directory,
    )
    credentials = database.credentials["tokens"] if contender.ours and database else []
    try:
        spec = contender.spec(port)
        loadgen.open(spec, 20, credentials, concurrency=20, timeout=120)
        loadgen.trim(0)
        time.sleep(2)
        rss_before = server.rss_kib()
        _dump(server.pid, directory, 0)
        opened = loadgen.open(spec, size, credentials, concurrency=20, timeout=300)
        time.sleep(2)
        rss_after = server.rss_kib()
        _dump(server.pid, directory, 1)
        live = loadgen.status()["live"]
        text = (
            f"{contender.label}: {live} idle connections ({opened['failed']} failed to open)\n"
            f"RSS growth under tracemalloc: {(rss_after - rss_before) / live:.1f} KiB per "
            "connection (tracing adds its own overhead)\n" + heap.compare(directory, 0, 1, live)
        )
    finally:
        loadgen.trim(0)
        server.stop()
    path = out / f"heap-{contender.name}-{size}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    logger.info("heap breakdown written to %s", path)
    return path
