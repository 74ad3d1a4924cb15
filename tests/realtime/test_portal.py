"""realtime.portal: sync callers share one event loop per process."""

from __future__ import annotations

import asyncio
import contextvars
import multiprocessing
import threading

import pytest
from asgiref.sync import sync_to_async

from realtime import portal
from realtime.redis_pool import client

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


async def _loop_and_pool() -> tuple[int, int]:
    await client().ping()
    return id(asyncio.get_running_loop()), id(client())


def test_sync_calls_share_one_loop_and_one_redis_pool(redis_url):
    first = portal.call(_loop_and_pool)
    assert portal.call(_loop_and_pool) == first
    # From another plain thread too: one portal per process.
    seen = []
    worker = threading.Thread(target=lambda: seen.append(portal.call(_loop_and_pool)))
    worker.start()
    worker.join(10)
    assert seen == [first]


def test_arguments_results_and_errors_pass_through():
    async def divide(a: int, *, by: int) -> float:
        await asyncio.sleep(0)
        return a / by

    assert portal.call(divide, 6, by=3) == 2
    with pytest.raises(ZeroDivisionError):
        portal.call(divide, 1, by=0)


def test_context_variables_reach_the_call():
    async def read() -> str:
        return request_id.get()

    token = request_id.set("r-42")
    try:
        assert portal.call(read) == "r-42"
    finally:
        request_id.reset(token)


async def test_a_thread_served_by_an_event_loop_runs_the_call_on_that_loop():
    outer = asyncio.get_running_loop()

    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    # A sync view under daphne: sync_to_async's thread, served by this loop.
    assert await sync_to_async(portal.call)(which_loop) is outer


async def test_a_call_from_a_running_loop_is_refused_with_a_clear_error():
    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="await its async form"):
        portal.call(nothing)


def _child_loop(queue) -> None:
    async def which() -> int:
        return threading.get_ident()

    queue.put(portal.call(which))


def test_a_forked_child_gets_a_portal_of_its_own():
    async def which() -> int:
        return threading.get_ident()

    parent_thread = portal.call(which)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_loop, args=(queue,))
    child.start()
    # The parent's portal thread does not exist in the child: a call there
    # would wait forever unless the child starts its own.
    assert isinstance(queue.get(timeout=20), int)
    child.join(20)
    assert child.exitcode == 0
    assert portal.call(which) == parent_thread


def test_close_stops_the_loop_and_a_later_call_starts_another():
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    before = portal.call(which)
    portal.close()
    assert before.is_closed()
    after = portal.call(which)
    assert after is not before
    assert after.is_running()
