"""Opening hub connections after PostgreSQL dropped every connection of the shop.

An instance keeps its database connection between hub calls (CONN_MAX_AGE),
so a database failover or restart leaves each instance holding a dead one.
Each trip to the database thread ends as Django ends a request: stale
connections are dropped and the kept one is marked for a health check
(CONN_HEALTH_CHECKS), so the next use, the opening's authentication too,
reconnects instead of failing. Without the health checks both openings fail.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.support.http import ws
from tests.support.signalr import HubSocket

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

HUB = "/hubs/notifications"


def drop_every_connection(postgres_server, database: str = "shop") -> int:
    """Terminate every server process of `database`, as a restart would; return how many."""
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize("negotiate", [True, False], ids=["negotiated", "direct"])
async def test_the_first_opening_after_the_database_dropped_its_connections_succeeds(
    cluster, postgres_server, negotiate
):
    token = cluster.token("sybil")
    for url in cluster.live.urls:  # each instance now holds a database connection
        socket = await HubSocket.open(ws(url, HUB), token=token, negotiate=negotiate)
        await socket.close()

    assert drop_every_connection(postgres_server) >= len(cluster.live.urls)

    for url in cluster.live.urls:
        socket = await HubSocket.open(ws(url, HUB), token=token, negotiate=negotiate)
        try:
            # The opening read the user, the subscriptions and the unread count.
            assert await socket.event("UnreadCountUpdated") == [0]
        finally:
            await socket.close()
