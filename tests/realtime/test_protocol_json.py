import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from realtime.protocol import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    Invocation,
    JsonHubProtocol,
    Ping,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
)

PROTOCOL = JsonHubProtocol()


def frame(*objects: object) -> bytes:
    return b"".join(json.dumps(obj, separators=(",", ":")).encode() + b"\x1e" for obj in objects)


# -- Golden vectors: HubProtocol.md examples and @microsoft/signalr output -----

SPEC_EXAMPLES = [
    pytest.param(
        {"type": 1, "invocationId": "123", "target": "Send", "arguments": [42, "Test Message"]},
        Invocation("Send", (42, "Test Message"), invocation_id="123"),
        id="invocation",
    ),
    pytest.param(
        {"type": 1, "target": "Send", "arguments": [42, "Test Message"]},
        Invocation("Send", (42, "Test Message")),
        id="non-blocking-invocation",
    ),
    pytest.param(
        {"type": 1, "invocationId": "123", "target": "Send", "arguments": [42], "streamIds": ["1"]},
        Invocation("Send", (42,), invocation_id="123", stream_ids=("1",)),
        id="invocation-with-stream",
    ),
    pytest.param(
        {"type": 4, "invocationId": "123", "target": "Send", "arguments": [42, "Test Message"]},
        StreamInvocation("123", "Send", (42, "Test Message")),
        id="stream-invocation",
    ),
    pytest.param(
        {"type": 2, "invocationId": "123", "item": 42},
        StreamItem("123", 42),
        id="stream-item",
    ),
    pytest.param({"type": 3, "invocationId": "123"}, Completion.void("123"), id="void-completion"),
    pytest.param(
        {"type": 3, "invocationId": "123", "result": 42},
        Completion.with_result("123", 42),
        id="result-completion",
    ),
    pytest.param(
        {"type": 3, "invocationId": "123", "error": "It didn't work!"},
        Completion.with_error("123", "It didn't work!"),
        id="error-completion",
    ),
    pytest.param({"type": 5, "invocationId": "123"}, CancelInvocation("123"), id="cancel"),
    pytest.param({"type": 6}, Ping(), id="ping"),
    pytest.param({"type": 7}, Close(), id="close"),
    pytest.param(
        {"type": 7, "error": "Connection closed because of an error!"},
        Close("Connection closed because of an error!"),
        id="close-with-error",
    ),
    pytest.param(
        {"type": 7, "error": "Connection closed because of an error!", "allowReconnect": True},
        Close("Connection closed because of an error!", allow_reconnect=True),
        id="close-allow-reconnect",
    ),
    pytest.param({"type": 8, "sequenceId": 1394}, Ack(1394), id="ack"),
    pytest.param({"type": 9, "sequenceId": 1234}, Sequence(1234), id="sequence"),
    pytest.param(
        {
            "type": 1,
            "headers": {"Foo": "Bar"},
            "invocationId": "123",
            "target": "Send",
            "arguments": [42, "Test Message"],
        },
        Invocation("Send", (42, "Test Message"), invocation_id="123", headers={"Foo": "Bar"}),
        id="headers",
    ),
]


@pytest.mark.parametrize(("payload", "message"), SPEC_EXAMPLES)
def test_parse_decodes_the_spec_examples(payload, message):
    assert PROTOCOL.parse(frame(payload)) == [message]


