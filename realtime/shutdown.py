"""Graceful shutdown: tell every client to reconnect elsewhere before exiting.

Under daphne, a Twisted "before shutdown" trigger closes each local connection
with a Close message carrying ``allowReconnect: true``, so official clients
reconnect (through the load balancer, to another instance) instead of
reporting an error. Under uvicorn, connections end with close code 1012
("service restart"), which the clients also treat as a reason to reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Protocol

logger = logging.getLogger(__name__)

REASON = "Server is shutting down."


class Drainable(Protocol):
    """A lifetime manager that can close its connections for shutdown."""

    async def drain(self, reason: str | None = None) -> None:
        """Close every local connection with allowReconnect."""


def install(backplane: Drainable) -> None:
    """Drain `backplane` when the hosting Twisted reactor (daphne) shuts down."""
    reactor = sys.modules.get("twisted.internet.reactor")
    defer = sys.modules.get("twisted.internet.defer")
    if reactor is None or defer is None or not getattr(reactor, "running", False):
        return

    def drain():
        future = asyncio.ensure_future(backplane.drain(REASON))
        return defer.Deferred.fromFuture(future)

    reactor.addSystemEventTrigger("before", "shutdown", drain)
    logger.debug("graceful shutdown hook installed")
