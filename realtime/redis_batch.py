"""Commands issued at the same moment by many connections, sent to Redis together.

A command costs this process 60 to 85 µs of CPU in redis-py and asyncio
(measured: 75 to 85 alone, 63 each when ten go at once on ten pooled
connections): a pooled connection, a write, the loop waking on the reply,
parsing. In a connect storm hundreds of coroutines each wait on one
command at a time (a registration, a claim, a presence entry), so that
cost is paid per command. Ten commands in one pipeline cost about 27 µs
each.

`BatchingRedis` is the client of every shard's main pool
(`realtime.redis_pool.clients`). A command, or a pipeline of
`realtime.shards.pipelined`, is queued; at the loop's next pass whatever
was queued meanwhile goes out as one pipeline (at most BATCH commands;
more run as several pipelines at once). Each caller gets its own replies
and its own error, as it would have alone: a command that Redis refuses
fails only its caller; a lost connection fails every command that was
on it, which a command sent alone on that connection would have done too.
A lone command is sent as it would be without batching.

Blocking commands must not be batched (they would hold up the others):
the package sends none through these clients (pub/sub has connections of
its own, the channel layer its own pools).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

#: Commands per pipeline; a bigger batch is sent as several pipelines at once.
BATCH = 500

Command = tuple[tuple[Any, ...], dict[str, Any]]
Queued = tuple[list[Command], asyncio.Future]


class BatchingRedis(Redis):
    """A Redis client that sends the commands of one loop pass as one pipeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[Queued] = []
        self._sending: set[asyncio.Task] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Queue one command for the next batch; return its reply or raise its error."""
        return (await self.run([(args, options)]))[0]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        """A pipeline; without a transaction, its commands go out in the next batch."""
        if transaction:
            return super().pipeline(transaction, shard_hint)
        pipe = BatchedPipeline(self.connection_pool, self.response_callbacks, False, shard_hint)
        pipe.batching = self
        return pipe

    async def run(self, commands: list[Command], raise_on_error: bool = True) -> list:
        """Send `commands` (a pipeline's stack) in the next batch; return their replies.

        As a pipeline does: every command runs, then (with `raise_on_error`)
        the first one Redis refused raises.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((commands, future))
        replies = await future
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise reply
        return replies

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        part: list[Queued] = []
        size = 0
        for entry in queued:
            if part and size + len(entry[0]) > BATCH:
                self._send(part)
                part, size = [], 0
            part.append(entry)
            size += len(entry[0])
        self._send(part)

    def _send(self, part: list[Queued]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(part))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _deliver(self, part: list[Queued]) -> None:
        try:
            replies = await self._replies([command for commands, _ in part for command in commands])
        except asyncio.CancelledError:  # the loop is closing
            for _, future in part:
                future.cancel()
            raise
        except Exception as error:  # every caller gets it, as it would have alone
            for _, future in part:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for commands, future in part:
            end = start + len(commands)
            if not future.done():  # its caller may have been cancelled
                future.set_result(replies[start:end])
            start = end

    async def _replies(self, commands: list[Command]) -> list:
        if len(commands) == 1:
            args, options = commands[0]
            try:
                return [await Redis.execute_command(self, *args, **options)]
            except ResponseError as refused:
                return [refused]
        async with Redis.pipeline(self, transaction=False) as pipe:
            pipe.command_stack.extend(commands)
            return await pipe.execute(raise_on_error=False)


class BatchedPipeline(Pipeline):
    """A pipeline without a transaction whose commands join the client's next batch.

    With a WATCH or a script to load first, it runs on its own connection
    as any pipeline does.
    """

    batching: BatchingRedis

    async def execute(self, raise_on_error: bool = True) -> list:
        if self.scripts or self.watching or self.explicit_transaction:
            return await super().execute(raise_on_error)
        stack = self.command_stack
        try:
            return await self.batching.run(stack, raise_on_error) if stack else []
        finally:
            await self.reset()
