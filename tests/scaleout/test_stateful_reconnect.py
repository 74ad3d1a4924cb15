"""Stateful reconnect across instances: each resume lands on the other daphne.

The official client streams numbered events through a proxy the test cuts
(tests/stateful_kit.py), in front of nginx, which balances round-robin over
two instances: every reconnect goes to the instance that did not run the
connection, which claims its parked state from Redis, and the old owner
hands over what reached it meanwhile. Nothing lost, nothing twice, in order;
the hub sees one connection throughout.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from realtime import shards
from realtime.keys import index_key, indexed_key
from tests.stateful_kit import assert_exactly_once, stream_through_cuts


async def index_entries_naming(connection_id: str) -> list[str]:
    """Entries of any process's index that name the connection id."""
    found = []
    for redis in shards.every():
        for process in await redis.smembers(indexed_key()):
            entries = await redis.smembers(index_key(process.decode()))
            found += [e.decode() for e in entries if connection_id in e.decode()]
    return found


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_numbered_events_survive_drops_that_resume_on_the_other_instance(
    cluster, node_available, protocol
):
    result = await stream_through_cuts(cluster.proxy.port, protocol, seed=16)

    assert_exactly_once(result)
    logs = [cluster.live.log(i) for i in range(len(cluster.live.ports))]
    connection_id = result["id"]
    resumed = [log.count(f"resumed {connection_id} ") for log in logs]
    handed = [log.count(f"handed {connection_id} over") for log in logs]
    # Round-robin: the resumes alternate, and each one after a move was a handover.
    assert all(count >= 3 for count in resumed), resumed
    assert sum(handed) >= 5, handed
    everywhere = "".join(logs)
    assert everywhere.count(f"resumehub on_connected {connection_id}") == 1
    assert everywhere.count(f"resumehub on_disconnected {connection_id}") == 1
    # Every owner let go of its index entries of the connection (the old ones
    # at each handover): none is left for a sweep (cleanup is batched).
    deadline = time.monotonic() + 2
    while await index_entries_naming(connection_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await index_entries_naming(connection_id) == []
