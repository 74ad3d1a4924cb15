import datetime as dt
import uuid
from decimal import Decimal

import msgpack
import pytest

from realtime.protocol import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    Invocation,
    MessagePackHubProtocol,
    Ping,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
)

PROTOCOL = MessagePackHubProtocol()


def body(spec: str) -> bytes:
    """Return the bytes of a payload written as in HubProtocol.md ("0x96 0x01 ...")."""
    return bytes(int(token, 16) for token in spec.split())


def framed(payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([len(payload)]) + payload


def pack(*items: object) -> bytes:
    return framed(msgpack.packb(list(items), use_bin_type=True))


# Payloads copied from HubProtocol.md, "MessagePack (MsgPack) encoding".
SPEC_INVOCATION = (
    "0x96 0x01 0x80 0xa3 0x78 0x79 0x7a 0xa6 0x6d 0x65 0x74 0x68 0x6f 0x64 0x91 0x2a 0x90"
)
SPEC_NON_BLOCKING = "0x96 0x01 0x80 0xc0 0xa6 0x6d 0x65 0x74 0x68 0x6f 0x64 0x91 0x2a 0x90"
SPEC_STREAM_INVOCATION = (
    "0x96 0x04 0x80 0xa3 0x78 0x79 0x7a 0xa6 0x6d 0x65 0x74 0x68 0x6f 0x64 0x91 0x2a 0x90"
)
SPEC_HEADERS = (
    "0x96 0x01 0x82 0xa1 0x78 0xa1 0x79 0xa1 0x7a 0xa1 0x7a 0xa3 0x78 0x79 0x7a"
    " 0xa6 0x6d 0x65 0x74 0x68 0x6f 0x64 0x91 0x2a 0x90"
)
SPEC_ENCODED_BOTH_WAYS = [
    pytest.param("0x94 0x02 0x80 0xa3 0x78 0x79 0x7a 0x2a", StreamItem("xyz", 42), id="item"),
    pytest.param(
        "0x95 0x03 0x80 0xa3 0x78 0x79 0x7a 0x01 0xa5 0x45 0x72 0x72 0x6f 0x72",
        Completion.with_error("xyz", "Error"),
        id="error-completion",
    ),
    pytest.param("0x94 0x03 0x80 0xa3 0x78 0x79 0x7a 0x02", Completion.void("xyz"), id="void"),
    pytest.param(
        "0x95 0x03 0x80 0xa3 0x78 0x79 0x7a 0x03 0x2a",
        Completion.with_result("xyz", 42),
        id="result-completion",
    ),
    pytest.param("0x93 0x05 0x80 0xa3 0x78 0x79 0x7a", CancelInvocation("xyz"), id="cancel"),
    pytest.param("0x91 0x06", Ping(), id="ping"),
    pytest.param("0x92 0x07 0xa3 0x78 0x79 0x7a", Close("xyz"), id="close"),
    pytest.param(
        "0x93 0x07 0xa3 0x78 0x79 0x7a 0xc3",
        Close("xyz", allow_reconnect=True),
        id="close-reconnect",
    ),
]
SPEC_DECODED_ONLY = [
    pytest.param(
        SPEC_INVOCATION, Invocation("method", (42,), invocation_id="xyz"), id="invocation"
    ),
    pytest.param(SPEC_NON_BLOCKING, Invocation("method", (42,)), id="non-blocking"),
    pytest.param(
        SPEC_STREAM_INVOCATION, StreamInvocation("xyz", "method", (42,)), id="stream-invocation"
    ),
    pytest.param(
        SPEC_HEADERS,
        Invocation("method", (42,), invocation_id="xyz", headers={"x": "y", "z": "z"}),
        id="headers",
    ),
    # The spec writes these ids as uint8 (0xcc); msgpack-python packs them as fixints.
    pytest.param("0x92 0x08 0xcc 0x24", Ack(36), id="ack"),
    pytest.param("0x92 0x09 0xcc 0x13", Sequence(19), id="sequence"),
]


@pytest.mark.parametrize(("spec", "message"), SPEC_ENCODED_BOTH_WAYS + SPEC_DECODED_ONLY)
def test_parse_decodes_the_spec_examples(spec, message):
    assert PROTOCOL.parse(framed(body(spec))) == [message]


@pytest.mark.parametrize(("spec", "message"), SPEC_ENCODED_BOTH_WAYS)
def test_encode_produces_the_spec_bytes(spec, message):
    assert PROTOCOL.encode(message) == framed(body(spec))


def test_encode_ping_is_exactly_0x91_0x06():
    assert PROTOCOL.encode(Ping()) == b"\x02\x91\x06"


def test_encode_invocation_without_stream_ids_uses_the_five_item_form():
    """The spec's 6-item example minus its empty StreamIds, as the JS client writes it."""
    expected = body(SPEC_INVOCATION)[:-1].replace(b"\x96", b"\x95", 1)

    assert PROTOCOL.encode(Invocation("method", (42,), invocation_id="xyz")) == framed(expected)


def test_encode_invocation_with_stream_ids_uses_the_six_item_form():
    message = Invocation("method", (42,), invocation_id="xyz", stream_ids=("1",))

    assert PROTOCOL.encode(message) == pack(1, {}, "xyz", "method", [42], ["1"])


def test_encode_writes_headers_and_nil_invocation_id():
    message = Invocation("method", (42,), headers={"x": "y"})

    assert PROTOCOL.encode(message) == pack(1, {"x": "y"}, None, "method", [42])


@pytest.mark.parametrize(
    ("message", "items"),
    [
        (StreamInvocation("1", "S", (), stream_ids=("a",)), [4, {}, "1", "S", [], ["a"]]),
        (StreamInvocation("1", "S", ()), [4, {}, "1", "S", []]),
        (Completion.with_result("1", None), [3, {}, "1", 3, None]),
        (Close(), [7, None]),
        (Ack(36), [8, 36]),
        (Sequence(2**40), [9, 2**40]),
    ],
)
def test_encode_writes_the_documented_arrays(message, items):
    assert PROTOCOL.encode(message) == pack(*items)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        pytest.param([1, {}, "1", "Add", [40, 2]], Invocation("Add", (40, 2), "1"), id="js-invoke"),
        pytest.param([1, {}, None, "Send", ["hi"]], Invocation("Send", ("hi",)), id="js-send"),
        pytest.param(
            [1, {}, "1", "Add", [40, 2], []], Invocation("Add", (40, 2), "1"), id="dotnet"
        ),
        pytest.param(
            [4, {}, "2", "Counter", [5]], StreamInvocation("2", "Counter", (5,)), id="js-s"
        ),
        pytest.param(
            [4, {}, "2", "Counter", [5], ["0"]],
            StreamInvocation("2", "Counter", (5,), stream_ids=("0",)),
            id="dotnet-stream",
        ),
        pytest.param([7, None], Close(), id="js-close"),
        pytest.param([7, None, False], Close(), id="dotnet-close"),
        pytest.param(
            [2, {"k": "v"}, "1", {"a": [1]}], StreamItem("1", {"a": [1]}, {"k": "v"}), id="headers"
        ),
    ],
)
def test_parse_accepts_the_shapes_both_official_clients_send(items, message):
    assert PROTOCOL.parse(pack(*items)) == [message]