@pytest.mark.parametrize(("payload", "message"), SPEC_EXAMPLES)
def test_encode_produces_the_spec_examples(payload, message):
    assert json.loads(PROTOCOL.encode(message)[:-1]) == payload


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            b'{"arguments":[40,2],"invocationId":"0","streamIds":[],"target":"Add","type":1}',
            Invocation("Add", (40, 2), invocation_id="0"),
            id="invoke",
        ),
        pytest.param(
            b'{"arguments":["hi"],"target":"Send","type":1}',
            Invocation("Send", ("hi",)),
            id="send",
        ),
        pytest.param(
            b'{"arguments":[5],"invocationId":"1","streamIds":[],"target":"Counter","type":4}',
            StreamInvocation("1", "Counter", (5,)),
            id="stream",
        ),
        pytest.param(
            b'{"arguments":[],"invocationId":"2","streamIds":["0"],"target":"Upload","type":1}',
            Invocation("Upload", (), invocation_id="2", stream_ids=("0",)),
            id="upload",
        ),
        pytest.param(b'{"invocationId":"0","item":"a","type":2}', StreamItem("0", "a"), id="item"),
        pytest.param(b'{"invocationId":"0","type":3}', Completion.void("0"), id="stream-end"),
        pytest.param(b'{"invocationId":"1","type":5}', CancelInvocation("1"), id="cancel"),
        pytest.param(b'{"type":6}', Ping(), id="ping"),
        pytest.param(
            b'{"invocationId":"3","result":null,"type":3}',
            Completion.with_result("3", None),
            id="client-result-null",
        ),
    ],
)
def test_parse_accepts_what_the_typescript_client_sends(raw, message):
    assert PROTOCOL.parse(raw + b"\x1e") == [message]


def test_encode_ping_is_the_typescript_shape():
    assert PROTOCOL.encode(Ping()) == b'{"type":6}\x1e'


def test_encode_writes_compact_fields_in_a_stable_order():
    message = Invocation("Send", (1, "x"), invocation_id="7", stream_ids=("s",), headers={"a": "b"})

    assert PROTOCOL.encode(message) == (
        b'{"type":1,"headers":{"a":"b"},"invocationId":"7","target":"Send",'
        b'"arguments":[1,"x"],"streamIds":["s"]}\x1e'
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(Invocation("Go", ()), b'{"type":1,"target":"Go","arguments":[]}', id="inv"),
        pytest.param(Completion.void("1"), b'{"type":3,"invocationId":"1"}', id="void"),
        pytest.param(
            Completion.with_result("1", None),
            b'{"type":3,"invocationId":"1","result":null}',
            id="null-result",
        ),
        pytest.param(Close(), b'{"type":7}', id="close"),
        pytest.param(Close("bye"), b'{"type":7,"error":"bye"}', id="close-error"),
        pytest.param(
            Close(allow_reconnect=True), b'{"type":7,"allowReconnect":true}', id="close-reconnect"
        ),
        pytest.param(
            StreamItem("1", None, headers={}), b'{"type":2,"invocationId":"1","item":null}'
        ),
    ],
)
def test_encode_omits_absent_optional_fields(message, expected):
    assert PROTOCOL.encode(message) == expected + b"\x1e"


def test_parse_returns_every_message_of_a_frame_in_order():
    data = frame({"type": 6}, {"type": 1, "target": "A", "arguments": []}, {"type": 7})

    assert PROTOCOL.parse(data) == [Ping(), Invocation("A", ()), Close()]


def test_parse_of_an_empty_frame_is_empty():
    assert PROTOCOL.parse(b"") == []


def test_parse_ignores_unknown_properties():
    data = frame({"type": 1, "target": "A", "arguments": [], "nonce": {"x": 1}})

    assert PROTOCOL.parse(data) == [Invocation("A", ())]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"type": 1, "target": "A", "arguments": [], "headers": {}}, Invocation("A", ())),
        ({"type": 1, "invocationId": "", "target": "A", "arguments": []}, Invocation("A", ())),
        ({"type": 7, "error": ""}, Close("")),
        ({"type": 0}, None),
        ({"type": 10, "whatever": [1]}, None),
        ({"type": 9, "sequenceId": -1}, Sequence(-1)),
    ],
)
def test_parse_reads_what_aspnetcore_reads(payload, message):
    """An empty id is non-blocking, empty headers are none, unknown types are passed over."""
    assert PROTOCOL.parse(frame(payload)) == ([] if message is None else [message])


@pytest.mark.parametrize(
    "payload",
    [
        {"type": 1, "invocationId": None, "target": "A", "arguments": []},
        {"type": 3, "invocationId": "1", "error": None},
        {"type": 7, "error": None},
    ],
)
def test_parse_refuses_null_for_a_string_as_aspnetcore_does(payload):
    with pytest.raises(ProtocolError, match="to be of type String"):
        PROTOCOL.parse(frame(payload))


