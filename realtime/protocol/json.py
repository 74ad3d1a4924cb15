"""The JSON hub protocol: UTF-8 JSON objects, each followed by 0x1E (HubProtocol.md)."""

import base64
import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, NoReturn, TypeAlias
from uuid import UUID

from realtime.protocol import messages as m
from realtime.protocol.messages import HubMessage, ProtocolError

JsonObject: TypeAlias = dict[str, Any]
Headers: TypeAlias = dict[str, str] | None


def _encode_default(value: object) -> object:
    if isinstance(value, dt.date | dt.time):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        # HubProtocol.md's type mapping sends byte arrays as Base64 strings.
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _reject_constant(name: str) -> NoReturn:
    raise ProtocolError(f"{name} is not a valid JSON value.")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # Python reads 1e999 as inf, which cannot be encoded back
        raise ProtocolError(f"The number {text[:32]} is out of range.")
    return value


_encoder = partial(
    json.JSONEncoder, separators=(",", ":"), allow_nan=False, default=_encode_default
)
_UTF8_ENCODER = _encoder(ensure_ascii=False)
_ASCII_ENCODER = _encoder(ensure_ascii=True)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)


def _dump_record(payload: JsonObject) -> bytes:
    # JSON escapes control characters, so 0x1E never occurs inside a record.
    try:
        return (_UTF8_ENCODER.encode(payload) + "\x1e").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON only escaped
        return (_ASCII_ENCODER.encode(payload) + "\x1e").encode("ascii")


def _load_record(record: bytes) -> object:
    try:
        return _DECODER.decode(record.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"The message is not valid UTF-8: {exc.reason}.") from exc
    except RecursionError as exc:
        raise ProtocolError("The message is nested too deeply.") from exc
    except ProtocolError:
        raise
    except ValueError as exc:  # JSONDecodeError, or an int past Python's digit limit
        raise ProtocolError(f"The message is not valid JSON: {exc}.") from exc


def _required_str(obj: JsonObject, key: str, kind: str) -> str:
    if key not in obj:
        raise ProtocolError(f"Invalid {kind} message: the '{key}' property is missing.")
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"Invalid {kind} message: '{key}' must be a non-empty string.")
    return value


def _optional_str(obj: JsonObject, key: str, kind: str, *, non_empty: bool = False) -> str | None:
    value = obj.get(key)  # as in the .NET server, null means absent
    if value is not None and (not isinstance(value, str) or (non_empty and not value)):
        qualifier = "a non-empty" if non_empty else "a"
        raise ProtocolError(f"Invalid {kind} message: '{key}' must be {qualifier} string.")
    return value


