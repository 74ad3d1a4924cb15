"""Client activity that the owner of an HTTP connection cannot see by itself.

The JS client sends no pings over long polling (the transport keeps itself
alive), and its polls may land on any process. As in ASP.NET Core, a poll
counts as activity (a waiting one until it ends), and so does an open SSE
stream; POSTs reach the owner as messages and count there. The owner's sweep
reads the polls' `seen` times of its quiet long-polling connections in one
round trip before it looks for idle clients.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from realtime import conf, polls

if TYPE_CHECKING:
    from realtime.connection import Connection

SSE, LONG_POLLING = "ServerSentEvents", "LongPolling"


async def refresh(connections: Iterable[Connection], now: float) -> None:
    """Move `last_received` forward for HTTP clients that were active elsewhere."""
    quiet_after = conf.get().CLIENT_TIMEOUT / 2
    quiet: list[Connection] = []
    for connection in connections:
        name = connection.transport.name
        if name == SSE:
            # The stream is open while the connection is in the table.
            connection.last_received = now
        elif name == LONG_POLLING and now - connection.last_received > quiet_after:
            quiet.append(connection)
    if not quiet:
        return
    seen = await polls.last_seen([c.token for c in quiet])
    wall = time.time()
    for connection, at in zip(quiet, seen, strict=True):
        if at:
            active = now - max(0.0, wall - at)
            connection.last_received = max(connection.last_received, active)