def test_parse_returns_every_message_of_a_frame_in_order():
    data = PROTOCOL.encode(Ping()) + pack(1, {}, None, "A", []) + PROTOCOL.encode(Close())

    assert PROTOCOL.parse(data) == [Ping(), Invocation("A", ()), Close()]


def test_parse_of_an_empty_frame_is_empty():
    assert PROTOCOL.parse(b"") == []


def test_parse_accepts_bytearray_and_memoryview():
    data = PROTOCOL.encode(Ping())

    assert PROTOCOL.parse(bytearray(data)) == PROTOCOL.parse(memoryview(data)) == [Ping()]


def test_parse_decodes_timestamps_binary_and_non_string_keys():
    when = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    packed = msgpack.packb([2, {}, "1", [when, b"\x00\xff", {1: "one"}]], datetime=True)

    [item] = PROTOCOL.parse(framed(packed))

    assert item == StreamItem("1", [when, b"\x00\xff", {1: "one"}])


def test_length_prefix_uses_the_spec_varint_example():
    """HubProtocol.md: 0x80 0x29 announces 5248 bytes."""
    message = StreamItem("1", "x" * 5240)  # 8 bytes of array, headers, id and str16 header

    encoded = PROTOCOL.encode(message)

    assert encoded[:2] == b"\x80\x29"
    assert len(encoded) == 2 + 5248
    assert PROTOCOL.parse(encoded) == [message]


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 2_097_152])
def test_length_prefix_round_trips_across_varint_widths(size):
    message = Completion.with_result("1", b"\x00" * size)

    assert PROTOCOL.parse(PROTOCOL.encode(message)) == [message]


def test_parse_accepts_a_message_exactly_at_max_message_size():
    assert PROTOCOL.parse(b"\x02\x91\x06", max_message_size=2) == [Ping()]


def test_parse_checks_size_before_reading_the_body():
    """A 1 GiB announcement is refused on its prefix, not as a truncated body."""
    with pytest.raises(ProtocolError, match="1073741824 bytes exceeds the 1024-byte limit"):
        PROTOCOL.parse(b"\x80\x80\x80\x80\x04" + b"\x91", max_message_size=1024)


