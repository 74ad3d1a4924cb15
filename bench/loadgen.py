"""The load generator: worker processes, each holding a share of the clients.

The parent (`LoadGenerator`) sends each worker one command at a time over a
pipe and merges the replies. Workers run their own event loop (uvloop when
installed) so that several cores receive, and the client side is not what
limits a measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import resource
import time
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from typing import Any

from bench import payloads
from bench.dialects import ClientSpec, Session, new_session

logger = logging.getLogger(__name__)

#: Seconds between a client's keep-alive pings: the official SignalR client
#: pings after 15 s without sending (the server times out after 30 s). The
#: pings are spread over the period so they do not arrive as one burst.
KEEPALIVE_PERIOD = 15
#: A worker lives at most this long (every loop is bounded in time).
MAX_LIFETIME = 4 * 3600.0
REPLY_TIMEOUT = 900.0


def raise_open_file_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def describe(exc: BaseException) -> str:
    """A short, countable description of a failure."""
    detail = str(exc)[:80]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def split(total: int, parts: int) -> list[int]:
    """Split `total` into `parts` counts that differ by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Receipts:
    """Broadcast receipts of one worker since the last `arm`."""

    def __init__(self) -> None:
        self.dropped_count = 0
        self.arm(set(), 0)

    def arm(self, seqs: set[int], expected: int) -> None:
        self.seqs = seqs
        self.expected = expected
        self.count = 0
        self.latencies: dict[int, list[float]] = defaultdict(list)
        self.last: dict[int, float] = {}
        self.first_at = 0.0
        self.done = asyncio.Event()
        if expected == 0:
            self.done.set()

    def received(self, seq: int, sent: float) -> None:
        if seq not in self.seqs:
            return
        now = time.time()
        self.latencies[seq].append(now - sent)
        self.last[seq] = now
        if not self.first_at:
            self.first_at = now
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def dropped(self) -> None:
        self.dropped_count += 1


