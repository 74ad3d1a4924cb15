"""Client-to-server streams: hub method parameters fed by the client.

A hub method that declares a parameter ``AsyncIterator[T]`` (or
``AsyncIterable[T]``) takes an upload, like an ``IAsyncEnumerable<T>`` or
``ChannelReader<T>`` parameter in ASP.NET Core. The client (JS: a
``Subject`` among the arguments) sends one stream id per such parameter in
its Invocation's ``streamIds``, then StreamItems with that id, then a
Completion to end it (with an error: the hub's ``async for`` raises
HubException with the client's text).

The rules, as ASP.NET Core's: such an invocation runs beside the reader (it
needs the reader for its items); each stream holds at most UPLOAD_BUFFER
items and the reader waits for room (back-pressure to the client); a stream
ends when its method returns, and raises ConnectionAbortedError in the hub
when the connection closes first. Bounds of our own: MAX_UPLOAD_STREAMS per
connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Protocol

from realtime import conf
from realtime.binding import BindingError, convert
from realtime.errors import HubException
from realtime.hub import HubMethod, upload_item_type
from realtime.protocol import Completion, StreamItem

logger = logging.getLogger(__name__)

#: Ended stream ids remembered per connection: items the client sent before
#: it learned the invocation ended are passed over, not a protocol error.
REMEMBERED = 64
CLOSED = "The underlying connection was closed."


class UploadRefused(Exception):
    """An invocation's streams do not fit the method or the limits."""


class Upload:
    """One client-to-server stream, as the hub method iterates it."""

    __slots__ = ("_end", "_items", "_kind", "_readable", "_room", "stream_id")

    def __init__(self, stream_id: str, kind: Any) -> None:
        self.stream_id = stream_id
        self._kind = kind
        self._items: deque[Any] = deque()
        self._end: BaseException | bool | None = False  # False: still open
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    @property
    def buffered(self) -> int:
        """Items received that the hub has not taken yet."""
        return len(self._items)

    def __aiter__(self) -> Upload:
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            if self._end is not False:
                if self._end is None:
                    raise StopAsyncIteration
                raise self._end
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        self._room.set()
        return item

    async def put(self, item: Any) -> None:
        """Add an item, waiting while the stream holds UPLOAD_BUFFER of them."""
        limit = conf.get().UPLOAD_BUFFER
        while len(self._items) >= limit and self._end is False:
            self._room.clear()
            await self._room.wait()
        if self._end is not False:
            return
        try:
            self._items.append(convert(item, self._kind))
        except BindingError as exc:
            self.finish(HubException(f"Failed to bind Stream message. {exc}"))
            return
        self._readable.set()

    def finish(self, error: BaseException | None = None) -> None:
        """End the stream: the hub's loop ends, or raises `error` once the items are read."""
        if self._end is False:
            self._end = error
        self._readable.set()
        self._room.set()


class Uploads:
    """The open upload streams of one connection."""

    __slots__ = ("ended", "open")

    def __init__(self) -> None:
        self.open: dict[str, Upload] = {}
        self.ended: deque[str] = deque(maxlen=REMEMBERED)


class Streams(Protocol):
    """The connection whose upload streams these are."""

    uploads: Uploads | None


def _table(connection: Streams) -> Uploads:
    if connection.uploads is None:
        connection.uploads = Uploads()
    return connection.uploads


def announce(connection: Streams, method: HubMethod, stream_ids: tuple[str, ...]) -> list:
    """Open the streams of an invocation before its items can arrive.

    Raise UploadRefused when they do not fit the method or the limit.
    """
    parameters = [p for p in method.parameters if p.name in method.uploads]
    if len(stream_ids) != len(parameters):
        raise UploadRefused(
            f"Client sent {len(stream_ids)} stream(s), Hub method expects {len(parameters)}."
        )
    table = _table(connection)
    limit = conf.get().MAX_UPLOAD_STREAMS
    if len(table.open) + len(stream_ids) > limit:
        raise UploadRefused(f"A connection may have at most {limit} upload streams open.")
    if len(set(stream_ids)) != len(stream_ids) or any(s in table.open for s in stream_ids):
        raise UploadRefused("Stream ids must be unique among the connection's open streams.")
    uploads = []
    for stream_id, parameter in zip(stream_ids, parameters, strict=True):
        kind = upload_item_type(method.hints[parameter.name])
        upload = table.open[stream_id] = Upload(stream_id, kind)
        uploads.append(upload)
    return uploads


def arguments(method: HubMethod, bound: list, uploads: list[Upload]) -> list:
    """Place the uploads among the bound arguments, at their parameters."""
    streams = iter(uploads)
    values = iter(bound)
    return [
        next(streams) if p.name in method.uploads else next(values, p.default)
        for p in method.parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def discard(connection: Streams, stream_ids: tuple[str, ...]) -> None:
    """End the streams of an invocation that returned or was refused.

    Items the client still sends for them are passed over.
    """
    if not stream_ids:
        return
    table = _table(connection)
    for stream_id in stream_ids:
        upload = table.open.pop(stream_id, None)
        if upload is not None:
            upload.finish()
        if stream_id not in table.ended:
            table.ended.append(stream_id)


async def item(connection: Streams, message: StreamItem) -> bool:
    """Hand an item to its stream; return False if no stream has that id."""
    table = connection.uploads
    upload = table.open.get(message.invocation_id) if table is not None else None
    if upload is None:
        return table is not None and message.invocation_id in table.ended
    await upload.put(message.item)
    return True


def complete(connection: Streams, message: Completion) -> bool:
    """End a stream at the client's Completion; return False if no stream has that id."""
    table = connection.uploads
    upload = table.open.pop(message.invocation_id, None) if table is not None else None
    if upload is None:
        return table is not None and message.invocation_id in table.ended
    table.ended.append(message.invocation_id)
    upload.finish(None if message.error is None else HubException(message.error))
    return True


def connection_closed(connection: Streams) -> None:
    """End every open stream with ConnectionAbortedError."""
    table = connection.uploads
    if table is None:
        return
    uploads, table.open = table.open, {}
    for upload in uploads.values():
        upload.finish(ConnectionAbortedError(CLOSED))
