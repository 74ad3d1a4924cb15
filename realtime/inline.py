"""Run an invocation in its connection's reader, and let it step aside.

A connection reads its client's messages one at a time and runs each
invocation right there, in order, without a task per invocation (ASP.NET
Core's MaximumParallelInvocationsPerClient = 1; a task per call costs more
than the rest of a small call). An invocation that awaits a client result
could then wait forever: the client's Completion is read by the very reader
the invocation holds. So awaiting a client result calls `release()` (also
from a task the invocation started, e.g. ``asyncio.gather``), and the
invocation moves to a task of its own while the reader goes on, as ASP.NET
Core releases its invocation semaphore in ``InvokeAsync``.

The driver steps the coroutine by hand. While it waits for a future, the
reader waits for a stand-in that completes with that future, or on release;
on release the suspended coroutine and its future move to a new task.
"""

from __future__ import annotations

import asyncio
import collections.abc
import logging
from collections.abc import Coroutine, Generator
from contextvars import ContextVar
from typing import Any

logger = logging.getLogger(__name__)


class _Call:
    __slots__ = ("released", "stand_in")

    def __init__(self) -> None:
        self.released = False
        self.stand_in: asyncio.Future | None = None


_current: ContextVar[_Call | None] = ContextVar("realtime_inline_call", default=None)
#: Released invocations still running (a task needs a reference to live).
_background: set[asyncio.Task] = set()


def release() -> None:
    """Let the invocation running in a reader (or that started this task) move off it."""
    call = _current.get()
    if call is not None and not call.released:
        call.released = True
        if call.stand_in is not None and not call.stand_in.done():
            call.stand_in.set_result(None)


def _wake(stand_in: asyncio.Future) -> Any:
    return lambda _future: stand_in.done() or stand_in.set_result(None)


def _step(coroutine: Coroutine, call: _Call, sent: Any, thrown: BaseException | None) -> Any:
    token = _current.set(call)
    try:
        return coroutine.send(sent) if thrown is None else coroutine.throw(thrown)
    finally:
        _current.reset(token)


def _detach(coroutine: Coroutine, suspended: Any) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(_Resumed(coroutine, suspended))
    _background.add(task)
    task.add_done_callback(_finished)
    return task


def _inline(coroutine: Coroutine, call: _Call, suspended: Any) -> Generator:
    # Drives the coroutine from its first suspension on; returns the task it
    # went on in when released, else None.
    while True:
        if call.released:
            return _detach(coroutine, suspended)
        sent: Any = None
        thrown: BaseException | None = None
        if suspended is None:  # a bare yield (asyncio.sleep(0))
            try:
                yield None
            except BaseException as exc:
                thrown = exc
        else:
            stand_in = call.stand_in = asyncio.get_running_loop().create_future()
            wake = _wake(stand_in)
            suspended.add_done_callback(wake)
            stand_in._asyncio_future_blocking = True
            try:
                yield stand_in
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # the reader is cancelled: so is what it waited for
                suspended.remove_done_callback(wake)
                suspended.cancel()
                thrown = exc
            else:
                if not suspended.done():  # released while waiting
                    suspended.remove_done_callback(wake)
                    return _detach(coroutine, suspended)
            finally:
                call.stand_in = None
        try:
            suspended = _step(coroutine, call, sent, thrown)
        except StopIteration:
            return None


class _Resumed(collections.abc.Coroutine):
    """A suspended coroutine as a task's coroutine: the first step hands the
    task what the coroutine waits for; a cancellation before that step still
    reaches the coroutine (a wrapping ``async def`` would not have started)."""

    __slots__ = ("_coroutine", "_suspended")

    def __init__(self, coroutine: Coroutine, suspended: Any) -> None:
        self._coroutine = coroutine
        self._suspended = suspended

    def send(self, value: Any) -> Any:
        suspended, self._suspended = self._suspended, _STARTED
        if suspended is not _STARTED:
            return suspended
        return self._coroutine.send(value)

    def throw(self, *exception: Any) -> Any:
        suspended, self._suspended = self._suspended, _STARTED
        if suspended is not _STARTED and suspended is not None:
            suspended.cancel()  # as a task cancelled while waiting for it would
        return self._coroutine.throw(*exception)

    def close(self) -> None:
        self._coroutine.close()

    def __await__(self) -> Generator:
        raise TypeError("a resumed invocation runs as a task, not awaited")


_STARTED = object()


class _Awaitable:
    __slots__ = ("_generator",)

    def __init__(self, generator: Generator) -> None:
        self._generator = generator

    def __await__(self) -> Generator:
        return self._generator


def _finished(task: asyncio.Task) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("released invocation failed", exc_info=task.exception())


async def run(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task | None:
    """Run `coroutine` here; return its task if it was released to one."""
    call = _Call()
    try:
        suspended = _step(coroutine, call, None, None)
    except StopIteration:  # most calls finish without suspending: no driver
        return None
    return await _Awaitable(_inline(coroutine, call, suspended))
