"""``--workers N``: N server processes on one port, supervised.

The supervisor binds N listening sockets to the same address with
SO_REUSEPORT, one per worker, and starts each worker as a full server
process (``python -m realtime.server`` with the same arguments) on its socket.
The kernel spreads new connections over the workers' sockets by a hash of
each connection's addresses, so every core takes its share, and each worker
is an instance of its own in the registry (its own backplane channel), as if
it ran on another machine: nothing is shared between workers but Redis and
the database.

SO_REUSEPORT rather than one inherited socket: with one accept queue,
every idle worker wakes for each new connection and the first to run takes
up to a hundred of them at once, so a reconnect storm lands unevenly. With a
socket per worker, a worker that dies takes only its own queue with it, and
new connections go to the others' sockets until it is back.

Ctrl-C or SIGTERM: the supervisor sends SIGTERM to every worker, and each
drains the way a single server does (every client gets a Close with
``allowReconnect``), then waits for them. A worker that dies on its own is
logged and restarted after a second; one that keeps dying (RESTART_LIMIT
times within RESTART_WINDOW seconds) stops the whole group with exit code 1,
so that the service manager (systemd, a container runtime) restarts it and
says so. Workers run in their own process group, so a terminal's Ctrl-C
reaches the supervisor alone, which then stops each worker once; and a
worker gets SIGTERM (and drains) when the supervisor ends in any way, even
SIGKILL, so no worker outlives it holding the port.

Prometheus: the supervisor makes a fresh private directory (in systemd's
``RuntimeDirectory=`` if the unit has one, else in ``TMPDIR``) and gives it
to every worker as ``PROMETHEUS_MULTIPROC_DIR``,
so each worker's metrics go to files there and a scrape answered by any
worker merges them (`realtime.metrics.exposition`). A worker that exits is
marked dead (its live gauges drop out; its counters stay in the sums); the
directory is removed when the supervisor ends (after a SIGKILL of the
supervisor, only systemd's runtime directory goes away by itself).
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

from prometheus_client.multiprocess import mark_process_dead

logger = logging.getLogger(__name__)

#: Seconds a stopping worker has to drain before SIGKILL.
DRAIN_TIMEOUT = 30.0
RESTART_DELAY = 1.0
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
POLL_INTERVAL = 0.2
#: prctl(2) option: the signal a process gets when its parent ends.
PR_SET_PDEATHSIG = 1
#: prometheus_client's multiprocess mode: where each worker writes its metrics.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class WorkersError(ValueError):
    """A bad ``--workers`` value or a command line ``--workers`` cannot serve."""


def parse_count(value: str, name: str = "--workers") -> int:
    """Return the number of workers ``value`` asks for (``auto``: usable cores)."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        count = int(value)
    except ValueError:
        raise WorkersError(f"{name} must be a positive integer or 'auto', got {value!r}") from None
    if count < 1:
        raise WorkersError(f"{name} must be at least 1, got {count}")
    return count


def take_option(args: list[str]) -> tuple[int, list[str]]:
    """Remove ``--workers N`` (or ``--workers=N``) from `args`: (count, the rest)."""
    count, rest = 1, []
    items = iter(args)
    for item in items:
        if item == "--workers":
            value = next(items, None)
            if value is None:
                raise WorkersError("--workers needs a value: a positive integer or 'auto'")
            count = parse_count(value)
        elif item.startswith("--workers="):
            count = parse_count(item.split("=", 1)[1])
        else:
            rest.append(item)
    return count, rest


def split_bind(args: list[str]) -> tuple[str | None, str | None, list[str]]:
    """Remove ``-b HOST -p PORT`` from `args`: (host, port, the rest)."""
    host = port = None
    rest: list[str] = []
    items = iter(args)
    for item in items:
        if item in ("-b", "--bind"):
            host = next(items, None)
        elif item in ("-p", "--port"):
            port = next(items, None)
        else:
            rest.append(item)
    return host, port, rest


