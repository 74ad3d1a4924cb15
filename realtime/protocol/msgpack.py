"""The MessagePack hub protocol: varint-length-prefixed MessagePack arrays (HubProtocol.md).

Messages are read field by field, in the order ASP.NET Core's reader takes
them, so the same bytes give the same message or the same error text: items
past the last field a type defines are ignored, as are unknown message types
(HubProtocol.md lets later versions add types).
"""

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeAlias
from uuid import UUID

import msgpack

from realtime.protocol import messages as m
from realtime.protocol.messages import HubMessage, ProtocolError

Items: TypeAlias = list[Any]
Headers: TypeAlias = dict[str, str] | None

_MAX_LENGTH = 0x7FFFFFFF  # 2 GiB - 1, the most a 5-byte prefix may announce
_INT32 = range(-(2**31), 2**31)
_INT64 = range(-(2**63), 2**63)
_ERROR_RESULT, _VOID_RESULT, _NON_VOID_RESULT = 1, 2, 3
# Everything the unpacker raises on hostile input: OutOfData when the body
# ends early, FormatError, StackError and a wrong header are ValueErrors,
# unhashable map keys are a TypeError, an out-of-range timestamp an
# OverflowError.
_UNPACK_ERRORS = (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException)


def _pack_default(value: object) -> object:
    if isinstance(value, dt.datetime):  # only naive ones get here
        return msgpack.Timestamp.from_datetime(value.replace(tzinfo=dt.UTC))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not MessagePack serializable")


