"""Real redis-servers for tests: one per shard, and the settings that point at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.embedded_redis import EmbeddedRedis
from config.environment import channel_layers


@contextmanager
def embedded_redis(directory: Path, shards: int) -> Iterator[str]:
    """Start `shards` redis-servers under `directory`; yield their REDIS_URL
    (one URL per shard, space-separated) and stop them afterwards."""
    servers: list[EmbeddedRedis] = []
    try:
        for n in range(shards):
            servers.append(EmbeddedRedis(Path(directory) / str(n)).start())
        yield " ".join(server.url for server in servers)
    finally:
        for server in servers:
            server.stop()


def shard_count(url: str) -> int:
    """How many shards a REDIS_URL names."""
    return len(url.split())


def redis_settings(url: str) -> dict:
    """The settings that point the realtime store and the channel layer at `url`."""
    return {"REDIS_URL": url, "CHANNEL_LAYERS": channel_layers(url)}
