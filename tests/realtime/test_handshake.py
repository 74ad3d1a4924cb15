import pytest

from realtime.protocol import (
    PROTOCOLS,
    HandshakeRequest,
    JsonHubProtocol,
    MessagePackHubProtocol,
    Ping,
    ProtocolError,
    encode_handshake_response,
    get_protocol,
    parse_handshake,
)


def test_parse_handshake_reads_json_request():
    request, rest = parse_handshake(b'{"protocol":"json","version":1}\x1e')

    assert request == HandshakeRequest(protocol="json", version=1)
    assert rest == b""


def test_parse_handshake_returns_messages_that_followed_in_the_same_frame():
    """The JS client may send its first hub message in the handshake's frame."""
    frame = b'{"protocol":"messagepack","version":1}\x1e\x02\x91\x06'

    request, rest = parse_handshake(frame)

    assert request == HandshakeRequest(protocol="messagepack", version=1)
    assert rest == b"\x02\x91\x06"
    assert MessagePackHubProtocol().parse(rest) == [Ping()]


def test_parse_handshake_accepts_whitespace_and_extra_properties():
    frame = b'{\n  "protocol": "json",\n  "version": 1,\n  "extra": [1]\n}\x1e'

    assert parse_handshake(frame) == (HandshakeRequest("json", 1), b"")


@pytest.mark.parametrize("buffer", [b"", b"{", b'{"protocol":"json","version":1}'])
def test_parse_handshake_waits_for_the_record_separator(buffer):
    assert parse_handshake(buffer) == (None, buffer)


def test_parse_handshake_accepts_bytearray():
    assert parse_handshake(bytearray(b'{"protocol":"json","version":1}\x1e{')) == (
        HandshakeRequest("json", 1),
        b"{",
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(b'{"protocol":"j\xffson","version":1}', "Error reading JSON", id="utf8"),
        pytest.param(b'{"protocol":"json",', "Error reading JSON", id="truncated-json"),
        pytest.param(b"", "Error reading JSON", id="empty"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "Error reading JSON", id="deep"),
        pytest.param(b'["json",1]', "Token Type 'Array'. Expected a JSON Object", id="array"),
        pytest.param(b'"json"', "Token Type 'String'. Expected a JSON Object", id="string"),
        pytest.param(b'{"version":1}', "'protocol'", id="missing-protocol"),
        pytest.param(b'{"protocol":null,"version":1}', "'protocol'", id="null-protocol"),
        pytest.param(b'{"protocol":1,"version":1}', "'protocol'", id="int-protocol"),
        pytest.param(b'{"protocol":"json"}', "'version'", id="missing-version"),
        pytest.param(b'{"protocol":"json","version":"1"}', "'version'", id="str-version"),
        pytest.param(b'{"protocol":"json","version":true}', "'version'", id="bool-version"),
        pytest.param(b'{"protocol":"json","version":1.0}', "'version'", id="float-version"),
        pytest.param(b'{"type":6}', "'protocol'", id="hub-message-first"),
    ],
)
def test_parse_handshake_refuses_invalid_requests(record, message):
    with pytest.raises(ProtocolError, match=message):
        parse_handshake(record + b"\x1e")


def test_parse_handshake_echoes_a_request_without_control_characters():
    """ASP.NET Core's text, with a newline shown escaped: one log line per refusal."""
    with pytest.raises(ProtocolError) as refused:
        parse_handshake(b'{"version":1,\n\t"x":"\x7f"}\x1e')

    assert str(refused.value) == (
        "Missing required property 'protocol'. "
        'Message content: {"version":1,\\x0a\\x09"x":"\\x7f"}'
    )


def test_encode_handshake_response_without_error_is_an_empty_object():
    assert encode_handshake_response() == b"{}\x1e"


def test_encode_handshake_response_carries_the_error():
    response = encode_handshake_response("The protocol 'xml' is not supported.")

    assert response == b'{"error":"The protocol \'xml\' is not supported."}\x1e'


def test_encode_handshake_response_stays_ascii_json_for_any_text():
    assert encode_handshake_response("caf\xe9 \ud800") == b'{"error":"caf\\u00e9 \\ud800"}\x1e'


@pytest.mark.parametrize(
    ("name", "protocol_class"),
    [("json", JsonHubProtocol), ("messagepack", MessagePackHubProtocol)],
)
def test_get_protocol_returns_the_registered_instance(name, protocol_class):
    protocol = get_protocol(name, 1)

    assert isinstance(protocol, protocol_class)
    assert protocol is PROTOCOLS[name]
    assert protocol.name == name


def test_protocols_declare_their_transfer_format():
    assert PROTOCOLS["json"].transfer_format == "Text"
    assert PROTOCOLS["messagepack"].transfer_format == "Binary"


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("xyz", 1, "The protocol 'xyz' is not supported."),
        ("JSON", 1, "The protocol 'JSON' is not supported."),
        ("json", 3, "The server does not support version 3 of the 'json' protocol."),
        ("messagepack", 0, "The server does not support version 0 of the 'messagepack' protocol."),
    ],
)
def test_get_protocol_refuses_with_the_aspnet_messages(name, version, message):
    with pytest.raises(ProtocolError) as excinfo:
        get_protocol(name, version)

    assert str(excinfo.value) == message