def test_parse_keeps_payload_values_as_json_gives_them():
    data = frame({"type": 1, "target": "A", "arguments": [{"k": [1, 2.5]}, None, True, "é"]})

    assert PROTOCOL.parse(data)[0].arguments == ({"k": [1, 2.5]}, None, True, "é")


def test_parse_accepts_a_message_exactly_at_max_message_size():
    record = b'{"type":6}'

    assert PROTOCOL.parse(record + b"\x1e", max_message_size=len(record)) == [Ping()]


def test_parse_checks_max_message_size_per_message():
    data = frame({"type": 6}, {"type": 6}, {"type": 6})

    assert PROTOCOL.parse(data, max_message_size=10) == [Ping(), Ping(), Ping()]


def test_parse_checks_size_before_parsing_json():
    with pytest.raises(ProtocolError, match="Message of 11 bytes exceeds the 10-byte limit"):
        PROTOCOL.parse(b"not json!!!\x1e", max_message_size=10)


INVALID_FRAMES = [
    pytest.param(b'{"type":6}', "Incomplete message", id="no-separator"),
    pytest.param(b'{"type":6}\x1e{"type":6}', "Incomplete message", id="trailing-fragment"),
    pytest.param(b"\x1e", "Error reading JSON.", id="empty-record"),
    pytest.param(b'{"type":6}\x1e\x1e', "Error reading JSON.", id="empty-second-record"),
    pytest.param(b'{"type":6,"x":"\xff"}\x1e', "Error reading JSON.", id="invalid-utf8"),
    pytest.param(b'{"type":6,"x":"\xed\xa0\x80"}\x1e', "Error reading JSON.", id="utf8-surrogate"),
    pytest.param(b'\xef\xbb\xbf{"type":6}\x1e', "Error reading JSON.", id="bom"),
    pytest.param(b'{"type":6\x1e', "Error reading JSON.", id="truncated-json"),
    pytest.param(b'{"type":6}{"type":6}\x1e', "Error reading JSON.", id="two-objects-one-record"),
    pytest.param(b"{'type':6}\x1e", "Error reading JSON.", id="single-quotes"),
    pytest.param(b'{"type":1,"target":"A","arguments":[NaN]}\x1e', "Error reading JSON.", id="nan"),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[Infinity]}\x1e', "Error reading JSON.", id="inf"
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[-Infinity]}\x1e', "Error reading JSON.", id="-inf"
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[1e999]}\x1e', "Error reading JSON.", id="1e999"
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[' + b"9" * 5000 + b"]}\x1e",
        "Error reading JSON.",
        id="bigint",
    ),
    pytest.param(b"[" * 50_000 + b"]" * 50_000 + b"\x1e", "Error reading JSON.", id="deep-array"),
    pytest.param(
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\x1e", "Error reading JSON.", id="deep-obj"
    ),
]


@pytest.mark.parametrize(("data", "message"), INVALID_FRAMES)
def test_parse_refuses_malformed_frames(data, message):
    with pytest.raises(ProtocolError, match=message):
        PROTOCOL.parse(data)


