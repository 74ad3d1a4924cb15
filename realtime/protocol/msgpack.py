"""The MessagePack hub protocol: varint-length-prefixed MessagePack arrays (HubProtocol.md)."""

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
_ERROR_RESULT, _VOID_RESULT, _NON_VOID_RESULT = 1, 2, 3
# Everything msgpack.unpackb raises on hostile input: FormatError, StackError
# and ExtraData are ValueErrors, unhashable map keys are a TypeError and an
# out-of-range timestamp is an OverflowError.
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


def _unpack(body: memoryview) -> object:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False, timestamp=3)
    except _UNPACK_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise ProtocolError(f"The message is not valid MessagePack: {reason}.") from exc


def _string(value: object, name: str, kind: str, *, non_empty: bool = True) -> str:
    if not isinstance(value, str) or (non_empty and not value):
        qualifier = "a non-empty" if non_empty else "a"
        raise ProtocolError(f"Invalid {kind} message: {name} must be {qualifier} string.")
    return value


def _headers(value: object, kind: str) -> Headers:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ProtocolError(f"Invalid {kind} message: Headers must map strings to strings.")
    return value or None


def _arguments(value: object, kind: str) -> tuple[object, ...]:
    if not isinstance(value, list):
        raise ProtocolError(f"Invalid {kind} message: Arguments must be an array.")
    return tuple(value)


def _stream_ids(items: Items, kind: str) -> tuple[str, ...]:
    value = items[5] if len(items) > 5 else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"Invalid {kind} message: StreamIds must be an array of strings.")
    return tuple(value)


def _sequence_id(value: object, kind: str) -> int:
    if type(value) is not int or value < 0:  # bool is an int subclass
        raise ProtocolError(f"Invalid {kind} message: SequenceId must be an integer >= 0.")
    return value


def _decode_invocation(items: Items) -> m.Invocation:
    # The JavaScript client omits StreamIds; the .NET client always sends them.
    invocation_id = items[2]
    if invocation_id is not None:  # nil marks a non-blocking invocation
        invocation_id = _string(invocation_id, "InvocationId", "Invocation")
    return m.Invocation(
        target=_string(items[3], "Target", "Invocation"),
        arguments=_arguments(items[4], "Invocation"),
        invocation_id=invocation_id,
        stream_ids=_stream_ids(items, "Invocation"),
        headers=_headers(items[1], "Invocation"),
    )


def _decode_stream_invocation(items: Items) -> m.StreamInvocation:
    return m.StreamInvocation(
        invocation_id=_string(items[2], "InvocationId", "StreamInvocation"),
        target=_string(items[3], "Target", "StreamInvocation"),
        arguments=_arguments(items[4], "StreamInvocation"),
        stream_ids=_stream_ids(items, "StreamInvocation"),
        headers=_headers(items[1], "StreamInvocation"),
    )


def _encode_invocation(message: m.Invocation | m.StreamInvocation) -> Items:
    message_type = 1 if isinstance(message, m.Invocation) else 4
    items = [message_type, message.headers or {}, message.invocation_id]
    items += [message.target, message.arguments]
    if message.stream_ids:
        items.append(message.stream_ids)
    return items


def _decode_stream_item(items: Items) -> m.StreamItem:
    headers = _headers(items[1], "StreamItem")
    return m.StreamItem(_string(items[2], "InvocationId", "StreamItem"), items[3], headers)


def _encode_stream_item(message: m.StreamItem) -> Items:
    return [2, message.headers or {}, message.invocation_id, message.item]


def _decode_completion(items: Items) -> m.Completion:
    headers = _headers(items[1], "Completion")
    invocation_id = _string(items[2], "InvocationId", "Completion")
    shape = (items[3] if type(items[3]) is int else None, len(items))  # bool is no kind
    if shape == (_VOID_RESULT, 4):
        return m.Completion(invocation_id, headers=headers)
    if shape == (_NON_VOID_RESULT, 5):
        return m.Completion(invocation_id, items[4], has_result=True, headers=headers)
    if shape == (_ERROR_RESULT, 5):
        error = _string(items[4], "the error", "Completion", non_empty=False)
        return m.Completion(invocation_id, error=error, headers=headers)
    kind = items[3] if type(items[3]) is int else f"of type {type(items[3]).__name__}"
    raise ProtocolError(f"Invalid Completion message: ResultKind {kind} in {len(items)} items.")