def _headers(obj: JsonObject, kind: str) -> Headers:
    value = obj.get("headers", {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ProtocolError(f"Invalid {kind} message: 'headers' must map strings to strings.")
    return value or None


def _arguments(obj: JsonObject, kind: str) -> tuple[object, ...]:
    value = obj.get("arguments")
    if not isinstance(value, list):
        raise ProtocolError(f"Invalid {kind} message: 'arguments' must be an array.")
    return tuple(value)


def _stream_ids(obj: JsonObject, kind: str) -> tuple[str, ...]:
    value = obj.get("streamIds", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"Invalid {kind} message: 'streamIds' must be an array of strings.")
    return tuple(value)


def _sequence_id(obj: JsonObject, kind: str) -> int:
    value = obj.get("sequenceId")
    if type(value) is not int or value < 0:  # bool is an int subclass
        raise ProtocolError(f"Invalid {kind} message: 'sequenceId' must be an integer >= 0.")
    return value


def _envelope(message_type: int, headers: Headers, invocation_id: str | None) -> JsonObject:
    payload: JsonObject = {"type": message_type}
    if headers:
        payload["headers"] = headers
    if invocation_id is not None:
        payload["invocationId"] = invocation_id
    return payload


def _decode_invocation(obj: JsonObject) -> m.Invocation:
    return m.Invocation(
        target=_required_str(obj, "target", "Invocation"),
        arguments=_arguments(obj, "Invocation"),
        invocation_id=_optional_str(obj, "invocationId", "Invocation", non_empty=True),
        stream_ids=_stream_ids(obj, "Invocation"),
        headers=_headers(obj, "Invocation"),
    )


def _decode_stream_invocation(obj: JsonObject) -> m.StreamInvocation:
    return m.StreamInvocation(
        invocation_id=_required_str(obj, "invocationId", "StreamInvocation"),
        target=_required_str(obj, "target", "StreamInvocation"),
        arguments=_arguments(obj, "StreamInvocation"),
        stream_ids=_stream_ids(obj, "StreamInvocation"),
        headers=_headers(obj, "StreamInvocation"),
    )


def _encode_invocation(message: m.Invocation | m.StreamInvocation) -> JsonObject:
    message_type = 1 if isinstance(message, m.Invocation) else 4
    payload = _envelope(message_type, message.headers, message.invocation_id)
    payload["target"] = message.target
    payload["arguments"] = message.arguments
    if message.stream_ids:
        payload["streamIds"] = message.stream_ids
    return payload


def _decode_stream_item(obj: JsonObject) -> m.StreamItem:
    invocation_id = _required_str(obj, "invocationId", "StreamItem")
    if "item" not in obj:
        raise ProtocolError("Invalid StreamItem message: the 'item' property is missing.")
    return m.StreamItem(invocation_id, obj["item"], _headers(obj, "StreamItem"))


def _encode_stream_item(message: m.StreamItem) -> JsonObject:
    return _envelope(2, message.headers, message.invocation_id) | {"item": message.item}


def _decode_completion(obj: JsonObject) -> m.Completion:
    invocation_id = _required_str(obj, "invocationId", "Completion")
    headers = _headers(obj, "Completion")
    error = _optional_str(obj, "error", "Completion")
    if error is not None and "result" in obj:
        raise ProtocolError("Invalid Completion message: it has both 'result' and 'error'.")
    if error is not None:
        return m.Completion(invocation_id, error=error, headers=headers)
    if "result" in obj:  # even null: a None result is not a void completion
        return m.Completion(invocation_id, obj["result"], has_result=True, headers=headers)
    return m.Completion(invocation_id, headers=headers)


def _encode_completion(message: m.Completion) -> JsonObject:
    payload = _envelope(3, message.headers, message.invocation_id)
    if message.error is not None:
        payload["error"] = message.error
    elif message.has_result:
        payload["result"] = message.result
    return payload


def _decode_cancel_invocation(obj: JsonObject) -> m.CancelInvocation:
    invocation_id = _required_str(obj, "invocationId", "CancelInvocation")
    return m.CancelInvocation(invocation_id, _headers(obj, "CancelInvocation"))


def _encode_cancel_invocation(message: m.CancelInvocation) -> JsonObject:
    return _envelope(5, message.headers, message.invocation_id)


def _decode_close(obj: JsonObject) -> m.Close:
    allow_reconnect = obj.get("allowReconnect", False)
    if not isinstance(allow_reconnect, bool):
        raise ProtocolError("Invalid Close message: 'allowReconnect' must be a boolean.")
    return m.Close(_optional_str(obj, "error", "Close"), allow_reconnect)


def _encode_close(message: m.Close) -> JsonObject:
    payload: JsonObject = {"type": 7}
    if message.error is not None:
        payload["error"] = message.error
    if message.allow_reconnect:
        payload["allowReconnect"] = True
    return payload


# Ping, Ack and Sequence have at most one field; their codecs are one-liners.
_DECODERS: dict[int, Callable[[JsonObject], HubMessage]] = {
    1: _decode_invocation,
    2: _decode_stream_item,
    3: _decode_completion,
    4: _decode_stream_invocation,
    5: _decode_cancel_invocation,
    6: lambda obj: m.Ping(),
    7: _decode_close,
    8: lambda obj: m.Ack(_sequence_id(obj, "Ack")),
    9: lambda obj: m.Sequence(_sequence_id(obj, "Sequence")),
}

_ENCODERS: dict[type, Callable[[Any], JsonObject]] = {
    m.Invocation: _encode_invocation,
    m.StreamItem: _encode_stream_item,
    m.Completion: _encode_completion,
    m.StreamInvocation: _encode_invocation,
    m.CancelInvocation: _encode_cancel_invocation,
    m.Ping: lambda message: {"type": 6},
    m.Close: _encode_close,
    m.Ack: lambda message: {"type": 8, "sequenceId": message.sequence_id},
    m.Sequence: lambda message: {"type": 9, "sequenceId": message.sequence_id},
}


def _decode_message(record: bytes) -> HubMessage:
    obj = _load_record(record)
    if not isinstance(obj, dict):
        raise ProtocolError("A message must be a JSON object.")
    message_type = obj.get("type")
    if type(message_type) is not int:  # bool is an int subclass
        raise ProtocolError("A message needs an integer 'type' property.")
    if message_type not in _DECODERS:
        raise ProtocolError(f"Unknown message type {message_type}.")
    return _DECODERS[message_type](obj)


class JsonHubProtocol:
    """Parse and encode hub messages in the JSON hub protocol."""

    name: str = "json"
    version: int = 1
    transfer_format: str = "Text"

    def parse(self, data: bytes, *, max_message_size: int | None = None) -> list[HubMessage]:
        """Return the messages in ``data``, a frame that ends with 0x1E.

        Raise ProtocolError unless ``data`` is a run of complete, valid
        messages, each no larger than ``max_message_size`` bytes.
        """
        *records, rest = bytes(data).split(b"\x1e")
        if rest:
            raise ProtocolError("Incomplete message: the frame does not end with 0x1E.")
        limit = max_message_size
        for record in records:  # check every size before parsing anything
            if limit is not None and len(record) > limit:
                raise ProtocolError(
                    f"Message of {len(record)} bytes exceeds the {limit}-byte limit."
                )
        return [_decode_message(record) for record in records]

    def encode(self, message: HubMessage) -> bytes:
        """Return ``message`` as one JSON record, separator included.

        Raise TypeError or ValueError for a payload JSON cannot carry.
        """
        encoder = _ENCODERS.get(type(message))
        if encoder is None:
            raise TypeError(f"Cannot encode {type(message).__name__} as a hub message.")
        return _dump_record(encoder(message))

    def encode_invocation_frame(self, target: str, arguments: Sequence[object]) -> bytes:
        """Return what ``encode(Invocation(target, tuple(arguments)))`` returns, faster."""
        return _dump_record({"type": 1, "target": target, "arguments": tuple(arguments)})
