"""Request bodies over a route's limit are refused from their head, not read whole.

Twenty anonymous clients at once announce (or stream) 100 MiB each to a hub
send, a negotiate and ``/realtime/token``: each gets 413 before it has sent
its body, and daphne's memory stays where it was.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.rawhttp import RawHttp, Response
from tests.support.processes import rss_kib

pytestmark = pytest.mark.e2e

PATHS = ["/hubs/orders?id=x", "/hubs/orders/negotiate?negotiateVersion=1", "/realtime/token"]
HUGE = 100 * 1024 * 1024
PARALLEL = 20
#: What a streaming client may send before it must have its answer (the
#: limit is 32 KiB; the rest is socket buffers on both sides).
STREAMED_BEFORE_ANSWER = 8 * 1024 * 1024
CHUNK = b"x" * 65536
#: RSS growth allowed for the whole run (allocator slack, not bodies).
RSS_GROWTH_KIB = 30 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def announce_huge_body(base_url: str, path: str) -> Response:
    """Send only the head of a 100 MiB POST and wait for the answer."""
    client = await RawHttp.open(base_url)
    try:
        client.send_head("POST", path, {**FORM, "Content-Length": str(HUGE)})
        await client.writer.drain()
        return await client.response(timeout=10)
    finally:
        await client.close()


async def stream_until_answered(base_url: str, path: str) -> tuple[Response | None, int]:
    """Stream a chunked body until the server answers; return the answer and bytes sent."""
    client = await RawHttp.open(base_url)
    answer = asyncio.create_task(client.response(timeout=60))
    sent = 0
    try:
        client.send_head("POST", path, {**FORM, "Transfer-Encoding": "chunked"})
        while not answer.done() and sent < STREAMED_BEFORE_ANSWER:
            client.writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            try:
                await client.writer.drain()
            except OSError:
                break  # the server closed after answering
            sent += len(CHUNK)
            await asyncio.sleep(0.002)
        answered_after = sent
        if not answer.done():
            client.writer.write(b"0\r\n\r\n")
        try:
            response = await asyncio.wait_for(answer, 30)
        except (OSError, TimeoutError):
            response = None
        return response, answered_after
    finally:
        answer.cancel()
        await client.close()


@pytest.mark.parametrize("path", PATHS)
async def test_a_declared_huge_body_is_refused_before_it_is_sent(live, path, report_number):
    pid = live.pid()
    before = rss_kib(pid)

    replies = await asyncio.gather(*(announce_huge_body(live.url, path) for _ in range(PARALLEL)))

    after = rss_kib(pid)
    report_number(
        f"{PARALLEL} parallel 100 MiB POSTs (Content-Length) to {path}: 413 before the body; "
        f"RSS {before:,} -> {after:,} KiB"
    )
    assert [reply.status for reply in replies] == [413] * PARALLEL
    assert after - before < RSS_GROWTH_KIB


@pytest.mark.parametrize("path", PATHS)
async def test_a_streamed_body_is_refused_once_past_the_limit(live, path, report_number):
    pid = live.pid()
    before = rss_kib(pid)

    outcomes = await asyncio.gather(
        *(stream_until_answered(live.url, path) for _ in range(PARALLEL))
    )

    after = rss_kib(pid)
    report_number(
        f"{PARALLEL} parallel chunked uploads to {path}: 413 after at most "
        f"{max(sent for _, sent in outcomes) // 1024:,} KiB sent; RSS {before:,} -> {after:,} KiB"
    )
    assert [response.status if response else None for response, _ in outcomes] == [413] * PARALLEL
    assert max(sent for _, sent in outcomes) < STREAMED_BEFORE_ANSWER
    assert after - before < RSS_GROWTH_KIB


async def test_bodies_within_the_limit_still_work(live):
    client = await RawHttp.open(live.url)
    try:
        reply = await client.request(
            "POST", "/realtime/token", b"username=alice&password=alice-pass-1", FORM
        )
    finally:
        await client.close()

    assert reply.status == 200, reply
    assert b"accessToken" in reply.body
