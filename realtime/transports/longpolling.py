"""Long polling: output waits in Redis between polls, and any process answers a poll.

The connection runs in the process whose poll opened it. Its output goes to
a bounded Redis list (`realtime.polls`); a poll, on whatever process,
takes the list or waits on the process's one waiter
(`realtime.transports.waiter`) without holding a Redis connection. A poll
for a connection whose process stopped marking itself alive answers 404 at
once, so the client reconnects instead of waiting on a dead process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from realtime import conf, metrics, polls, registry
from realtime.connection import Connection
from realtime.transports.admission import Admission, Refusal, admit, new_id, open_connection, refuse
from realtime.transports.exchange import HttpExchange
from realtime.transports.waiter import get_waiter

logger = logging.getLogger(__name__)

OWNER_GONE = Refusal(404, "connection's server is gone")
WRONG_TRANSPORT = Refusal(400, "Cannot change transports mid-connection")


class LongPolling:
    """Buffers frames in Redis until a poll (on any process) takes them."""

    name = "LongPolling"
    text_only = False
    write_frame = send_event = None  # no broadcast fast path

    def __init__(self, token: str) -> None:
        self._token = token
        self.connection: Connection | None = None

    async def write(self, frame: bytes | str, binary: bool) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        settings = conf.get()
        ttl = settings.LONG_POLL_TIMEOUT + settings.CLIENT_TIMEOUT
        if not await polls.buffer_frames(
            self._token, [data], limit=settings.LONG_POLL_BUFFER, ttl=ttl
        ):
            metrics.increment("long_poll_overflows")
            logger.warning("long-poll buffer full; closing a slow client")
            if self.connection is not None:
                self.connection.ended_because("slow_consumer")
                asyncio.get_running_loop().create_task(self.connection.closed())

    def buffered(self) -> int:
        # Bounded where it waits: LONG_POLL_BUFFER frames in Redis.
        return 0

    async def drop(self) -> None:
        await self.close(discard=True)

    async def close(self, *, discard: bool = False) -> None:
        if discard:
            # The client said goodbye (DELETE): its pending poll ends with 204.
            await polls.drop(self._token)
        if self.connection is not None:
            await self.connection.closed()


async def owner_alive(
    exchange: HttpExchange, token: str, registration: registry.Registration
) -> bool:
    """Return whether the connection's process runs; else answer 404 (it is forgotten)."""
    if await registry.owner_runs(token, registration):
        return True
    await exchange.refuse(refuse(exchange.scope, OWNER_GONE))
    return False


async def poll(exchange: HttpExchange, hub_class: Any) -> None:
    """Answer a poll: the first opens the connection, later ones take its output."""
    admission = await admit(exchange.scope, hub_class, opening=True)
    if isinstance(admission, Refusal):
        await exchange.refuse(admission)
        return
    token, registration = admission.token, admission.registration
    if not registration.owner:
        await _open(exchange, hub_class, admission)
    elif registration.transport != LongPolling.name:
        await exchange.refuse(refuse(exchange.scope, WRONG_TRANSPORT))
    elif await owner_alive(exchange, token, registration):
        await _wait_for_frames(exchange, token, registration)


async def _open(exchange: HttpExchange, hub_class: Any, admission: Admission) -> None:
    # The first poll opens the connection here and answers at once.
    transport = LongPolling(admission.token)
    opened = await open_connection(exchange.scope, hub_class, transport, admission)
    if isinstance(opened, Refusal):
        await exchange.refuse(opened)
        return
    transport.connection = opened
    await opened.start()
    await exchange.respond(200)


async def _wait_for_frames(
    exchange: HttpExchange, token: str, registration: registry.Registration
) -> None:
    timeout = conf.get().LONG_POLL_TIMEOUT
    waiter = get_waiter()
    poll_id = new_id()
    value = polls.poll_value(waiter.name, poll_id)
    # Until it ends, a waiting poll counts as the client's activity.
    frames = await polls.start_poll(token, value, until=time.time() + timeout)
    try:
        if frames:
            await _answer(exchange, token, value, frames)
            return
        with waiter.watch(token, poll_id, registration.owner) as watch:
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(watch.event.wait(), remaining)
                except TimeoutError:
                    break
                watch.event.clear()
                if watch.owner_dead and not await owner_alive(exchange, token, registration):
                    return
                taken = await polls.take(token, value)
                if taken.outcome != polls.FRAMES:
                    await exchange.respond(204)  # a newer poll, a DELETE, or the end
                    return
                if taken.frames:
                    await _answer(exchange, token, value, taken.frames)
                    return
        await exchange.respond(200)
    finally:
        await polls.end_poll(token)


async def _answer(
    exchange: HttpExchange, token: str, value: str, frames: list[bytes] | tuple[bytes, ...]
) -> None:
    await polls.answered(token, value)
    await exchange.respond(200, b"".join(frames), b"application/octet-stream")
