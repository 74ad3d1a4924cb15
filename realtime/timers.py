"""A connection's timers: handshake timeout, idle client, token expiry, keep-alive.

One sweep per process visits every connection (`realtime.lifetime.redis`):
`Timers.due` answers without a coroutine, so only the connections with
something due run `Timers.tick`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from realtime import conf, keepalive
from realtime.handshake import HANDSHAKE_CANCELED

logger = logging.getLogger("realtime.connection")

HANDSHAKE, OPEN, CLOSED = "handshake", "open", "closed"


class Timers:
    """The timers of `realtime.connection.Connection` (a part of it, no state of its own)."""

    __slots__ = ()
    _invocations: Any
    started: float
    last_received: float
    last_sent: float
    state: str
    token_expires: float | None
    connection_id: str

    def due(self, now: float, settings: conf.RealtimeSettings) -> bool:
        """Whether `tick` has anything to do at `now`, checked without a coroutine
        (the sweep asks every connection, and most have nothing due)."""
        limits = self._invocations is not None and self._invocations.limits.due(now)
        return limits or self._timer(now, settings) != ""

    def _timer(self, now: float, settings: conf.RealtimeSettings) -> str:
        if self.state == HANDSHAKE:
            return "handshake" if now - self.started > settings.HANDSHAKE_TIMEOUT else ""
        if self.state != OPEN:
            return ""
        if now - self.last_received > settings.CLIENT_TIMEOUT:
            return "timeout"
        if self.token_expires is not None and time.time() >= self.token_expires:
            return "token_expired"
        return "ping" if now - self.last_sent >= settings.KEEPALIVE_INTERVAL else ""

    async def tick(self, now: float) -> None:
        """Run the timers: handshake timeout, keep-alive ping, idle client, token expiry."""
        if self._invocations is not None and self._invocations.limits.due(now):
            self._invocations.limits.flush(now)
        timer = self._timer(now, conf.get())
        if timer == "handshake":
            self.ended_because("handshake_timeout")
            await self._refuse_handshake(HANDSHAKE_CANCELED)
        elif timer == "timeout":
            logger.info("closing idle connection %s", self.connection_id)
            self.ended_because(timer)
            await self.close("Server timeout elapsed without receiving a message from the client.")
        elif timer == "token_expired":
            logger.info("access token expired for %s", self.connection_id)
            self.ended_because(timer)
            await self.close("The access token has expired.", allow_reconnect=True)
        elif timer == "ping":
            await keepalive.ping(self)
