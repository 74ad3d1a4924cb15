"""The codec against ASP.NET Core's own protocol test data (aspnetcore_vectors/).

Every vector that applies reads to the same message and every message this
server writes is byte-equal to what ASP.NET Core writes; refused bytes are
refused with ASP.NET Core's text.
"""

import pytest

from realtime.protocol import (
    JsonHubProtocol,
    MessagePackHubProtocol,
    ProtocolError,
    encode_handshake_response,
    encode_negotiate_error,
    encode_negotiate_response,
    negotiate_version,
    parse_handshake,
)
from tests.realtime import aspnetcore_vectors as v
from tests.realtime.aspnetcore_vectors import handshake, json_hub
from tests.realtime.aspnetcore_vectors import messagepack_hub as mp

JSON = JsonHubProtocol()
MSGPACK = MessagePackHubProtocol()


def _framed(body: bytes) -> bytes:
    """Prefix a MessagePack body with its varint length."""
    size, prefix = len(body), bytearray()
    while size > 0x7F:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + body


def _rows(rows, direction):
    return [pytest.param(row, id=row.name) for row in rows if row.direction in (v.BOTH, direction)]


@pytest.mark.parametrize("row", _rows(json_hub.JSON_VECTORS, v.WRITE))
def test_json_writes_what_aspnetcore_writes(row):
    assert JSON.encode(row.message) == row.wire + b"\x1e"


@pytest.mark.parametrize("row", _rows(json_hub.JSON_VECTORS, v.PARSE))
def test_json_reads_what_aspnetcore_reads(row):
    assert JSON.parse(row.wire + b"\x1e") == [row.parsed or row.message]


@pytest.mark.parametrize("row", [pytest.param(r, id=r.name) for r in json_hub.JSON_REFUSALS])
def test_json_refuses_with_aspnetcore_text(row):
    with pytest.raises(ProtocolError) as refused:
        JSON.parse(row.wire + b"\x1e")

    assert str(refused.value) == (row.ours or row.error)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.name) for r in json_hub.JSON_SIZES])
def test_json_message_sizes_match(row):
    assert len(JSON.encode(row.message)) == row.size


@pytest.mark.parametrize("row", _rows(mp.MSGPACK_VECTORS, v.WRITE))
def test_msgpack_writes_what_aspnetcore_writes(row):
    assert MSGPACK.encode(row.message) == _framed(row.wire)


@pytest.mark.parametrize("row", _rows(mp.MSGPACK_VECTORS, v.PARSE))
def test_msgpack_reads_what_aspnetcore_reads(row):
    assert MSGPACK.parse(_framed(row.wire)) == [row.parsed or row.message]


@pytest.mark.parametrize("row", [pytest.param(r, id=r.name) for r in mp.MSGPACK_REFUSALS])
def test_msgpack_refuses_with_aspnetcore_text(row):
    with pytest.raises(ProtocolError) as refused:
        MSGPACK.parse(_framed(row.wire))

    assert str(refused.value) == (row.ours or row.error)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.name) for r in mp.MSGPACK_SIZES])
def test_msgpack_message_sizes_match(row):
    assert len(MSGPACK.encode(row.message)) == row.size


def test_broadcast_frames_equal_the_encoded_invocation():
    """The pre-encoded fan-out frame is byte-equal to ASP.NET Core's Invocation."""
    row = next(
        r for r in mp.MSGPACK_VECTORS if r.name == "InvocationWithNoHeadersNoIdAndSingleIntArg"
    )

    assert MSGPACK.encode_invocation_frame("method", [42]) == _framed(row.wire)
    assert (
        JSON.encode_invocation_frame("Target", [True])
        == b'{"type":1,"target":"Target","arguments":[true]}\x1e'
    )


@pytest.mark.parametrize(("wire", "protocol", "version"), handshake.HANDSHAKE_REQUESTS)
def test_handshake_reads_what_aspnetcore_reads(wire, protocol, version):
    request, rest = parse_handshake(wire)

    assert (request.protocol, request.version, rest) == (protocol, version, b"")


def test_handshake_waits_for_the_separator():
    assert parse_handshake(b"42") == (None, b"42")


@pytest.mark.parametrize(("wire", "error"), handshake.HANDSHAKE_REFUSALS)
def test_handshake_refuses_with_aspnetcore_text(wire, error):
    with pytest.raises(ProtocolError) as refused:
        parse_handshake(wire)

    assert str(refused.value) == error


@pytest.mark.parametrize(("error", "wire"), handshake.HANDSHAKE_RESPONSES)
def test_handshake_response_is_what_aspnetcore_writes(error, wire):
    assert encode_handshake_response(error) == wire


def test_negotiate_response_writes_transports_always():
    assert encode_negotiate_response() == handshake.NEGOTIATE_EMPTY


def test_negotiate_response_key_order_is_aspnetcore_order():
    transports = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]

    assert encode_negotiate_response(
        version=1, connection_id="id", connection_token="token", transports=transports
    ) == (
        b'{"negotiateVersion":1,"connectionId":"id","connectionToken":"token",'
        b'"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}'
    )


def test_custom_object_json_is_transcribed_literally():
    """The generated CustomObject JSON equals one row of the source, character for character."""
    literal = (
        '{"StringProp":"SignalR!","DoubleProp":6.2831853071,"IntProp":42,'
        '"DateTimeProp":"2017-04-11T00:00:00Z","NullProp":null,"ByteArrProp":"AQID"}'
    )

    assert json_hub._custom_json(camel=False, nulls=True) == literal


def test_every_left_out_row_says_why():
    partial = [row for row in json_hub.JSON_VECTORS + mp.MSGPACK_VECTORS if row.direction != v.BOTH]
    differing = [row for row in json_hub.JSON_REFUSALS + mp.MSGPACK_REFUSALS if row.ours]

    assert all(row.why for row in partial + differing)
    assert all(reason.strip() for reason in v.NOT_APPLICABLE.values())


# HttpConnectionDispatcher's negotiate version rules (HttpConnectionDispatcherTests).
@pytest.mark.parametrize(
    ("requested", "version"),
    [(None, 0), ("0", 0), ("1", 1), ("2", 1), ("+1", 1), (" 01 ", 1), ("2147483647", 1)],
)
def test_negotiate_version_follows_int_tryparse(requested, version):
    assert negotiate_version(requested) == version


@pytest.mark.parametrize(
    ("requested", "error"),
    [
        ("abc", "The client requested a non-integer protocol version."),
        ("1.5", "The client requested a non-integer protocol version."),
        ("1_0", "The client requested a non-integer protocol version."),
        ("\u0661", "The client requested a non-integer protocol version."),
        ("2147483648", "The client requested a non-integer protocol version."),
        ("-1", "The client requested version '-1', but the server does not support this version."),
    ],
)
def test_negotiate_version_refuses_in_aspnetcore_words(requested, error):
    with pytest.raises(ProtocolError) as refused:
        negotiate_version(requested)

    assert str(refused.value) == error
    assert encode_negotiate_error(error) == b'{"error":"' + error.encode() + b'"}'
