"""The contenders and their server processes: start, measure, stop by PID.

Each contender is one server process on 127.0.0.1 plus a way to broadcast
from outside it (`bench.trigger`). Ours also needs a database
(`bench.database`).
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from bench.dialects import RAW, SIGNALR, SOCKETIO, ClientSpec
from config.embedded_redis import free_port
from realtime.server.serve import BACKLOG, CONNECT_TIMEOUT, arguments

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-0c1f5e7a9b2d4c6e8f0a1b3c5d7e9f2a-not-for-production"
PASSWORD = "bench-password-not-secret"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 600.0
RPC_OPTIONS = {"MAX_INVOCATIONS_PER_SECOND": 100000}
_DROPPED = ("DJANGO_SETTINGS_MODULE", "REALTIME_OPTIONS", "REALTIME_ALLOWED_ORIGINS")


@dataclass(frozen=True)
class Contender:
    """One server to measure, how to start it, and how its clients talk."""

    name: str
    label: str
    trigger: str  # bench.trigger kind
    server: str  # "daphne", "uvicorn" or "raw"
    app: str
    dialect: str
    path: str
    protocol: str = "json"
    rpc_app: str = ""  # ours: the test ASGI app with EchoHub
    rpc_path: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: Only idle cost and fan-out (a variant whose other scenarios add little).
    fanout_only: bool = False
    #: Skip fan-out sizes above this (0: no limit), to keep --full short.
    max_clients: int = 0
    #: uvicorn's WebSocket implementation (``--ws``).
    ws: str = "websockets"
    #: The checkout whose code the server and trigger run (default: this one).
    root: Path = ROOT
    stateful: bool = False  # clients negotiate stateful reconnect, and acknowledge
    #: A peer served by ours' daphne (``python -m realtime.server``), not stock daphne.
    hubs_daphne: bool = False

    @property
    def ours(self) -> bool:
        return self.trigger == "ours"

    def spec(self, port: int, *, auth: str = "token") -> ClientSpec:
        """The clients of the broadcast scenarios."""
        if self.ours:
            return ClientSpec(
                SIGNALR,
                port,
                self.path,
                protocol=self.protocol,
                auth=auth,
                ready_target="UnreadCountUpdated",
                join_topic="bench",
                stateful=self.stateful,
            )
        return ClientSpec(self.dialect, port, self.path)

    def rpc_spec(self, port: int) -> ClientSpec:
        """The clients of the RPC scenario."""
        if self.ours:
            return ClientSpec(SIGNALR, port, self.rpc_path, protocol=self.protocol)
        return ClientSpec(self.dialect, port, self.path)


_OURS = {
    "trigger": "ours",
    "app": "config.asgi:application",
    "dialect": SIGNALR,
    "path": "/hubs/notifications",
    "rpc_app": "tests.realtime.asgi:application",
    "rpc_path": "/hubs/echo",
}
CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender("ours-daphne", "ours (daphne)", server="daphne", **_OURS),
        Contender(
            "ours-daphne-nometrics",
            "ours (daphne, metrics off)",
            server="daphne",
            env={"METRICS_ENABLED": "0"},
            **_OURS,
        ),
        Contender(
            "ours-uvicorn",
            "ours (uvicorn, websockets-sansio)",
            server="uvicorn",
            ws="websockets-sansio",
            **_OURS,
        ),
        Contender(
            "ours-daphne-msgpack",
            "ours (daphne, MessagePack)",
            server="daphne",
            protocol="messagepack",
            fanout_only=True,
            max_clients=5000,
            **_OURS,
        ),
        Contender(
            "ours-daphne-stateful",
            "ours (daphne, stateful reconnect)",
            server="daphne",
            stateful=True,
            fanout_only=True,
            max_clients=5000,
            **_OURS,
        ),
        Contender(
            "raw-websockets",
            "raw websockets",
            trigger="raw",
            server="raw",
            app="bench.peers.raw_ws",
            dialect=RAW,
            path="/",
        ),
        Contender(
            "signalr-floor",
            "SignalR protocol alone (ours' daphne)",
            trigger="raw",
            server="daphne",
            app="bench.peers.signalr_floor:application",
            dialect=SIGNALR,
            path="/hub",
            max_clients=5000,
            hubs_daphne=True,
        ),
        Contender(
            "channels-core",
            "Channels (core layer)",
            trigger="channels",
            server="daphne",
            app="bench.peers.channels_app:application",
            dialect=RAW,
            path="/ws/bench",
            env={"DJANGO_SETTINGS_MODULE": "bench.peers.channels_settings"},
        ),
        Contender(
            "channels-pubsub",
            "Channels (pub/sub layer)",
            trigger="channels",
            server="daphne",
            app="bench.peers.channels_app:application",
            dialect=RAW,
            path="/ws/bench",
            env={
                "DJANGO_SETTINGS_MODULE": "bench.peers.channels_settings",
                "BENCH_CHANNEL_LAYER": "pubsub",
            },
        ),
        Contender(
            "socketio",
            "python-socketio",
            trigger="socketio",
            server="uvicorn",
            app="bench.peers.socketio_app:app",
            dialect=SOCKETIO,
            path="/socket.io/",
        ),
    )
}


def baseline(root: Path, revision: str) -> Contender:
    """Ours under daphne, running the code of another checkout (`--baseline`).

    The same run then measures two revisions side by side.
    """
    return replace(
        CONTENDERS["ours-daphne"],
        name="ours-daphne-baseline",
        label=f"ours (daphne) at {revision}",
        root=root,
    )


def base_env(
    redis_url: str, extra: dict[str, str] | None = None, root: Path = ROOT
) -> dict[str, str]:
    """The environment of every child process (running the code of `root`)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": redis_url,
            "PYTHONPATH": str(root),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REALTIME_OPTIONS": "{}",
        }
    )
    env.update(extra or {})
    return env


