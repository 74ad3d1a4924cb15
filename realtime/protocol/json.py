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


def _iso_time(value: dt.datetime | dt.time) -> str:
    """Return ``value`` in ISO 8601 as System.Text.Json writes it.

    Trailing zeros of the fraction are dropped and UTC is "Z", so a UTC
    datetime reads "2017-04-11T00:00:00Z" as in ASP.NET Core.
    """
    text = value.isoformat()
    if value.microsecond:
        head, _, tail = text.partition(".")
        digits = tail[:6].rstrip("0")
        text = f"{head}.{digits}{tail[6:]}"
    if value.tzinfo is dt.UTC:
        text = text.removesuffix("+00:00") + "Z"
    return text


def _encode_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.time):
        return _iso_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        # HubProtocol.md's type mapping sends byte arrays as Base64 strings.
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a valid JSON value.")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # Python reads 1e999 as inf, which cannot be encoded back
        raise ValueError(f"The number {text[:32]} is out of range.")
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
    # ASP.NET Core says "Error reading JSON." for every syntax, encoding and
    # depth error; the cause stays chained for the logs.
    try:
        return _DECODER.decode(record.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:  # ValueError: JSONDecodeError
        raise ProtocolError("Error reading JSON.") from exc


def token_name(value: object) -> str:
    """Return the name System.Text.Json gives the token that starts ``value``."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {str: "String", list: "Array", dict: "Object"}.get(type(value), "Number")


def _expect(ok: bool, name: str, kind: str) -> None:
    if not ok:
        raise ProtocolError(f"Expected '{name}' to be of type {kind}.")


def _check_headers(value: object) -> None:
    _expect(isinstance(value, dict), "headers", "StartObject")
    for key, header in value.items():  # type: ignore[union-attr]
        if not isinstance(header, str):
            raise ProtocolError(f"Expected header '{key}' to be of type String.")


def _check_stream_ids(value: object) -> None:
    _expect(isinstance(value, list), "streamIds", "Array")
    if not all(isinstance(v, str) and v for v in value):  # type: ignore[union-attr]
        raise ProtocolError("Expected 'streamIds' to hold non-empty strings.")


def _check_allow_reconnect(value: object) -> None:
    if not isinstance(value, bool):
        raise ProtocolError("Expected 'allowReconnect' to be true or false.")


# The properties ASP.NET Core reads, checked in document order whatever the
# message type, as its reader meets them; any other property is skipped.
_CHECKS: dict[str, Callable[[object], None]] = {
    "type": lambda v: _expect(type(v) is int, "type", "Number"),  # bool is an int subclass
    "invocationId": lambda v: _expect(isinstance(v, str), "invocationId", "String"),
    "target": lambda v: _expect(isinstance(v, str), "target", "String"),
    "error": lambda v: _expect(isinstance(v, str), "error", "String"),
    "arguments": lambda v: _expect(isinstance(v, list), "arguments", "Array"),
    "sequenceId": lambda v: _expect(type(v) is int, "sequenceId", "Number"),
    "headers": _check_headers,
    "streamIds": _check_stream_ids,
    "allowReconnect": _check_allow_reconnect,
}


def _required(obj: JsonObject, key: str) -> Any:
    value = obj.get(key)
    if value is None or value == "":  # an empty id or target counts as missing
        raise ProtocolError(f"Missing required property '{key}'.")
    return value


def _headers(obj: JsonObject) -> Headers:
    return obj.get("headers") or None


def _decode_invocation(obj: JsonObject) -> m.Invocation:
    target = _required(obj, "target")
    arguments = tuple(_required(obj, "arguments"))
    invocation_id = obj.get("invocationId") or None  # "" is non-blocking, as in .NET
    stream_ids = tuple(obj.get("streamIds", ()))
    return m.Invocation(target, arguments, invocation_id, stream_ids, _headers(obj))


def _decode_stream_invocation(obj: JsonObject) -> m.StreamInvocation:
    invocation_id = _required(obj, "invocationId")
    arguments = tuple(_required(obj, "arguments"))
    target = _required(obj, "target")
    stream_ids = tuple(obj.get("streamIds", ()))
    return m.StreamInvocation(invocation_id, target, arguments, stream_ids, _headers(obj))


def _decode_stream_item(obj: JsonObject) -> m.StreamItem:
    invocation_id = _required(obj, "invocationId")
    if "item" not in obj:
        raise ProtocolError("Missing required property 'item'.")
    return m.StreamItem(invocation_id, obj["item"], _headers(obj))


def _decode_completion(obj: JsonObject) -> m.Completion:
    invocation_id = _required(obj, "invocationId")
    error, headers = obj.get("error"), _headers(obj)
    if error is not None and "result" in obj:
        raise ProtocolError("The 'error' and 'result' properties are mutually exclusive.")
    if error is not None:
        return m.Completion(invocation_id, error=error, headers=headers)
    if "result" in obj:  # even null: a None result is not a void completion
        return m.Completion(invocation_id, obj["result"], has_result=True, headers=headers)
    return m.Completion(invocation_id, headers=headers)


def _envelope(message_type: int, headers: Headers, invocation_id: str | None) -> JsonObject:
    # Key order is ASP.NET Core's: type, headers, invocationId, then the rest.
    payload: JsonObject = {"type": message_type}
    if headers:
        payload["headers"] = headers
    if invocation_id:  # ASP.NET Core writes no empty id either
        payload["invocationId"] = invocation_id
    return payload


def _encode_invocation(message: m.Invocation | m.StreamInvocation) -> JsonObject:
    message_type = 1 if isinstance(message, m.Invocation) else 4
    payload = _envelope(message_type, message.headers, message.invocation_id)
    payload["target"] = message.target
    payload["arguments"] = message.arguments
    if message.stream_ids:
        payload["streamIds"] = message.stream_ids
    return payload


def _encode_completion(message: m.Completion) -> JsonObject:
    payload = _envelope(3, message.headers, message.invocation_id)
    if message.error:  # an empty error is written as a void completion, as in .NET
        payload["error"] = message.error
    elif message.has_result:
        payload["result"] = message.result
    return payload


def _encode_close(message: m.Close) -> JsonObject:
    payload: JsonObject = {"type": 7}
    if message.error is not None:
        payload["error"] = message.error
    if message.allow_reconnect:
        payload["allowReconnect"] = True
    return payload


def _sequence_id(obj: JsonObject) -> int:
    if "sequenceId" not in obj:
        raise ProtocolError("Missing required property 'sequenceId'.")
    return obj["sequenceId"]


# Ping, Ack and Sequence have at most one field; their codecs are one-liners.
_DECODERS: dict[int, Callable[[JsonObject], HubMessage]] = {
    1: _decode_invocation,
    2: _decode_stream_item,
    3: _decode_completion,
    4: _decode_stream_invocation,
    5: lambda obj: m.CancelInvocation(_required(obj, "invocationId"), _headers(obj)),
    6: lambda obj: m.Ping(),
    7: lambda obj: m.Close(obj.get("error"), obj.get("allowReconnect", False)),
    8: lambda obj: m.Ack(_sequence_id(obj)),
    9: lambda obj: m.Sequence(_sequence_id(obj)),
}

_ENCODERS: dict[type, Callable[[Any], JsonObject]] = {
    m.Invocation: _encode_invocation,
    m.StreamItem: lambda msg: _envelope(2, msg.headers, msg.invocation_id) | {"item": msg.item},
    m.Completion: _encode_completion,
    m.StreamInvocation: _encode_invocation,
    m.CancelInvocation: lambda msg: _envelope(5, msg.headers, msg.invocation_id),
    m.Ping: lambda msg: {"type": 6},
    m.Close: _encode_close,
    m.Ack: lambda msg: {"type": 8, "sequenceId": msg.sequence_id},
    m.Sequence: lambda msg: {"type": 9, "sequenceId": msg.sequence_id},
}


def _decode_message(record: bytes) -> HubMessage | None:
    obj = _load_record(record)
    if not isinstance(obj, dict):
        token = token_name(obj)
        raise ProtocolError(f"Unexpected JSON Token Type '{token}'. Expected a JSON Object.")
    for key, value in obj.items():
        check = _CHECKS.get(key)
        if check is not None:
            check(value)
    if "type" not in obj:
        raise ProtocolError("Missing required property 'type'.")
    decoder = _DECODERS.get(obj["type"])
    return None if decoder is None else decoder(obj)


class JsonHubProtocol:
    """Parse and encode hub messages in the JSON hub protocol."""

    name: str = "json"
    version: int = 2
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
        decoded = [_decode_message(record) for record in records]
        return [message for message in decoded if message is not None]

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
