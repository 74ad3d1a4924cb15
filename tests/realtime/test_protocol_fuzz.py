import json

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.protocol import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    HubMessage,
    Invocation,
    JsonHubProtocol,
    MessagePackHubProtocol,
    Ping,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
)

PROTOCOLS = [
    pytest.param(JsonHubProtocol(), id="json"),
    pytest.param(MessagePackHubProtocol(), id="messagepack"),
]
# No example database: the suite must leave nothing behind in the work tree.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Values both encodings carry without loss: MessagePack integers stop at 64 bits.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.text(min_size=1, max_size=12)
# ASP.NET Core refuses empty header keys, values and stream ids, writes an
# empty error as none (MessagePack Close, JSON Completion), so none is drawn.
texts = st.text(min_size=1, max_size=20)
headers = st.none() | st.dictionaries(
    st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8), min_size=1, max_size=3
)
arguments = st.lists(values, max_size=4).map(tuple)
stream_ids = st.lists(st.text(min_size=1, max_size=6), max_size=3).map(tuple)
sequence_ids = st.integers(min_value=0, max_value=2**63 - 1)

messages: st.SearchStrategy[HubMessage] = st.one_of(
    st.builds(Invocation, ids, arguments, st.none() | ids, stream_ids, headers),
    st.builds(StreamInvocation, ids, ids, arguments, stream_ids, headers),
    st.builds(StreamItem, ids, values, headers),
    st.builds(Completion.void, ids),
    st.builds(Completion.with_result, ids, values),
    st.builds(Completion.with_error, ids, texts),
    st.builds(CancelInvocation, ids, headers),
    st.just(Ping()),
    st.builds(Close, st.none() | texts, st.booleans()),
    st.builds(Ack, sequence_ids),
    st.builds(Sequence, sequence_ids),
)


def framed(body: bytes) -> bytes:
    prefix, size = bytearray(), len(body)
    while size > 0x7F:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    return bytes([*prefix, size]) + body


def parse_or_refuse(protocol, data: bytes) -> None:
    """Parsing either returns messages or raises ProtocolError, nothing else."""
    try:
        result = protocol.parse(data, max_message_size=4096)
    except ProtocolError:
        return
    assert isinstance(result, list)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@FUZZ
@given(message=messages)
def test_every_message_round_trips(protocol, message):
    assert protocol.parse(protocol.encode(message)) == [message]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@FUZZ
@given(batch=st.lists(messages, max_size=5))
def test_a_frame_of_several_messages_round_trips(protocol, batch):
    data = b"".join(protocol.encode(message) for message in batch)

    assert protocol.parse(data) == batch


@pytest.mark.parametrize("protocol", PROTOCOLS)
@FUZZ
@given(target=ids, args=st.lists(values, max_size=4))
def test_encode_invocation_frame_equals_encode(protocol, target, args):
    assert protocol.encode_invocation_frame(target, args) == protocol.encode(
        Invocation(target, tuple(args))
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=64))
def test_no_bytes_crash_the_parser(protocol, data):
    parse_or_refuse(protocol, data)


@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=64))
def test_no_json_records_crash_the_parser(data):
    parse_or_refuse(JsonHubProtocol(), data.replace(b"\x1e", b"") + b"\x1e")


@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=120))
def test_no_length_prefixed_bodies_crash_the_parser(data):
    parse_or_refuse(MessagePackHubProtocol(), framed(data))


FIELDS = ("invocationId", "target", "arguments", "streamIds", "item", "result", "error")
json_messages = st.fixed_dictionaries(
    {"type": st.integers(min_value=-1, max_value=10) | values},
    optional=dict.fromkeys((*FIELDS, "headers", "allowReconnect", "sequenceId"), values),
)


@settings(FUZZ, max_examples=300)
@given(value=values | json_messages)
def test_no_json_values_crash_the_parser(value):
    parse_or_refuse(JsonHubProtocol(), json.dumps(value).encode() + b"\x1e")


@settings(FUZZ, max_examples=300)
@given(
    message_type=st.integers(min_value=0, max_value=10),
    items=st.lists(values | st.binary(max_size=4), max_size=7),
)
def test_no_messagepack_arrays_crash_the_parser(message_type, items):
    body = msgpack.packb([message_type, *items], use_bin_type=True)

    parse_or_refuse(MessagePackHubProtocol(), framed(body))