INVALID_MESSAGES = [
    pytest.param([6], "Token Type 'Array'. Expected a JSON Object", id="array"),
    pytest.param(6, "Token Type 'Number'. Expected a JSON Object", id="number"),
    pytest.param(None, "Token Type 'Null'. Expected a JSON Object", id="null"),
    pytest.param(True, "Token Type 'True'. Expected a JSON Object", id="true"),
    pytest.param({}, "Missing required property 'type'", id="no-type"),
    pytest.param({"type": "1"}, "Expected 'type' to be of type Number", id="str-type"),
    pytest.param({"type": 6.0}, "Expected 'type' to be of type Number", id="float-type"),
    pytest.param({"type": True}, "Expected 'type' to be of type Number", id="bool-type"),
    pytest.param({"type": None}, "Expected 'type' to be of type Number", id="null-type"),
    pytest.param({"type": 1, "arguments": []}, "Missing required property 'target'", id="no-tgt"),
    pytest.param(
        {"type": 1, "target": 5, "arguments": []}, "'target' to be of type String", id="i"
    ),
    pytest.param({"type": 1, "target": "", "arguments": []}, "required property 'target'", id="e"),
    pytest.param({"type": 1, "target": None, "arguments": []}, "'target' to be of type", id="n"),
    pytest.param({"type": 1, "target": "A"}, "Missing required property 'arguments'", id="no-args"),
    pytest.param(
        {"type": 1, "target": "A", "arguments": {}}, "'arguments' to be of type Array", id="d"
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": None}, "'arguments' to be of type", id="na"
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "invocationId": 1},
        "Expected 'invocationId' to be of type String",
        id="int-id",
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "streamIds": "1"},
        "Expected 'streamIds' to be of type Array",
        id="str-ids",
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "streamIds": [1]}, "'streamIds'", id="int-ids"
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "streamIds": [""]}, "'streamIds'", id="e-ids"
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "streamIds": None}, "'streamIds'", id="null-ids"
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "headers": []},
        "Expected 'headers' to be of type StartObject",
        id="list-headers",
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "headers": {"a": 1}},
        "Expected header 'a' to be of type String",
        id="int-hdr",
    ),
    pytest.param(
        {"type": 1, "target": "A", "arguments": [], "headers": None}, "'headers'", id="null-hdrs"
    ),
    pytest.param({"type": 4, "target": "A", "arguments": []}, "property 'invocationId'", id="s-id"),
    pytest.param(
        {"type": 4, "invocationId": "1", "arguments": []}, "property 'target'", id="s-tgt"
    ),
    pytest.param({"type": 2, "item": 1}, "Missing required property 'invocationId'", id="item-id"),
    pytest.param({"type": 2, "invocationId": "1"}, "Missing required property 'item'", id="item"),
    pytest.param({"type": 2, "invocationId": "", "item": 1}, "property 'invocationId'", id="e-id"),
    pytest.param({"type": 3}, "Missing required property 'invocationId'", id="completion-no-id"),
    pytest.param({"type": 3, "invocationId": 3}, "'invocationId' to be of type", id="c-int-id"),
    pytest.param(
        {"type": 3, "invocationId": "1", "result": 42, "error": "It didn't work!"},
        "The 'error' and 'result' properties are mutually exclusive",
        id="completion-result-and-error",
    ),
    pytest.param(
        {"type": 3, "invocationId": "1", "result": None, "error": "x"},
        "mutually exclusive",
        id="completion-null-result-and-error",
    ),
    pytest.param(
        {"type": 3, "invocationId": "1", "error": 5}, "'error' to be of type String", id="c-error"
    ),
    pytest.param({"type": 5}, "Missing required property 'invocationId'", id="cancel-no-id"),
    pytest.param({"type": 7, "error": 1}, "'error' to be of type String", id="close-int-error"),
    pytest.param(
        {"type": 7, "allowReconnect": "yes"},
        "Expected 'allowReconnect' to be true or false",
        id="close-str-reconnect",
    ),
    pytest.param({"type": 7, "allowReconnect": None}, "'allowReconnect'", id="close-null-recon"),
    pytest.param({"type": 6, "target": 1}, "'target' to be of type String", id="ping-checked"),
    pytest.param({"type": 8}, "Missing required property 'sequenceId'", id="ack-missing"),
    pytest.param({"type": 8, "sequenceId": "1"}, "'sequenceId' to be of type Number", id="ack-s"),
    pytest.param({"type": 8, "sequenceId": True}, "'sequenceId'", id="ack-bool"),
    pytest.param({"type": 9, "sequenceId": 1.5}, "'sequenceId'", id="sequence-float"),
]


@pytest.mark.parametrize(("payload", "message"), INVALID_MESSAGES)
def test_parse_refuses_invalid_messages(payload, message):
    with pytest.raises(ProtocolError, match=message):
        PROTOCOL.parse(frame(payload))


def test_parse_refuses_the_whole_frame_when_one_message_is_invalid():
    with pytest.raises(ProtocolError, match="Missing required property 'type'"):
        PROTOCOL.parse(frame({"type": 6}, {}))


