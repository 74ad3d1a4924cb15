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
    pytest.param(
        "0x93 0x07 0xa3 0x78 0x79 0x7a 0xc3",
        Close("xyz", allow_reconnect=True),
        id="close-reconnect",
    ),
    pytest.param(SPEC_INVOCATION, Invocation("method", (42,), "xyz"), id="invocation"),
    pytest.param(SPEC_NON_BLOCKING, Invocation("method", (42,)), id="non-blocking"),
    pytest.param(
        SPEC_STREAM_INVOCATION, StreamInvocation("xyz", "method", (42,)), id="stream-invocation"
    ),
    pytest.param(
        SPEC_HEADERS,
        Invocation("method", (42,), "xyz", headers={"x": "y", "z": "z"}),
        id="headers",
    ),
]
SPEC_DECODED_ONLY = [
    # ASP.NET Core writes Close with three items, AllowReconnect always present.
    pytest.param("0x92 0x07 0xa3 0x78 0x79 0x7a", Close("xyz"), id="close"),
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


def test_encode_invocation_always_writes_six_items():
    """StreamIds last and empty: a 5-item Invocation breaks other SignalR clients."""
    assert PROTOCOL.encode(Invocation("method", (42,), invocation_id="xyz")) == framed(
        body(SPEC_INVOCATION)
    )
    assert PROTOCOL.encode_invocation_frame("UnreadCountUpdated", [0]) == pack(
        1, {}, None, "UnreadCountUpdated", [0], []
    )


def test_encode_invocation_with_stream_ids_writes_them_last():
    message = Invocation("method", (42,), invocation_id="xyz", stream_ids=("1",))

    assert PROTOCOL.encode(message) == pack(1, {}, "xyz", "method", [42], ["1"])


def test_encode_writes_headers_and_nil_invocation_id():
    message = Invocation("method", (42,), headers={"x": "y"})

    assert PROTOCOL.encode(message) == pack(1, {"x": "y"}, None, "method", [42], [])


@pytest.mark.parametrize(
    ("message", "items"),
    [
        (StreamInvocation("1", "S", (), stream_ids=("a",)), [4, {}, "1", "S", [], ["a"]]),
        (StreamInvocation("1", "S", ()), [4, {}, "1", "S", [], []]),
        (Completion.with_result("1", None), [3, {}, "1", 3, None]),
        (Close(), [7, None, False]),
        (Close(""), [7, None, False]),
        (Invocation("S", (), invocation_id=""), [1, {}, None, "S", [], []]),
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
    pytest.param(b"\x00", "must be a MessagePack array", id="empty-body"),
    pytest.param(b"\x01\xc1", "must be a MessagePack array", id="reserved-byte"),
    pytest.param(b"\x02\x91\xc1", "Reading 'messageType' as Int32 failed", id="garbage-inside"),
    pytest.param(b"\x03\xa2\xc3\x28", "must be a MessagePack array", id="invalid-utf8-str"),
    pytest.param(b"\x01\x06", "must be a MessagePack array", id="not-an-array"),
    pytest.param(b"\x01\x90", "Reading 'messageType' as Int32 failed", id="empty-array"),
    pytest.param(b"\x01\x80", "must be a MessagePack array", id="map"),
    pytest.param(
        b"\x08\x94\x02\x80\xa11\xa2\xc3\x28",
        "Deserializing object of the `Object` type for 'item' failed",
        id="invalid-utf8-item",
    ),
    pytest.param(
        b"\x09\x94\x02\x80\xa11\x81\x91\x01\x01", "for 'item' failed", id="unhashable-key"
    ),
    pytest.param(
        b"\x14\x94\x02\x80\xa11\xc7\x0c\xff\x00\x00\x00\x00\x7f\xff\xff\xff\xff\xff\xff\xff",
        "for 'item' failed",
        id="timestamp-out-of-range",
    ),
    pytest.param(
        b"\x0c\x94\x02\x80\xa11\xd7\xff\xff\xff\xff\xff\x00",
        "for 'item' failed",
        id="timestamp-bad-nanos",
    ),
]


@pytest.mark.parametrize(("data", "message"), INVALID_FRAMES)
def test_parse_refuses_malformed_frames(data, message):
    with pytest.raises(ProtocolError, match=message):
        PROTOCOL.parse(data)


def test_parse_refuses_deep_nesting():
    payload = b"\x94\x02\x80\xa11" + b"\x91" * 100_000 + b"\x06"
    size = len(payload)
    prefix = bytes([size & 0x7F | 0x80, size >> 7 & 0x7F | 0x80, size >> 14])

    with pytest.raises(ProtocolError, match="for 'item' failed"):
        PROTOCOL.parse(prefix + payload)


# Read as ASP.NET Core's reader reads them: fields past the last one a type
# defines, and message types this server does not know, are passed over.
LENIENT = [
    pytest.param(b"\x03\x91\x06\x06", [Ping()], id="extra-data-in-body"),
    pytest.param(b"\x02\x92\x06", [Ping()], id="short-ping-array"),
    pytest.param(pack(0), [], id="type-0"),
    pytest.param(pack(10) + pack(6), [Ping()], id="type-10"),
    pytest.param(pack(1, {}, None, "A", [], [], 1), [Invocation("A", ())], id="invocation-long"),
    pytest.param(pack(1, {}, "", "A", []), [Invocation("A", ())], id="empty-id-non-blocking"),
    pytest.param(pack(3, {}, "1", 2, None), [Completion.void("1")], id="void-with-result"),
    pytest.param(pack(3, {}, "1", 1, None), [Completion.void("1")], id="nil-error-is-void"),
    pytest.param(pack(5, {}, "1", None), [CancelInvocation("1")], id="cancel-long"),
    pytest.param(pack(6, {}), [Ping()], id="ping-with-headers"),
    pytest.param(pack(8, -1), [Ack(-1)], id="ack-negative"),
    pytest.param(pack(9, 1, 2), [Sequence(1)], id="sequence-long"),
    pytest.param(pack(7, None), [Close()], id="close-two-items"),
    pytest.param(pack(7, ""), [Close("")], id="close-empty-error"),
]


@pytest.mark.parametrize(("data", "messages"), LENIENT)
def test_parse_reads_what_aspnetcore_reads(data, messages):
    assert PROTOCOL.parse(data) == messages


INVALID_MESSAGES = [
    pytest.param([True], "Reading 'messageType' as Int32 failed.", id="bool-type"),
    pytest.param(["1"], "Reading 'messageType' as Int32 failed.", id="str-type"),
    pytest.param([1.0, {}, None, "A", []], "Reading 'messageType' as Int32", id="float-type"),
    pytest.param([2**31], "Reading 'messageType' as Int32 failed.", id="type-over-int32"),
    pytest.param([1, {}, None, "A"], "Reading array length for 'arguments'", id="invocation-short"),
    pytest.param([1, [], None, "A", []], "Reading map length for 'headers'", id="list-headers"),
    pytest.param([1, None, None, "A", []], "Reading map length for 'headers'", id="nil-headers"),
    pytest.param([1, {"a": 1}, None, "A", []], "'headers\\[0\\].Value' as String", id="int-value"),
    pytest.param([1, {1: "a"}, None, "A", []], "'headers\\[0\\].Key' as String", id="int-key"),
    pytest.param([1, {"": "a"}, None, "A", []], "Null or empty key in header.", id="empty-key"),
    pytest.param([1, {"a": ""}, None, "A", []], "Null or empty value in header.", id="empty-value"),
    pytest.param([1, {}, 1, "A", []], "Reading 'invocationId' as String", id="int-invocation-id"),
    pytest.param([1, {}, None, None, []], "Null or empty target for Invocation", id="nil-target"),
    pytest.param([1, {}, None, "", []], "Null or empty target for Invocation", id="empty-target"),
    pytest.param([1, {}, None, b"A", []], "Reading 'target' as String failed.", id="bin-target"),
    pytest.param([1, {}, None, "A", {}], "Reading array length for 'arguments'", id="map-args"),
    pytest.param([1, {}, None, "A", None], "Reading array length for 'arguments'", id="nil-args"),
    pytest.param([1, {}, None, "A", [], ["1", 2]], "Reading 'streamIds' as String", id="int-sid"),
    pytest.param([1, {}, None, "A", [], ["1", ""]], "Null or empty value in streamIds", id="e-sid"),
    pytest.param(
        [1, {}, None, "A", [], None], "Reading array length for 'streamIds'", id="nil-ids"
    ),
    pytest.param(
        [4, {}, None, "A", []], "Null or empty invocation ID for StreamInvocation", id="s"
    ),
    pytest.param([4, {}, "1", "A"], "Reading array length for 'arguments'", id="stream-short"),
    pytest.param([2, {}, "1"], "for 'item' failed", id="item-short"),
    pytest.param([2, {}, None, 1], "Null or empty invocation ID for StreamItem", id="item-nil-id"),
    pytest.param([3, {}, "1"], "Reading 'resultKind' as Int32 failed.", id="completion-short"),
    pytest.param([3, {}, "1", 4, 1], "Invalid invocation result kind.", id="completion-kind-4"),
    pytest.param([3, {}, "1", True, "x"], "Reading 'resultKind' as Int32", id="bool-kind"),
    pytest.param([3, {}, "1", "3", 1], "Reading 'resultKind' as Int32", id="str-kind"),
    pytest.param([3, {}, "1", 3], "for 'argument' failed", id="result-missing"),
    pytest.param([3, {}, "1", 1], "Reading 'error' as String failed.", id="error-missing"),
    pytest.param([3, {}, "1", 1, 42], "Reading 'error' as String failed.", id="error-not-str"),
    pytest.param([5, {}], "Reading 'invocationId' as String failed.", id="cancel-short"),
    pytest.param([7], "Reading 'error' as String failed.", id="close-short"),
    pytest.param([7, 1], "Reading 'error' as String failed.", id="close-int-error"),
    pytest.param([7, None, 1], "Reading 'allowReconnect' as Boolean", id="close-int-reconnect"),
    pytest.param([8], "Reading 'sequenceId' as Int64 failed.", id="ack-short"),
    pytest.param([8, False], "Reading 'sequenceId' as Int64 failed.", id="ack-bool"),
    pytest.param([8, 2**63], "Reading 'sequenceId' as Int64 failed.", id="ack-over-int64"),
    pytest.param([9, "1"], "Reading 'sequenceId' as Int64 failed.", id="sequence-str"),
]


@pytest.mark.parametrize(("items", "message"), INVALID_MESSAGES)
def test_parse_refuses_invalid_messages(items, message):
    with pytest.raises(ProtocolError, match=message):
        PROTOCOL.parse(pack(*items))


def test_parse_refuses_the_whole_frame_when_one_message_is_invalid():
    with pytest.raises(ProtocolError, match="Reading 'invocationId' as String failed"):
        PROTOCOL.parse(PROTOCOL.encode(Ping()) + pack(5, {}))


def test_parse_refuses_duplicate_header_keys():
    body = b"\x95\x01\x82\xa1a\xa1b\xa1a\xa1c\xc0\xa1A\x90"

    with pytest.raises(ProtocolError, match="same key has already been added"):
        PROTOCOL.parse(framed(body))