class Worker:
    """One load-generator process: a pool of sessions driven by commands."""

    def __init__(self, index: int, conn: Connection) -> None:
        self.index = index
        self.conn = conn
        self.sessions: list[Session] = []
        self.receipts = Receipts()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        keepalive = loop.create_task(self._keepalive())
        try:
            for _ in range(1_000_000):
                command = await loop.run_in_executor(None, self.conn.recv)
                op, ident = command.pop("op"), command.pop("id")
                try:
                    reply = await getattr(self, f"op_{op}")(**command)
                except Exception as exc:
                    logger.exception("worker %d: %s failed", self.index, op)
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                self.conn.send((ident, reply))
                if op == "stop":
                    break
        finally:
            keepalive.cancel()

    async def _keepalive(self) -> None:
        deadline = time.monotonic() + MAX_LIFETIME
        for tick in itertools.count():
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(1.0)
            for session in self.sessions[tick % KEEPALIVE_PERIOD :: KEEPALIVE_PERIOD]:
                session.keepalive()

    def _live(self, spec: ClientSpec | None = None) -> list[Session]:
        return [
            s
            for s in self.sessions
            if s.ready.done()
            and not s.ready.exception()
            and not s.ws.closed
            and (spec is None or s.spec == spec)
        ]

    # Commands -------------------------------------------------------------------

    async def op_open(
        self,
        spec: ClientSpec,
        credentials: list[str],
        concurrency: int,
        timeout: float,
        start_at: float = 0.0,
    ) -> dict:
        """Open one session per credential, at most `concurrency` at a time."""
        if start_at:
            await asyncio.sleep(max(0.0, start_at - time.time()))
        gate = asyncio.Semaphore(max(1, concurrency))
        errors: Counter[str] = Counter()
        finished: list[float] = []
        began = time.time()

        async def one(credential: str) -> None:
            async with gate:
                session = new_session(spec, self.receipts, credential)
                try:
                    await asyncio.wait_for(session.open(), timeout)
                except (Exception, asyncio.CancelledError) as exc:
                    errors[describe(exc)] += 1
                    session.close()
                    return
                self.sessions.append(session)
                finished.append(time.time())

        await asyncio.gather(*(one(c) for c in credentials))
        return {
            "opened": len(finished),
            "failed": sum(errors.values()),
            "errors": dict(errors),
            "began": began,
            "finished": finished,
        }

    async def op_trim(self, keep: int) -> dict:
        """Close sessions (newest first) until `keep` remain."""
        self.sessions = [s for s in self.sessions if not s.ws.closed]
        while len(self.sessions) > keep:
            self.sessions.pop().close()
        await asyncio.sleep(0)
        return {"live": len(self.sessions)}

    async def op_arm(self, seqs: list[int], spec: ClientSpec) -> dict:
        """Expect each live session of `spec` to receive every sequence in `seqs`."""
        live = len(self._live(spec))
        self.receipts.arm(set(seqs), live * len(seqs))
        return {"live": live, "expected": live * len(seqs)}

    async def op_collect(self, timeout: float) -> dict:
        """Wait until everything armed arrived (or `timeout`); return the receipts."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.receipts.done.wait(), timeout)
        r = self.receipts
        return {
            "expected": r.expected,
            "received": r.count,
            "latencies": dict(r.latencies),
            "last": dict(r.last),
            "first_at": r.first_at,
            "dropped": r.dropped_count,
        }

    async def op_rpc(self, clients: int, duration: float, start_at: float, rate: float) -> dict:
        """Let `clients` sessions call the echo method in a loop for `duration` s.

        With a `rate`, each session starts at most that many calls a second
        (a client that keeps to the server's limit); 0 means no pause.
        """
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + duration
        period = 1.0 / rate if rate else 0.0
        rtts: list[float] = []
        errors: Counter[str] = Counter()

        async def loop(session: Session) -> None:
            for _ in range(10_000_000):
                if time.perf_counter() >= deadline:
                    return
                started = time.perf_counter()
                try:
                    await asyncio.wait_for(
                        session.call(payloads.make(payloads.RPC_SEQ, time.time())), 30
                    )
                except (Exception, asyncio.CancelledError) as exc:
                    errors[type(exc).__name__] += 1
                    return
                rtts.append(time.perf_counter() - started)
                if period:
                    await asyncio.sleep(max(0.0, started + period - time.perf_counter()))

        began = time.perf_counter()
        await asyncio.gather(*(loop(s) for s in self._live()[:clients]))
        return {"rtts": rtts, "errors": dict(errors), "elapsed": time.perf_counter() - began}

    async def op_status(self) -> dict:
        return {"live": len(self._live()), "dropped": self.receipts.dropped_count}

    async def op_stop(self) -> dict:
        for session in self.sessions:
            session.close()
        await asyncio.sleep(0.2)
        return {"stopped": True}


def _worker_main(index: int, conn: Connection) -> None:
    raise_open_file_limit()
    logging.basicConfig(level=logging.WARNING, format="loadgen %(levelname)s %(message)s")
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(Worker(index, conn).serve())


class LoadGenerator:
    """The parent side: start workers, send commands, merge replies."""

    def __init__(self, workers: int) -> None:
        self.count = workers
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[Any] = []
        self._pipes: list[Connection] = []
        self._credential_cursor = 0
        self._ids = itertools.count()

    def start(self) -> LoadGenerator:
        for index in range(self.count):
            parent, child = self._context.Pipe()
            process = self._context.Process(
                target=_worker_main, args=(index, child), name=f"loadgen-{index}", daemon=True
            )
            process.start()
            self._processes.append(process)
            self._pipes.append(parent)
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def stop(self) -> None:
        """Stop every worker this object started (by handle)."""
        with contextlib.suppress(Exception):
            self.call([{"op": "stop"}] * len(self._pipes), timeout=30)
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self._processes, self._pipes = [], []

    def call(self, commands: list[dict], timeout: float = REPLY_TIMEOUT) -> list[dict]:
        """Send one command to each worker and return their replies."""
        ident = next(self._ids)
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send({**command, "id": ident})
        replies = []
        deadline = time.monotonic() + timeout
        for pipe in self._pipes:
            # Replies to an earlier command that timed out are skipped.
            for _ in range(1000):
                if not pipe.poll(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no answer from a load-generator worker: {commands[0]}")
                answered, reply = pipe.recv()
                if answered == ident:
                    break
            if "error" in reply:
                raise RuntimeError(f"load-generator worker failed: {reply['error']}")
            replies.append(reply)
        return replies

    def broadcast(self, op: str, timeout: float = REPLY_TIMEOUT, **kwargs: Any) -> list[dict]:
        """Send the same command to every worker."""
        return self.call([{"op": op, **kwargs}] * self.count, timeout=timeout)

    # High-level commands ------------------------------------------------------------

    def open(
        self,
        spec: ClientSpec,
        count: int,
        credentials: list[str],
        *,
        concurrency: int = 200,
        timeout: float = 60.0,
        start_at: float = 0.0,
    ) -> dict:
        """Open `count` more sessions across the workers; merge their results."""
        commands = []
        for share in split(count, self.count):
            creds = [
                credentials[(self._credential_cursor + i) % len(credentials)] if credentials else ""
                for i in range(share)
            ]
            self._credential_cursor += share
            commands.append(
                {
                    "op": "open",
                    "spec": spec,
                    "credentials": creds,
                    "concurrency": max(1, concurrency // self.count),
                    "timeout": timeout,
                    "start_at": start_at,
                }
            )
        replies = self.call(commands, timeout=timeout * max(1, count // max(1, concurrency)) + 60)
        errors: Counter[str] = Counter()
        for reply in replies:
            errors.update(reply["errors"])
        finished = sorted(t for reply in replies for t in reply["finished"])
        return {
            "opened": sum(r["opened"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": dict(errors),
            "began": min(r["began"] for r in replies),
            "finished": finished,
        }

    def trim(self, keep: int) -> int:
        """Close sessions until `keep` remain in total; return how many live."""
        replies = self.call(
            [{"op": "trim", "keep": share} for share in split(keep, self.count)], timeout=120
        )
        return sum(r["live"] for r in replies)

    def arm(self, seqs: list[int], spec: ClientSpec) -> int:
        """Arm every worker for `seqs`; return the total receipts expected."""
        return sum(r["expected"] for r in self.broadcast("arm", seqs=seqs, spec=spec))

    def collect(self, timeout: float) -> dict:
        """Wait for the armed receipts and merge them."""
        replies = self.call(
            [{"op": "collect", "timeout": timeout}] * self.count, timeout=timeout + 60
        )
        return merge_receipts(replies)

    def rpc(self, clients: int, duration: float, rate: float = 0.0) -> dict:
        start_at = time.time() + 0.1
        commands = [
            {"op": "rpc", "clients": n, "duration": duration, "start_at": start_at, "rate": rate}
            for n in split(clients, self.count)
        ]
        replies = self.call(commands, timeout=duration + 120)
        errors: Counter[str] = Counter()
        for reply in replies:
            errors.update(reply["errors"])
        return {
            "rtts": [t for r in replies for t in r["rtts"]],
            "errors": dict(errors),
            "elapsed": max(r["elapsed"] for r in replies),
        }

    def status(self) -> dict:
        replies = self.broadcast("status", timeout=60)
        return {
            "live": sum(r["live"] for r in replies),
            "dropped": sum(r["dropped"] for r in replies),
        }


def merge_receipts(replies: list[dict]) -> dict:
    """Combine the receipts of every worker."""
    latencies: dict[int, list[float]] = defaultdict(list)
    last: dict[int, float] = {}
    for reply in replies:
        for seq, values in reply["latencies"].items():
            latencies[seq].extend(values)
        for seq, at in reply["last"].items():
            last[seq] = max(at, last.get(seq, 0.0))
    firsts = [r["first_at"] for r in replies if r["first_at"]]
    return {
        "expected": sum(r["expected"] for r in replies),
        "received": sum(r["received"] for r in replies),
        "latencies": dict(latencies),
        "last": last,
        "first_at": min(firsts) if firsts else 0.0,
        "dropped": sum(r["dropped"] for r in replies),
    }