def command_for(contender: Contender, app: str, port: int, *, heap: bool = False) -> list[str]:
    """The command line of a contender's server (under `bench.heap` when `heap`).

    Every server listens with ours' accept queue (`BACKLOG`) and, where it
    has one, ours' WebSocket opening timeout (`CONNECT_TIMEOUT`): a storm
    then measures the servers, not the kernel's default queues.
    """
    python = [sys.executable, "-m", "bench.heap"] if heap else [sys.executable, "-m"]
    if contender.server == "daphne":
        # Ours starts the way deploy/ does: realtime.server, daphne with a
        # redacting access log (and so does the SignalR floor, to measure
        # the protocol on that server). The Channels peer is stock daphne, given the
        # endpoint and timeout that realtime.server would give it (its own
        # defaults are a backlog of 50 and 5 s). Verbosity 0: no access log.
        launcher = "realtime.server" if contender.ours or contender.hubs_daphne else "daphne"
        listen = ["--verbosity", "0", "-b", "127.0.0.1", "-p", str(port), app]
        return [*python, launcher, *arguments(listen)]
    if contender.server == "uvicorn":
        # --ws websockets: uvicorn's default implementation (the legacy
        # websockets protocol); wsproto is slower in uvicorn's own numbers.
        # Ours runs on websockets-sansio, which holds an idle connection in
        # about 8 KiB less. uvicorn has no WebSocket opening timeout.
        return [
            *python, "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--backlog", str(BACKLOG), "--ws", contender.ws, "--lifespan", "off",
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    return [
        *python, app, "--port", str(port), "--redis", "{redis}",
        "--backlog", str(BACKLOG), "--open-timeout", str(CONNECT_TIMEOUT),
    ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """One server process, with its PID, memory and CPU time."""

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: Path, root: Path = ROOT
    ) -> None:
        self.command = command
        self.env = env
        self.log_path = log_path
        self.root = root
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self, port: int) -> ServerProcess:
        """Start the server and wait until it accepts TCP connections."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, cwd=self.root, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not listen on {port}: {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kib(self) -> int:
        """VmRSS of the server process, in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server process so far."""
        return cpu_seconds(self.pid)

    def wakeups(self) -> int:
        """Voluntary context switches of the main thread so far.

        The event loop's thread sleeps in epoll_wait once per wakeup: calls
        per wakeup is how much work each turn of the loop finds.
        """
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
        raise RuntimeError("no voluntary_ctxt_switches")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; by this object's PID only."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None


class Trigger:
    """The `bench.trigger` child of one contender: broadcasts on command."""

    def __init__(self, kind: str, env: dict[str, str], log_path: Path, root: Path = ROOT) -> None:
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.trigger", kind],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._read(READY_TIMEOUT)

    def _read(self, timeout: float) -> dict:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"trigger did not answer; see {self._log.name}")
        return json.loads(line)

    def run(self, timeout: float = COMMAND_TIMEOUT, **command: Any) -> dict:
        """Send one command; return its reply (the send times under "sent")."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write('{"op": "quit"}\n')
                self.process.stdin.close()
                self.process.wait(timeout=STOP_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self._log.close()


def start_server(
    contender: Contender,
    *,
    rpc: bool,
    redis_url: str,
    workdir: Path,
    database_url: str = "",
    heap_dir: Path | None = None,
    options: dict | None = None,
) -> tuple[ServerProcess, int, dict[str, str]]:
    """Start a contender's server (its RPC variant when `rpc`); return it, its port, its env.

    `options`: ours' REALTIME options (default: `RPC_OPTIONS` for the RPC
    variant, none otherwise).
    """
    port = free_port()
    extra = dict(contender.env)
    if database_url:
        extra["DATABASE_URL"] = database_url
    if options is None and rpc:
        options = RPC_OPTIONS
    if options and contender.ours:
        extra["REALTIME_OPTIONS"] = json.dumps(options)
    if heap_dir is not None:
        extra["BENCH_HEAP_DIR"] = str(heap_dir)
    env = base_env(redis_url, extra, contender.root)
    app = contender.rpc_app if rpc and contender.rpc_app else contender.app
    command = [
        part.replace("{redis}", redis_url)
        for part in command_for(contender, app, port, heap=heap_dir is not None)
    ]
    log = workdir / f"{contender.name}{'-rpc' if rpc else ''}.log"
    server = ServerProcess(command, env, log, contender.root).start(port)
    logger.info("started %s (pid %d) on port %d", contender.name, server.pid, port)
    return server, port, env