def _encode_completion(message: m.Completion) -> Items:
    items = [3, message.headers or {}, message.invocation_id]
    if message.error is not None:
        return [*items, _ERROR_RESULT, message.error]
    if message.has_result:
        return [*items, _NON_VOID_RESULT, message.result]
    return [*items, _VOID_RESULT]


def _decode_cancel_invocation(items: Items) -> m.CancelInvocation:
    invocation_id = _string(items[2], "InvocationId", "CancelInvocation")
    return m.CancelInvocation(invocation_id, _headers(items[1], "CancelInvocation"))


def _encode_cancel_invocation(message: m.CancelInvocation) -> Items:
    return [5, message.headers or {}, message.invocation_id]


def _decode_close(items: Items) -> m.Close:
    error = items[1]
    if error is not None:
        error = _string(error, "Error", "Close", non_empty=False)
    allow_reconnect = items[2] if len(items) > 2 else False
    if not isinstance(allow_reconnect, bool):
        raise ProtocolError("Invalid Close message: AllowReconnect must be a boolean.")
    return m.Close(error, allow_reconnect)


def _encode_close(message: m.Close) -> Items:
    items: Items = [7, message.error]
    return [*items, True] if message.allow_reconnect else items


# Each type's name, the item counts it may have, and its decoder. Ping, Ack
# and Sequence have at most one field, so their codecs are one-liners.
_DECODERS: dict[int, tuple[str, tuple[int, ...], Callable[[Items], HubMessage]]] = {
    1: ("Invocation", (5, 6), _decode_invocation),
    2: ("StreamItem", (4,), _decode_stream_item),
    3: ("Completion", (4, 5), _decode_completion),
    4: ("StreamInvocation", (5, 6), _decode_stream_invocation),
    5: ("CancelInvocation", (3,), _decode_cancel_invocation),
    6: ("Ping", (1,), lambda items: m.Ping()),
    7: ("Close", (2, 3), _decode_close),
    8: ("Ack", (2,), lambda items: m.Ack(_sequence_id(items[1], "Ack"))),
    9: ("Sequence", (2,), lambda items: m.Sequence(_sequence_id(items[1], "Sequence"))),
}

_ENCODERS: dict[type, Callable[[Any], Items]] = {
    m.Invocation: _encode_invocation,
    m.StreamItem: _encode_stream_item,
    m.Completion: _encode_completion,
    m.StreamInvocation: _encode_invocation,
    m.CancelInvocation: _encode_cancel_invocation,
    m.Ping: lambda message: [6],  # always exactly 0x91 0x06, as the spec demands
    m.Close: _encode_close,
    m.Ack: lambda message: [8, message.sequence_id],
    m.Sequence: lambda message: [9, message.sequence_id],
}


def _decode_message(body: memoryview) -> HubMessage:
    items = _unpack(body)
    if not isinstance(items, list) or not items:
        raise ProtocolError("A message must be a non-empty MessagePack array.")
    message_type = items[0]
    if type(message_type) is not int:
        raise ProtocolError("A message must start with an integer message type.")
    if message_type not in _DECODERS:
        raise ProtocolError(f"Unknown message type {message_type}.")
    kind, counts, decoder = _DECODERS[message_type]
    if len(items) not in counts:
        expected = " or ".join(map(str, counts))
        raise ProtocolError(f"Invalid {kind} message: {len(items)} items, expected {expected}.")
    return decoder(items)


class MessagePackHubProtocol:
    """Parse and encode hub messages in the MessagePack hub protocol."""

    name: str = "messagepack"
    version: int = 1
    transfer_format: str = "Binary"

    def parse(self, data: bytes, *, max_message_size: int | None = None) -> list[HubMessage]:
        """Return the length-prefixed messages in ``data``.

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
        return [_decode_message(body) for body in bodies]

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
        return _frame([1, {}, None, target, tuple(arguments)])