def test_encode_converts_values_and_treats_naive_datetimes_as_utc():
    aware = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    naive = dt.datetime(2024, 5, 1, 10, 30)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    arguments = (aware, naive, naive.date(), dt.time(8, 15), key, Decimal("9.90"), (1, (2,)))

    [message] = PROTOCOL.parse(PROTOCOL.encode(Invocation("A", arguments)))

    utc = dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)
    assert message.arguments == (
        utc,
        utc,
        "2024-05-01",
        "08:15:00",
        "12345678-1234-5678-1234-567812345678",
        "9.90",
        [1, [2]],
    )


def test_encode_writes_datetimes_as_the_timestamp_extension():
    when = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)

    encoded = PROTOCOL.encode(StreamItem("1", when))

    assert encoded == pack(2, {}, "1", msgpack.Timestamp.from_datetime(when))
    assert b"\xd6\xff" in encoded  # fixext 4, type -1


def test_encode_writes_bytes_as_bin_and_str_as_str():
    assert PROTOCOL.encode(StreamItem("1", [b"ab", "ab"])) == framed(
        b"\x94\x02\x80\xa11\x92\xc4\x02ab\xa2ab"
    )


def test_encode_refuses_values_messagepack_cannot_carry():
    with pytest.raises(TypeError, match="object is not MessagePack serializable"):
        PROTOCOL.encode(StreamItem("1", object()))


def test_encode_rejects_objects_that_are_not_hub_messages():
    with pytest.raises(TypeError, match="Cannot encode list"):
        PROTOCOL.encode([6])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "arguments"),
    [("Notify", ()), ("Notify", [1, "two", {"three": [3]}]), ("Ünïcode", ("✓", None, 2.5))],
)
def test_encode_invocation_frame_matches_encode(target, arguments):
    assert PROTOCOL.encode_invocation_frame(target, arguments) == PROTOCOL.encode(
        Invocation(target, tuple(arguments))
    )


INVALID_FRAMES = [
    pytest.param(b"\x85", "length prefix is truncated", id="truncated-prefix"),
    pytest.param(b"\x02\x91\x06\xff\xff", "length prefix is truncated", id="truncated-second"),
    pytest.param(b"\x05\x91\x06", "body is truncated", id="truncated-body"),
    pytest.param(b"\x02\x91\x06\x02\x91", "body is truncated", id="truncated-second-body"),
    pytest.param(b"\xff\xff\xff\xff\xff\x01", "longer than 5 bytes", id="six-byte-varint"),
    pytest.param(b"\xff\xff\xff\xff\x7f", "larger than 2 GiB", id="varint-over-2gib"),
    pytest.param(b"\x80\x80\x80\x80\x08", "larger than 2 GiB", id="varint-2gib"),
    pytest.param(b"\xff\xff\xff\xff\x07", "body is truncated", id="varint-max"),
    pytest.param(b"\x00", "not valid MessagePack", id="empty-body"),
    pytest.param(b"\x01\xc1", "not valid MessagePack", id="reserved-byte"),
    pytest.param(b"\x02\x91\xc1", "not valid MessagePack", id="garbage-inside"),
    pytest.param(b"\x03\x91\x06\x06", "not valid MessagePack", id="extra-data-in-body"),
    pytest.param(b"\x02\x92\x06", "not valid MessagePack", id="short-array"),
    pytest.param(b"\x03\xa2\xc3\x28", "not valid MessagePack", id="invalid-utf8-str"),
    pytest.param(b"\x04\x81\x91\x01\x01", "not valid MessagePack", id="unhashable-key"),
    pytest.param(
        b"\x0f\xc7\x0c\xff\x00\x00\x00\x00\x7f\xff\xff\xff\xff\xff\xff\xff",
        "not valid MessagePack",
        id="timestamp-out-of-range",
    ),
    pytest.param(
        b"\x07\xd7\xff\xff\xff\xff\xff\x00", "not valid MessagePack", id="timestamp-bad-nanos"
    ),
    pytest.param(b"\x01\x06", "non-empty MessagePack array", id="not-an-array"),
    pytest.param(b"\x01\x90", "non-empty MessagePack array", id="empty-array"),
    pytest.param(b"\x01\x80", "non-empty MessagePack array", id="map"),
]


@pytest.mark.parametrize(("data", "message"), INVALID_FRAMES)
def test_parse_refuses_malformed_frames(data, message):
    with pytest.raises(ProtocolError, match=message):
        PROTOCOL.parse(data)


