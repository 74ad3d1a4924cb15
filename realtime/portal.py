"""Run realtime's async calls from sync code on one event loop per process.

`asgiref.sync.async_to_sync`, called where no event loop serves the thread
(a management command such as ``run_notifier``, a WSGI view, a shell),
starts a thread and a new event loop for every call. Redis pools and the
channel layer's connections belong to their loop, so each such call would
open and close its own connections: several milliseconds a send. The
portal keeps one loop in a daemon thread for the process instead.

Where an outer event loop serves the thread (a sync view under daphne,
through ``sync_to_async``), `call` leaves the work to ``async_to_sync``,
which runs it on that loop. A forked child makes a portal of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import ParamSpec, TypeVar

from asgiref.sync import SyncToAsync, async_to_sync

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds `close` waits for the loop's thread to end.
CLOSE_TIMEOUT = 2.0

_lock = threading.Lock()
_portal: _Portal | None = None


class _Portal:
    """An event loop running in a daemon thread of one process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="realtime-portal", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def submit(self, awaitable: Awaitable[R], context: contextvars.Context) -> Future[R]:
        result: Future[R] = Future()

        def start() -> None:
            task = self.loop.create_task(_wrap(awaitable), context=context)
            task.add_done_callback(lambda done: _settle(result, done))

        self.loop.call_soon_threadsafe(start)
        return result

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(CLOSE_TIMEOUT)


async def _wrap(awaitable: Awaitable[R]) -> R:
    return await awaitable


def _settle(result: Future, task: asyncio.Task) -> None:
    if task.cancelled():
        result.cancel()
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())


def _served_by_outer_loop() -> bool:
    # The thread-local that sync_to_async sets in the threads it runs code in.
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    return (
        loop is not None
        and getattr(local, "main_event_loop_pid", None) == os.getpid()
        and loop.is_running()
    )


def _current() -> _Portal:
    global _portal
    with _lock:
        if _portal is None or _portal.pid != os.getpid():
            _portal = _Portal()
        return _portal


def call(function: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``function(*args, **kwargs)`` to completion from sync code; return its result.

    Raises RuntimeError when called from a thread that runs an event loop
    (await the async form there). Context variables reach the call, as
    with ``async_to_sync``.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            f"{getattr(function, '__qualname__', function)!s} was called from sync code "
            "inside a running event loop; await its async form instead."
        )
    if _served_by_outer_loop():
        return async_to_sync(function)(*args, **kwargs)
    context = contextvars.copy_context()
    return _current().submit(function(*args, **kwargs), context).result()


@atexit.register
def close() -> None:
    """Stop this process's portal loop (at exit; a later `call` starts a new one)."""
    global _portal
    with _lock:
        portal, _portal = _portal, None
    if portal is not None and portal.pid == os.getpid():
        portal.close()