def test_encode_converts_values_plain_json_cannot_carry():
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    arguments = (when, when.date(), dt.time(8, 15), key, Decimal("9.90"), (1, 2), b"\x00\xff")

    encoded = PROTOCOL.encode(Invocation("A", arguments))

    assert json.loads(encoded[:-1])["arguments"] == [
        "2024-05-01T12:30:00Z",  # UTC as System.Text.Json writes it
        "2024-05-01",
        "08:15:00",
        "12345678-1234-5678-1234-567812345678",
        "9.90",
        [1, 2],
        "AP8=",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.datetime(2017, 4, 11, tzinfo=dt.UTC), "2017-04-11T00:00:00Z"),
        (dt.datetime(2017, 4, 11, 1, 2, 3, 120000, tzinfo=dt.UTC), "2017-04-11T01:02:03.12Z"),
        (dt.datetime(2017, 4, 11, 1, 2, 3, 5), "2017-04-11T01:02:03.000005"),
        (
            dt.datetime(
                2016, 5, 10, 13, 51, 20, tzinfo=dt.timezone(dt.timedelta(hours=12, minutes=34))
            ),
            "2016-05-10T13:51:20+12:34",
        ),
        (dt.time(8, 15, 0, 500000), "08:15:00.5"),
    ],
)
def test_encode_writes_times_as_system_text_json_does(value, text):
    """No trailing zeros in the fraction, and "Z" for UTC."""
    assert PROTOCOL.encode(StreamItem("1", value)) == (
        b'{"type":2,"invocationId":"1","item":"' + text.encode() + b'"}\x1e'
    )


def test_encode_leaves_out_an_empty_invocation_id_and_error():
    """ASP.NET Core writes neither; an empty error reads as a void completion."""
    assert PROTOCOL.encode(Invocation("A", (), invocation_id="")) == (
        b'{"type":1,"target":"A","arguments":[]}\x1e'
    )
    assert PROTOCOL.encode(Completion.with_error("1", "")) == b'{"type":3,"invocationId":"1"}\x1e'


def test_encode_refuses_values_json_cannot_carry():
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        PROTOCOL.encode(StreamItem("1", object()))
    with pytest.raises(ValueError, match="not JSON compliant"):
        PROTOCOL.encode(Completion.with_result("1", float("nan")))


def test_encode_rejects_objects_that_are_not_hub_messages():
    with pytest.raises(TypeError, match="Cannot encode dict"):
        PROTOCOL.encode({"type": 6})  # type: ignore[arg-type]


def test_encode_writes_utf8_and_escapes_the_record_separator():
    encoded = PROTOCOL.encode(StreamItem("1", "café \x1e ✓"))

    assert encoded == '{"type":2,"invocationId":"1","item":"café \\u001e ✓"}\x1e'.encode()
    assert encoded.count(b"\x1e") == 1
    assert PROTOCOL.parse(encoded) == [StreamItem("1", "café \x1e ✓")]


def test_encode_escapes_lone_surrogates_instead_of_failing():
    """A string a client sent as "\\ud800" can be echoed back."""
    [message] = PROTOCOL.parse(b'{"type":2,"invocationId":"1","item":"\\ud800"}\x1e')

    encoded = PROTOCOL.encode(message)

    assert encoded == b'{"type":2,"invocationId":"1","item":"\\ud800"}\x1e'
    assert PROTOCOL.parse(encoded) == [message]


@pytest.mark.parametrize(
    ("target", "arguments"),
    [("Notify", ()), ("Notify", [1, "two", {"three": [3]}]), ("Ünïcode", ("✓", None, 2.5))],
)
def test_encode_invocation_frame_matches_encode(target, arguments):
    assert PROTOCOL.encode_invocation_frame(target, arguments) == PROTOCOL.encode(
        Invocation(target, tuple(arguments))
    )


def test_completion_refuses_result_and_error_together():
    with pytest.raises(ValueError, match="both a result and an error"):
        Completion("1", result=1, error="x", has_result=True)


def test_completion_refuses_a_result_without_has_result():
    with pytest.raises(ValueError, match="has_result=True"):
        Completion("1", 42)


def test_messages_compare_by_value_including_headers():
    assert Invocation("A", (1,), headers={"a": "b"}) == Invocation("A", (1,), headers={"a": "b"})
    assert Invocation("A", (1,), headers={"a": "b"}) != Invocation("A", (1,))
