"""The shard map: which of the Redis servers of ``REDIS_URL`` holds a key.

A key names its owner in a hash tag, the part between the first ``{`` and
the ``}`` after it, as Redis Cluster does: ``rt:conn:{<token digest>}``,
``rt:group:{<group>}``. The shard is the CRC32 of the tag (of the whole key
when it has none) modulo the number of shards, so every process computes
the same map from the same ordered list of servers, and keys that a Lua
script touches together share a tag and so a shard.

Some keys are per process or per shard and live on every shard: a
process's heartbeat and liveness, the registry epoch, the set of online
users. They are written on every shard (`every`) and read on one. A
process's index (`realtime.liveness`) also has one key per shard, each
listing what the process wrote on that shard, written with those entries.
"""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from realtime.redis_pool import clients

T = TypeVar("T")

#: One command for `pipelined`: its key, and what queues it on the key's shard's pipeline.
Queued = tuple[str, Callable[[Pipeline], object]]


def tag(owner: str | int) -> str:
    """Return `owner` as a hash tag: keys built with the same tag share a shard."""
    return "{" + str(owner) + "}"


def hash_part(key: str) -> str:
    """Return what decides the shard of `key`: its hash tag, or the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def shard_of(key: str, count: int) -> int:
    """Return the index of the shard (of `count`) that holds `key`."""
    if count == 1:
        return 0
    return binascii.crc32(hash_part(key).encode()) % count


def client_for(key: str) -> Redis:
    """Return the client of the shard that holds `key`."""
    shards = clients()
    return shards[shard_of(key, len(shards))]


def every() -> tuple[Redis, ...]:
    """Return the client of every shard (keys that live on all of them)."""
    return clients()


def count() -> int:
    """Return how many shards ``REDIS_URL`` names."""
    return len(clients())


def by_shard(
    items: Iterable[T], key: Callable[[T], str], only: Collection[int] | None = None
) -> dict[int, list[T]]:
    """Group `items` by the shard of `key(item)`, keeping the order within a shard.

    With `only`, keep the items of those shards (a rebuild of one shard).
    """
    total = count()
    groups: dict[int, list[T]] = {}
    for item in items:
        index = shard_of(key(item), total)
        if only is None or index in only:
            groups.setdefault(index, []).append(item)
    return groups


def chosen(
    only: Collection[int] | None = None, among: tuple[Redis, ...] | None = None
) -> list[tuple[int, Redis]]:
    """Return (index, client) of every shard, or of those in `only`.

    `among`: the clients to choose from, one per shard (`clients()` by default).
    """
    shards = clients() if among is None else among
    return [(i, redis) for i, redis in enumerate(shards) if only is None or i in only]


def scripted_write(key: str, args: tuple) -> Queued:
    """One ``EVAL`` (its arguments: `args`) on the shard of `key`, for `pipelined`."""
    return key, lambda pipe: pipe.eval(*args)


async def pipelined(commands: Iterable[Queued], only: Collection[int] | None = None) -> list:
    """Run commands in one pipeline per shard (concurrently); return their results in order.

    Each command is (key, add): `add` queues exactly one command for `key`
    on the pipeline of the key's shard. With `only`, skip other shards
    (their results are None).
    """
    commands = list(commands)
    results: list = [None] * len(commands)
    shards = clients()
    indexed = by_shard(range(len(commands)), lambda i: commands[i][0], only)

    async def run(shard: int, positions: list[int]) -> None:
        async with shards[shard].pipeline(transaction=False) as pipe:
            for i in positions:
                commands[i][1](pipe)
            for i, result in zip(positions, await pipe.execute(), strict=True):
                results[i] = result

    await gather(*(run(shard, positions) for shard, positions in indexed.items()))
    return results


async def gather(*awaitables: Awaitable[T]) -> list[T]:
    """Await every shard's part to the end, then raise the first failure if any."""
    done = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in done:
        if isinstance(result, BaseException):
            raise result
    return done


#: Items (connections, groups, presence entries) written per script call.
BATCH = 500


def batches(items: Iterable[T], size: int = BATCH) -> Iterable[list[T]]:
    """Cut `items` into lists of at most `size`."""
    items = list(items)
    return (items[start : start + size] for start in range(0, len(items), size))


async def scripted(
    items: Iterable[T],
    route: Callable[[T], str],
    call: Callable[[list[T]], tuple],
    only: Collection[int] | None = None,
) -> None:
    """Run a script per BATCH items of each shard, in one pipeline per shard.

    `route` gives an item's key; `call` turns a batch (all of one shard)
    into the arguments of ``EVAL``. A rebuild of thousands of entries costs
    a few commands to encode, not thousands.
    """
    shards = clients()

    async def run(index: int, part: list[T]) -> None:
        async with shards[index].pipeline(transaction=False) as pipe:
            for batch in batches(part):
                pipe.eval(*call(batch))
            await pipe.execute()

    await gather(*(run(i, part) for i, part in by_shard(items, route, only).items()))
