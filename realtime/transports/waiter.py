"""One waiter per process for every long poll it holds.

A waiting poll holds no Redis connection: it registers here and sleeps on an
`asyncio.Event`. The waiter keeps one pub/sub subscription per Redis shard
(one connection per process and shard, whatever the number of polls) on
which `realtime.polls` announces changes, and once a second checks every
waiting poll in one pipeline per shard: frames it was not told about (a
subscription that dropped), an ended connection, a newer poll, an owner that
stopped marking itself alive.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from realtime import polls
from realtime.redis_pool import clients

logger = logging.getLogger(__name__)

#: Seconds between the checks of every waiting poll.
CHECK_INTERVAL = 1.0


@dataclass(eq=False, slots=True)
class Watch:
    """One waiting poll: woken through `event`; `owner_dead` says why."""

    token: str
    value: str
    owner: str
    event: asyncio.Event = field(default_factory=asyncio.Event)
    owner_dead: bool = False


class Waiter:
    """The poll waiter of one event loop."""

    def __init__(self) -> None:
        self.name = secrets.token_hex(8)
        self.watches: dict[str, set[Watch]] = {}
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        """Start listening and checking (background tasks of the loop)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            *(loop.create_task(self._listen(shard)) for shard in range(len(clients()))),
            loop.create_task(self._check()),
        ]

    @contextmanager
    def watch(self, token: str, poll: str, owner: str) -> Iterator[Watch]:
        """Register a waiting poll for as long as the block runs."""
        entry = Watch(token, polls.poll_value(self.name, poll), owner)
        name = polls.buffer_key(token)
        self.watches.setdefault(name, set()).add(entry)
        try:
            yield entry
        finally:
            entries = self.watches.get(name)
            if entries is not None:
                entries.discard(entry)
                if not entries:
                    del self.watches[name]

    def _wake(self, name: str) -> None:
        for entry in self.watches.get(name, ()):
            entry.event.set()

    def _wake_all(self) -> None:
        for name in list(self.watches):
            self._wake(name)

    async def _listen(self, shard: int) -> None:
        backoff = 0.1
        while True:
            pubsub = clients()[shard].pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(polls.wake_channel(self.name))
                # Whatever was published while unsubscribed is looked at now.
                self._wake_all()
                backoff = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake(message["data"].decode())
            except (RedisError, OSError):
                logger.warning("long-poll wake-ups interrupted; resubscribing", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                await pubsub.aclose()

    async def _check(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            try:
                await self.check_once()
            except (RedisError, OSError):
                logger.warning("long-poll check failed", exc_info=True)

    async def check_once(self) -> None:
        """Wake the waiting polls that have something to answer."""
        entries = [entry for group in self.watches.values() for entry in group]
        if not entries:
            return
        due, dead = await polls.need_waking(
            ((e.token, e.value) for e in entries), {e.owner for e in entries}
        )
        for entry in entries:
            if entry.owner in dead:
                entry.owner_dead = True
            if entry.owner_dead or entry.token in due:
                entry.event.set()


_waiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Waiter] = weakref.WeakKeyDictionary()


def get_waiter() -> Waiter:
    """Return the running loop's poll waiter, starting it on first use."""
    loop = asyncio.get_running_loop()
    waiter = _waiters.get(loop)
    if waiter is None:
        waiter = _waiters[loop] = Waiter()
        waiter.start()
    return waiter
