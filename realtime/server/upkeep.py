"""daphne's two periodic loops, visiting only the connections that need it.

daphne keeps a table of every connection and walks all of it twice: every
second to reap finished applications, every two seconds to enforce
timeouts and send WebSocket pings. With thousands of idle WebSockets both
walks are pure overhead: an application finishes or a client disconnects
rarely, and an open WebSocket needs attention only when its ping or its
``--websocket_timeout`` is due (bench/results/FINDINGS.md has the share of
idle CPU they took).

`Upkeep` gives the same outcomes from the few connections that can need
them:

- reaping (`reap`) looks at the connections whose application finished or
  whose client disconnected, marked when that happens;
- timeouts (`check_timeouts`) keep a heap of when each connection next needs
  a look: an opening WebSocket when its connect timeout passes, an open one
  when its ping or its lifetime is due, an HTTP request when
  ``--http-timeout`` passes, and then at every check while it stays due. A
  connection is looked at by daphne's own ``check_timeouts``, so the pings,
  closes and refusals are daphne's.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from asyncio import CancelledError, Future
from typing import Any

from daphne.ws_protocol import WebSocketProtocol

#: daphne's own logger: its operators' filters keep working.
logger = logging.getLogger("daphne.server")

#: daphne's periods, in seconds.
REAP_EVERY = 1.0
CHECK_EVERY = 2.0


class Upkeep:
    """Reaping and timeouts for one daphne `Server` (``server.connections``)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        #: Connections whose application finished or whose client went away.
        self.settled: set[object] = set()
        #: (when, tie-breaker, connection): the next look each connection needs.
        self.due: list[tuple[float, int, object]] = []
        self._order = itertools.count()

    # Marks --------------------------------------------------------------------

    def connected(self, protocol: object) -> None:
        """A connection was added to the table: look at it when it could time out.

        An opening WebSocket when its ``--websocket_connect_timeout`` passes
        (by then it is open, or refused) or its first ping is due, whichever
        comes first; an HTTP request when its ``--http-timeout`` passes.
        """
        server = self.server
        if isinstance(protocol, WebSocketProtocol):
            first = min(server.websocket_connect_timeout, server.ping_interval)
            self._schedule(protocol, time.time() + first)
        elif server.http_timeout:
            self._schedule(protocol, time.time() + server.http_timeout)

    def disconnected(self, protocol: object) -> None:
        """Its client went away: reap it once its application ends."""
        self.settled.add(protocol)

    def started(self, protocol: object, application: Future) -> None:
        """Its application runs: reap it when that ends."""
        application.add_done_callback(lambda _: self.settled.add(protocol))

    # Reaping ------------------------------------------------------------------

    def reap(self) -> None:
        """Do daphne's application check for the settled connections only."""
        connections = self.server.connections
        close_timeout = self.server.application_close_timeout
        now = time.time()
        for protocol in list(self.settled):
            details = connections.get(protocol)
            if details is None:
                self.settled.discard(protocol)
                continue
            disconnected = details.get("disconnected")
            application = details.get("application_instance")
            if application is not None and not application.done():
                if disconnected and now - disconnected > close_timeout:
                    logger.warning(
                        "Application instance %r for connection %r took too long to shut "
                        "down and was killed.",
                        application,
                        protocol,
                    )
                    application.cancel()
                continue
            if application is not None:
                self._report(protocol, application, disconnected)
                del details["application_instance"]
            # Finished but still connected: marked again when it disconnects.
            self.settled.discard(protocol)
            if disconnected:
                del connections[protocol]

    def _report(self, protocol: Any, application: Future, disconnected: float | None) -> None:
        try:
            exception = application.exception()
        except CancelledError:
            return
        if exception is None:
            return
        if isinstance(exception, KeyboardInterrupt):
            self.server.stop()
            return
        logger.error("Exception inside application: %s", exception, exc_info=exception)
        if not disconnected:
            protocol.handle_exception(exception)

    # Timeouts -----------------------------------------------------------------

    def check_timeouts(self) -> None:
        """Run daphne's timeout check on the connections due now, and plan their next."""
        now = time.time()
        connections = self.server.connections
        while self.due and self.due[0][0] <= now:
            _, _, protocol = heapq.heappop(self.due)
            if protocol not in connections:
                continue
            protocol.check_timeouts()
            if protocol in connections:
                when = self._next_look(protocol, now)
                # daphne pings once strictly past the interval: never twice a check.
                self._schedule(protocol, when if when > now else now + CHECK_EVERY)

    def _next_look(self, protocol: Any, now: float) -> float:
        server = self.server
        if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN:
            ping = protocol.last_ping + server.ping_interval
            if server.websocket_timeout >= 0:
                return min(ping, protocol.socket_opened + server.websocket_timeout)
            return ping
        if isinstance(protocol, WebSocketProtocol) or server.http_timeout:
            return now + CHECK_EVERY
        # An HTTP request without --http-timeout: daphne's check does nothing.
        return math.inf

    def _schedule(self, protocol: object, when: float) -> None:
        if when != math.inf:
            heapq.heappush(self.due, (when, next(self._order), protocol))