def take_bind(args: list[str]) -> tuple[str, int, list[str]]:
    """The address N workers listen on (``-b``, default 127.0.0.1, and ``-p``), the rest."""
    host, port, rest = split_bind(args)
    host = host or "127.0.0.1"
    if port is None or not port.isdigit() or int(port) == 0:
        raise WorkersError("--workers needs -p PORT, a fixed port (and optionally -b HOST)")
    if any(a in ("-e", "--endpoint", "-u", "--unix-socket", "--fd") for a in rest):
        raise WorkersError("--workers takes -b/-p only, not -e, -u or --fd")
    if ":" in host:
        # daphne's "fd:" endpoint adopts IPv4 sockets only.
        raise WorkersError("--workers needs an IPv4 -b HOST (nginx reaches it on 127.0.0.1)")
    return host, int(port), rest


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket that other workers may bind too (SO_REUSEPORT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Worker:
    """One slot of the group: its process, and when it was (re)started."""

    index: int
    process: subprocess.Popen | None = None
    starts: deque = field(default_factory=lambda: deque(maxlen=RESTART_LIMIT))
    due: float = 0.0  # when a dead worker is restarted


class Supervisor:
    """Start `count` workers on one address and keep them running until told to stop."""

    def __init__(self, count: int, host: str, port: int, args: list[str], *, backlog: int) -> None:
        self.host, self.port, self.args, self.backlog = host, port, args, backlog
        self.workers = [Worker(i) for i in range(count)]
        self.stopping = False
        self.failed = False
        self.metrics_dir = ""  # made by run(), before the first worker

    def command(self, fd: int) -> list[str]:
        # daphne's "fd:" endpoint adopts an inherited IPv4 listening socket.
        return [sys.executable, "-m", "realtime.server", "-e", f"fd:fileno={fd}", *self.args]

    def start(self, worker: Worker) -> None:
        sock = listen(self.host, self.port, self.backlog)
        try:
            worker.process = subprocess.Popen(
                self.command(sock.fileno()),
                pass_fds=(sock.fileno(),),
                env={**os.environ, METRICS_DIR_ENV: self.metrics_dir},
                start_new_session=True,
                preexec_fn=partial(die_with, os.getpid()),
            )
        finally:
            # The worker holds the socket now; a worker that dies closes it,
            # so no connection waits in the queue of a dead process.
            sock.close()
        worker.starts.append(time.monotonic())
        logger.info("worker %d started (pid %d)", worker.index, worker.process.pid)

    def _stop(self, signum: int, frame: object) -> None:
        if not self.stopping:
            logger.info("stopping %d workers (signal %d)", len(self.workers), signum)
        self.stopping = True

    def run(self) -> int:
        """Run until SIGINT or SIGTERM (or a crash loop); return the exit code."""
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        self.metrics_dir = tempfile.mkdtemp(prefix="realtime-metrics-", dir=runtime_directory())
        try:
            self.serve()
        finally:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return 1 if self.failed else 0

    def serve(self) -> None:
        """Start every worker, tend them until told to stop, then stop them."""
        try:
            for worker in self.workers:
                self.start(worker)
        except OSError as exc:
            logger.error("cannot listen on %s:%d: %s", self.host, self.port, exc.strerror)
            self.failed = self.stopping = True
        while not self.stopping:
            time.sleep(POLL_INTERVAL)
            self.tend()
        self.stop_all()

    def tend(self) -> None:
        """Restart dead workers after RESTART_DELAY; give up on a crash loop."""
        now = time.monotonic()
        for worker in self.workers:
            process = worker.process
            if process is not None and process.poll() is not None:
                worker.process, worker.due = None, now + RESTART_DELAY
                mark_process_dead(process.pid, self.metrics_dir)
                starts = worker.starts
                if len(starts) == RESTART_LIMIT and now - starts[0] < RESTART_WINDOW:
                    logger.error(
                        "worker %d (pid %d) exited with %s, %d times within %.0f s; "
                        "stopping every worker",
                        worker.index,
                        process.pid,
                        describe(process.returncode),
                        RESTART_LIMIT,
                        RESTART_WINDOW,
                    )
                    self.failed = self.stopping = True
                    return
                logger.warning(
                    "worker %d (pid %d) exited with %s; restarting it in %.0f s",
                    worker.index,
                    process.pid,
                    describe(process.returncode),
                    RESTART_DELAY,
                )
            if worker.process is None and now >= worker.due:
                try:
                    self.start(worker)
                except OSError as exc:
                    logger.error("worker %d could not restart: %s", worker.index, exc)
                    worker.due = now + RESTART_DELAY

    def stop_all(self) -> None:
        """SIGTERM every worker (each drains), wait, SIGKILL what is left."""
        running = [w.process for w in self.workers if w.process and w.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not drain in time; killing it", process.pid)
                process.kill()
                process.wait()
        logger.info("all workers stopped")


def runtime_directory() -> str | None:
    """systemd's ``RuntimeDirectory=`` (a tmpfs it removes when the service stops), if set."""
    given = os.environ.get("RUNTIME_DIRECTORY", "")
    return given.split(":")[0] or None


def die_with(supervisor: int) -> None:
    """In a new worker, before it runs: get SIGTERM when `supervisor` ends (Linux).

    However the supervisor ends (SIGKILL included), its workers drain and
    exit instead of holding the port with nobody to restart or stop them.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        os._exit(1)
    if os.getppid() != supervisor:  # it ended before prctl took effect
        os._exit(1)


def describe(returncode: int) -> str:
    """'signal SIGKILL' or 'code 3'."""
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"code {returncode}"


def main(count: int, args: list[str], *, backlog: int) -> int:
    """Serve `args` (daphne's, with -b/-p) with `count` workers; return the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        host, port, rest = take_bind(args)
        listen(host, port, backlog).close()  # the address is free, before any worker runs
    except WorkersError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on {host}:{port}: {exc.strerror}\n")
        return 2
    return Supervisor(count, host, port, rest, backlog=backlog).run()
