"""realtime.inline: an invocation runs in its reader until it releases it."""

from __future__ import annotations

import asyncio

import pytest

from realtime import inline


async def test_a_call_that_never_suspends_finishes_in_the_reader():
    ran = []

    async def call():
        ran.append("done")

    assert await inline.run(call()) is None
    assert ran == ["done"]


async def test_a_call_waits_in_the_reader_for_what_it_awaits():
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_later(0.01, future.set_result, 7)
    seen = []

    async def call():
        await asyncio.sleep(0)  # a bare yield first
        seen.append(await future)

    assert await inline.run(call()) is None
    assert seen == [7]


async def test_an_exception_reaches_the_reader():
    async def call():
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await inline.run(call())


async def test_release_while_waiting_moves_the_call_to_a_task_and_frees_the_reader():
    future = asyncio.get_running_loop().create_future()
    seen = []

    async def call():
        inline.release()
        seen.append(await future)

    task = await inline.run(call())
    assert isinstance(task, asyncio.Task)
    assert seen == []  # the reader goes on while the call waits
    future.set_result("answer")
    await asyncio.wait_for(task, 1)
    assert seen == ["answer"]


async def test_release_from_another_task_frees_the_reader_it_waits_in():
    future = asyncio.get_running_loop().create_future()
    seen = []

    async def call():
        async def releaser():
            inline.release()

        await asyncio.gather(releaser(), future)
        seen.append("after")

    task = await asyncio.wait_for(inline.run(call()), 1)
    assert isinstance(task, asyncio.Task)
    future.set_result(None)
    await asyncio.wait_for(task, 1)
    assert seen == ["after"]


async def test_a_cancelled_reader_cancels_what_the_call_waits_for():
    future = asyncio.get_running_loop().create_future()
    cancelled = []

    async def call():
        try:
            await future
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    reader = asyncio.create_task(inline.run(call()))
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert future.cancelled()
    assert cancelled == [True]