def _frame(items: Items) -> bytes:
    body: bytes = msgpack.packb(items, use_bin_type=True, datetime=True, default=_pack_default)
    size = len(body)
    if size > _MAX_LENGTH:
        raise ValueError(f"A message of {size} bytes is too large to frame.")
    prefix = bytearray()
    while size > 0x7F:
        prefix.append((size & 0x7F) | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + body


def _read_length(data: memoryview, offset: int) -> tuple[int, int]:
    """Return the varint at ``offset`` and the offset just after it."""
    length = 0
    for index in range(5):
        if offset + index >= len(data):
            raise ProtocolError("Incomplete message: the length prefix is truncated.")
        byte = data[offset + index]
        length |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if length > _MAX_LENGTH:
                raise ProtocolError("Messages larger than 2 GiB are not supported.")
            return length, offset + index + 1
    raise ProtocolError("The length prefix is longer than 5 bytes.")


class _Reader:
    """Read the fields of one message body in order, naming the one that fails."""

    __slots__ = ("_unpacker",)

    def __init__(self, body: memoryview) -> None:
        self._unpacker = msgpack.Unpacker(
            raw=False, strict_map_key=False, timestamp=3, max_buffer_size=max(len(body), 1)
        )
        self._unpacker.feed(body)

    def _read(self, read: Callable[[], Any], failure: str) -> Any:
        try:
            return read()
        except _UNPACK_ERRORS as exc:
            raise ProtocolError(failure) from exc

    def array_length(self, field: str) -> int:
        return self._read(
            self._unpacker.read_array_header, f"Reading array length for '{field}' failed."
        )

    def map_length(self, field: str) -> int:
        return self._read(
            self._unpacker.read_map_header, f"Reading map length for '{field}' failed."
        )

    def value(self, field: str) -> object:
        failure = f"Deserializing object of the `Object` type for '{field}' failed."
        return self._read(self._unpacker.unpack, failure)

    def string(self, field: str) -> str | None:
        """Read a string or nil, as MessagePack-CSharp's ReadString does."""
        failure = f"Reading '{field}' as String failed."
        value = self._read(self._unpacker.unpack, failure)
        if value is not None and not isinstance(value, str):
            raise ProtocolError(failure)
        return value

    def integer(self, field: str, kind: str, bounds: range) -> int:
        failure = f"Reading '{field}' as {kind} failed."
        value = self._read(self._unpacker.unpack, failure)
        if type(value) is not int or value not in bounds:  # bool is an int subclass
            raise ProtocolError(failure)
        return value

    def boolean(self, field: str) -> bool:
        failure = f"Reading '{field}' as Boolean failed."
        value = self._read(self._unpacker.unpack, failure)
        if not isinstance(value, bool):
            raise ProtocolError(failure)
        return value


def _required(value: str | None, what: str) -> str:
    if not value:
        raise ProtocolError(f"Null or empty {what}.")
    return value


def _headers(reader: _Reader) -> Headers:
    headers: dict[str, str] = {}
    for index in range(reader.map_length("headers")):
        key = _required(reader.string(f"headers[{index}].Key"), "key in header")
        value = _required(reader.string(f"headers[{index}].Value"), "value in header")
        if key in headers:
            raise ProtocolError(f"An item with the same key has already been added. Key: {key}")
        headers[key] = value
    return headers or None


def _arguments(reader: _Reader) -> tuple[object, ...]:
    return tuple(reader.value("argument") for _ in range(reader.array_length("arguments")))


def _stream_ids(reader: _Reader, count: int) -> tuple[str, ...]:
    # Clients older than streaming uploads (and the JavaScript client) send
    # five items; the .NET client always sends StreamIds.
    if count <= 5:
        return ()
    length = reader.array_length("streamIds")
    return tuple(
        _required(reader.string("streamIds"), "value in streamIds received") for _ in range(length)
    )


def _decode_invocation(reader: _Reader, count: int) -> m.Invocation:
    headers = _headers(reader)
    invocation_id = reader.string("invocationId") or None  # nil or "": non-blocking
    target = _required(reader.string("target"), "target for Invocation message")
    arguments = _arguments(reader)
    return m.Invocation(target, arguments, invocation_id, _stream_ids(reader, count), headers)


def _decode_stream_invocation(reader: _Reader, count: int) -> m.StreamInvocation:
    kind = "StreamInvocation message"
    headers = _headers(reader)
    invocation_id = _required(reader.string("invocationId"), f"invocation ID for {kind}")
    target = _required(reader.string("target"), f"target for {kind}")
    arguments = _arguments(reader)
    return m.StreamInvocation(invocation_id, target, arguments, _stream_ids(reader, count), headers)


def _invocation_id(reader: _Reader, kind: str) -> tuple[Headers, str]:
    headers = _headers(reader)
    return headers, _required(reader.string("invocationId"), f"invocation ID for {kind} message")


def _decode_stream_item(reader: _Reader, count: int) -> m.StreamItem:
    headers, invocation_id = _invocation_id(reader, "StreamItem")
    return m.StreamItem(invocation_id, reader.value("item"), headers)


def _decode_completion(reader: _Reader, count: int) -> m.Completion:
    headers, invocation_id = _invocation_id(reader, "Completion")
    kind = reader.integer("resultKind", "Int32", _INT32)
    if kind == _ERROR_RESULT:  # a nil error reads as a void completion, as in .NET
        return m.Completion(invocation_id, error=reader.string("error"), headers=headers)
    if kind == _NON_VOID_RESULT:
        result = reader.value("argument")
        return m.Completion(invocation_id, result, has_result=True, headers=headers)
    if kind == _VOID_RESULT:
        return m.Completion(invocation_id, headers=headers)
    raise ProtocolError("Invalid invocation result kind.")


def _decode_cancel_invocation(reader: _Reader, count: int) -> m.CancelInvocation:
    headers, invocation_id = _invocation_id(reader, "CancelInvocation")
    return m.CancelInvocation(invocation_id, headers)


def _decode_close(reader: _Reader, count: int) -> m.Close:
    error = reader.string("error")
    allow_reconnect = reader.boolean("allowReconnect") if count > 2 else False
    return m.Close(error, allow_reconnect)


def _sequence_id(reader: _Reader) -> int:
    return reader.integer("sequenceId", "Int64", _INT64)


def _encode_invocation(message: m.Invocation | m.StreamInvocation) -> Items:
    # Always six items, StreamIds last and empty when there are none: what
    # ASP.NET Core writes and what every client's reader expects.
    message_type = 1 if isinstance(message, m.Invocation) else 4
    invocation_id = message.invocation_id or None
    items = [message_type, message.headers or {}, invocation_id, message.target]
    return [*items, message.arguments, message.stream_ids]


def _encode_completion(message: m.Completion) -> Items:
    items = [3, message.headers or {}, message.invocation_id]
    if message.error is not None:
        return [*items, _ERROR_RESULT, message.error]
    if message.has_result:
        return [*items, _NON_VOID_RESULT, message.result]
    return [*items, _VOID_RESULT]


_DECODERS: dict[int, Callable[[_Reader, int], HubMessage]] = {
    1: _decode_invocation,
    2: _decode_stream_item,
    3: _decode_completion,
    4: _decode_stream_invocation,
    5: _decode_cancel_invocation,
    6: lambda reader, count: m.Ping(),
    7: _decode_close,
    8: lambda reader, count: m.Ack(_sequence_id(reader)),
    9: lambda reader, count: m.Sequence(_sequence_id(reader)),
}

# Ping, Close, Ack and Sequence have fixed shapes; their encoders are one-liners.
_ENCODERS: dict[type, Callable[[Any], Items]] = {
    m.Invocation: _encode_invocation,
    m.StreamItem: lambda msg: [2, msg.headers or {}, msg.invocation_id, msg.item],
    m.Completion: _encode_completion,
    m.StreamInvocation: _encode_invocation,
    m.CancelInvocation: lambda msg: [5, msg.headers or {}, msg.invocation_id],
    m.Ping: lambda msg: [6],  # always exactly 0x91 0x06, as the spec demands
    m.Close: lambda msg: [7, msg.error or None, msg.allow_reconnect],  # three items, always
    m.Ack: lambda msg: [8, msg.sequence_id],
    m.Sequence: lambda msg: [9, msg.sequence_id],
}


def _decode_message(body: memoryview) -> HubMessage | None:
    reader = _Reader(body)
    try:
        count = reader.array_length("message")
    except ProtocolError:
        raise ProtocolError("A message must be a MessagePack array.") from None
    decoder = _DECODERS.get(reader.integer("messageType", "Int32", _INT32))
    return None if decoder is None else decoder(reader, count)


class MessagePackHubProtocol:
    """Parse and encode hub messages in the MessagePack hub protocol."""

    name: str = "messagepack"
    version: int = 2
    transfer_format: str = "Binary"

    def parse(self, data: bytes, *, max_message_size: int | None = None) -> list[HubMessage]:
        """Return the length-prefixed messages in ``data``, minus unknown types.

        Raise ProtocolError unless ``data`` is a run of complete, valid
        messages, each no larger than ``max_message_size`` bytes.
        """
        # Slices of a view copy nothing. Viewing immutable bytes means a view
        # kept alive by a traceback never stops a caller resizing a bytearray.
        view, limit = memoryview(bytes(data)), max_message_size
        bodies: list[memoryview] = []
        offset = 0
        while offset < len(view):
            length, offset = _read_length(view, offset)
            if limit is not None and length > limit:  # before touching the body
                raise ProtocolError(f"Message of {length} bytes exceeds the {limit}-byte limit.")
            if offset + length > len(view):
                raise ProtocolError("Incomplete message: the body is truncated.")
            bodies.append(view[offset : offset + length])
            offset += length
        decoded = [_decode_message(body) for body in bodies]
        return [message for message in decoded if message is not None]

    def encode(self, message: HubMessage) -> bytes:
        """Return ``message`` as one length-prefixed MessagePack array.

        Raise TypeError or ValueError for a payload MessagePack cannot carry.
        """
        encoder = _ENCODERS.get(type(message))
        if encoder is None:
            raise TypeError(f"Cannot encode {type(message).__name__} as a hub message.")
        return _frame(encoder(message))

    def encode_invocation_frame(self, target: str, arguments: Sequence[object]) -> bytes:
        """Return what ``encode(Invocation(target, tuple(arguments)))`` returns, faster."""
        return _frame([1, {}, None, target, tuple(arguments), ()])