def test_parse_refuses_deep_nesting():
    payload = b"\x91" * 100_000 + b"\x06"
    size = len(payload)
    prefix = bytes([size & 0x7F | 0x80, size >> 7 & 0x7F | 0x80, size >> 14])

    with pytest.raises(ProtocolError, match="not valid MessagePack"):
        PROTOCOL.parse(prefix + payload)


INVALID_MESSAGES = [
    pytest.param([True], "integer message type", id="bool-type"),
    pytest.param(["1"], "integer message type", id="str-type"),
    pytest.param([1.0, {}, None, "A", []], "integer message type", id="float-type"),
    pytest.param([0], "Unknown message type 0", id="type-0"),
    pytest.param([10], "Unknown message type 10", id="type-10"),
    pytest.param([1, {}, None, "A"], "4 items, expected 5 or 6", id="invocation-short"),
    pytest.param([1, {}, None, "A", [], [], 1], "7 items", id="invocation-long"),
    pytest.param([1, [], None, "A", []], "Headers", id="list-headers"),
    pytest.param([1, None, None, "A", []], "Headers", id="nil-headers"),
    pytest.param([1, {"a": 1}, None, "A", []], "Headers", id="int-header-value"),
    pytest.param([1, {1: "a"}, None, "A", []], "Headers", id="int-header-key"),
    pytest.param([1, {}, 1, "A", []], "InvocationId", id="int-invocation-id"),
    pytest.param([1, {}, "", "A", []], "InvocationId must be a non-empty", id="empty-id"),
    pytest.param([1, {}, None, None, []], "Target", id="nil-target"),
    pytest.param([1, {}, None, "", []], "Target", id="empty-target"),
    pytest.param([1, {}, None, b"A", []], "Target", id="bin-target"),
    pytest.param([1, {}, None, "A", {}], "Arguments", id="map-arguments"),
    pytest.param([1, {}, None, "A", None], "Arguments", id="nil-arguments"),
    pytest.param([1, {}, None, "A", [], ["1", 2]], "StreamIds", id="int-stream-id"),
    pytest.param([1, {}, None, "A", [], None], "StreamIds", id="nil-stream-ids"),
    pytest.param([4, {}, None, "A", []], "InvocationId", id="stream-nil-id"),
    pytest.param([4, {}, "1", "A"], "StreamInvocation message: 4 items", id="stream-short"),
    pytest.param([2, {}, "1"], "StreamItem message: 3 items", id="item-short"),
    pytest.param([2, {}, None, 1], "InvocationId", id="item-nil-id"),
    pytest.param([3, {}, "1"], "Completion message: 3 items", id="completion-short"),
    pytest.param([3, {}, "1", 4, 1], "ResultKind 4", id="completion-kind-4"),
    pytest.param([3, {}, "1", True, "x"], "ResultKind of type bool", id="completion-bool-kind"),
    pytest.param([3, {}, "1", "3", 1], "ResultKind of type str", id="completion-str-kind"),
    pytest.param([3, {}, "1", 2, None], "ResultKind 2 in 5 items", id="void-with-result"),
    pytest.param([3, {}, "1", 3], "ResultKind 3 in 4 items", id="result-missing"),
    pytest.param([3, {}, "1", 1], "ResultKind 1 in 4 items", id="error-missing"),
    pytest.param([3, {}, "1", 1, 42], "the error must be a string", id="error-not-str"),
    pytest.param([3, {}, "1", 1, None], "the error must be a string", id="error-nil"),
    pytest.param([5, {}], "CancelInvocation message: 2 items", id="cancel-short"),
    pytest.param([5, {}, "1", None], "CancelInvocation message: 4 items", id="cancel-long"),
    pytest.param([6, {}], "Ping message: 2 items", id="ping-with-headers"),
    pytest.param([7], "Close message: 1 items", id="close-short"),
    pytest.param([7, 1], "Error must be a string", id="close-int-error"),
    pytest.param([7, None, 1], "AllowReconnect must be a boolean", id="close-int-reconnect"),
    pytest.param([8], "Ack message: 1 items", id="ack-short"),
    pytest.param([8, -1], "SequenceId", id="ack-negative"),
    pytest.param([8, False], "SequenceId", id="ack-bool"),
    pytest.param([9, "1"], "SequenceId", id="sequence-str"),
    pytest.param([9, 1, 2], "Sequence message: 3 items", id="sequence-long"),
]


@pytest.mark.parametrize(("items", "message"), INVALID_MESSAGES)
def test_parse_refuses_invalid_messages(items, message):
    with pytest.raises(ProtocolError, match=message):
        PROTOCOL.parse(pack(*items))


def test_parse_refuses_the_whole_frame_when_one_message_is_invalid():
    with pytest.raises(ProtocolError, match="Unknown message type 42"):
        PROTOCOL.parse(PROTOCOL.encode(Ping()) + pack(42))
