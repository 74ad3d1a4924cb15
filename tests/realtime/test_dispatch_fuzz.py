"""Hypothesis over the hub dispatcher: random frames and invocations against EchoHub.

Whatever a client sends, nothing raises out of the connection, every server
frame is a valid message, and the connection either answers each blocking
invocation with exactly one Completion or ends with a Close that carries an
error. Internals never leak. The number of cases run is printed in the
terminal summary.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter

import pytest
from django.contrib.auth.models import AnonymousUser
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from realtime.connection import OPEN, Connection
from realtime.lifetime.running import get_backplane
from realtime.protocol import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    Invocation,
    JsonHubProtocol,
    MessagePackHubProtocol,
    Ping,
    ProtocolError,
    StreamInvocation,
    StreamItem,
)
from realtime.testing import HubCommunicator, HubError
from tests.realtime.hubs import EchoHub

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,  # the suite leaves nothing behind in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROTOCOLS = {"json": JsonHubProtocol(), "messagepack": MessagePackHubProtocol()}
HANDSHAKES = {
    name: json.dumps({"protocol": name, "version": 1}).encode() + b"\x1e" for name in PROTOCOLS
}
LEAK = "internal detail that must not leak"
#: Frames a connection may write before the recorder stops keeping them.
RECORDED = 2000

targets = st.sampled_from(
    [*(m.target for m in EchoHub.methods.values()), "echo", "ADD", "Missing", "_private",
     "NotExposed", "OnConnected", "not_exposed"]
) | st.text(max_size=12)  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Arguments EchoHub's methods take, so that calls also succeed, not only fail.
likely = st.one_of(
    st.integers(min_value=-5, max_value=40), st.text(max_size=8), st.sampled_from(["room", "x"])
)
arguments = st.lists(likely | values, max_size=3).map(tuple)


@st.composite
def client_messages(draw, protocol_name: str):
    """One message a client could send (blocking ids are made unique later)."""
    # Mostly what clients send; sometimes what ends a connection.
    benign = ["invoke"] * 6 + ["send", "stream", "stream", "cancel", "ping"]
    fatal = ["close", "completion", "ack", "item"]
    kind = draw(st.sampled_from(benign) if draw(st.integers(0, 19)) else st.sampled_from(fatal))
    target, args = draw(targets), draw(arguments)
    if kind == "invoke":
        return Invocation(target, args, "?")
    if kind == "send":
        return Invocation(target, args)
    if kind == "stream":
        return StreamInvocation("?", target, args)
    if kind == "cancel":
        return CancelInvocation(draw(st.text(min_size=1, max_size=4)))
    if kind == "ping":
        return Ping()
    if kind == "close":
        return Close(draw(st.none() | st.text(max_size=8)))
    if kind == "completion":
        return Completion.with_result(draw(st.text(min_size=1, max_size=4)), draw(values))
    if kind == "ack":
        return Ack(draw(st.integers(min_value=0, max_value=2**31)))
    return StreamItem(draw(st.text(min_size=1, max_size=4)), draw(values))


def garbage(protocol_name: str):
    """Bytes that are probably not a valid message of the protocol."""
    if protocol_name == "json":
        return st.one_of(
            st.text(max_size=40).map(lambda t: t.replace("\x1e", "").encode() + b"\x1e"),
            st.binary(max_size=40),
            st.builds(lambda v: json.dumps({"type": v}).encode() + b"\x1e", values),
        )
    return st.one_of(
        st.binary(max_size=40),
        st.binary(max_size=40).map(lambda b: bytes([len(b)]) + b),
    )


@st.composite
def sessions(draw):
    """A protocol and the frames a client sends after the handshake."""
    name = draw(st.sampled_from(sorted(PROTOCOLS)))
    protocol = PROTOCOLS[name]
    frames, blocking, ids = [], [], []
    for batch in draw(
        st.lists(st.lists(client_messages(name), min_size=1, max_size=4), max_size=8)
    ):
        encoded = b""
        for message in batch:
            # "?" marks a call that still needs a fresh id; only invocations
            # carry one to fill in (a Completion or StreamItem may draw "?" too).
            placeholder = getattr(message, "invocation_id", None) == "?"
            if placeholder and isinstance(message, Invocation | StreamInvocation):
                ids.append(f"i{len(ids)}")
                if isinstance(message, Invocation):
                    message = Invocation(message.target, message.arguments, ids[-1])
                    blocking.append(message)
                else:
                    message = StreamInvocation(ids[-1], message.target, message.arguments)
            encoded += protocol.encode(message)
        frames.append(encoded)
        if draw(st.integers(min_value=0, max_value=19)) == 0:
            frames.append(draw(garbage(name)))
    return name, frames, blocking, set(ids)


class Recorder:
    """The transport of a fuzzed connection: keeps what the server writes."""

    name = "fuzz"
    write_frame = send_event = None  # no broadcast fast path

    def __init__(self, text_only: bool) -> None:
        self.text_only = text_only
        self.frames: list[bytes] = []
        self.ended = False

    async def write(self, frame: bytes | str, binary: bool) -> None:
        if len(self.frames) < RECORDED:
            self.frames.append(frame.encode() if isinstance(frame, str) else bytes(frame))
        await asyncio.sleep(0)  # a real transport yields too

    async def close(self, *, discard: bool = False) -> None:
        self.ended = True

    def buffered(self) -> int:
        return 0

    async def drop(self) -> None:
        self.ended = True


class _CaseCounter:
    """A late plugin: prints how many cases each test ran, after the run."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_sep("-", "dispatch fuzz")
        for test, count in self.counts.items():
            terminalreporter.write_line(f"{test}: {count} hypothesis cases")


@pytest.fixture(scope="module")
def cases(pytestconfig) -> Counter[str]:
    plugin = pytestconfig.pluginmanager.get_plugin("dispatch-fuzz-cases")
    if plugin is None:
        plugin = _CaseCounter()
        pytestconfig.pluginmanager.register(plugin, "dispatch-fuzz-cases")
    return plugin.counts


async def _settle(connection: Connection, seconds: float = 0.3) -> None:
    """Let streams and group deliveries run a little (bounded)."""
    deadline = time.monotonic() + seconds
    await asyncio.sleep(0.01)
    while connection.streams and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _parse_output(name: str, frames: list[bytes]) -> list:
    """Every server frame after the handshake response is valid protocol."""
    assert frames[0] == b"{}\x1e"
    messages = []
    for frame in frames[1:]:
        try:
            messages.extend(PROTOCOLS[name].parse(frame))
        except ProtocolError as exc:
            pytest.fail(f"the server wrote an invalid {name} frame {frame[:80]!r}: {exc}")
    return messages


@pytest.mark.usefixtures("_stop_backplane")
@FUZZ
@given(session=sessions())
async def test_no_client_input_breaks_a_connection(session, cases):
    name, frames, blocking, ids = session
    cases["test_no_client_input_breaks_a_connection"] += 1
    recorder = Recorder(text_only=False)
    backplane = await get_backplane()
    connection = Connection(
        hub_class=EchoHub,
        user=AnonymousUser(),
        user_id="",
        connection_id=secrets.token_urlsafe(8),
        token=secrets.token_urlsafe(8),
        transport=recorder,
        backplane=backplane,
    )
    await backplane.attach(connection)
    try:
        await connection.feed(HANDSHAKES[name])
        for frame in frames:
            await connection.feed(frame)
        await _settle(connection)
        still_open = connection.state == OPEN
    finally:
        await connection.closed()

    messages = _parse_output(name, recorder.frames)
    completions = Counter(m.invocation_id for m in messages if isinstance(m, Completion))
    closes = [m for m in messages if isinstance(m, Close)]
    event(f"{name}, {'still open' if still_open else 'ended'}")
    assert set(completions) <= ids
    assert all(n == 1 for n in completions.values()), completions
    if still_open:
        # Every blocking invocation was answered, exactly once.
        assert not closes
        assert {m.invocation_id for m in blocking} <= set(completions)
        for message in blocking:
            reply = next(
                m
                for m in messages
                if isinstance(m, Completion) and m.invocation_id == message.invocation_id
            )
            if message.target == "Echo" and len(message.arguments) == 1 and not reply.error:
                assert reply.result == message.arguments[0] or reply.result != reply.result
    else:
        # Ended: a Close with an error, unless the client closed (or never shook hands).
        assert recorder.ended
        assert len(closes) <= 1
        if closes:
            assert (closes[0].error or "").startswith("Connection closed with an error.")
    for message in messages:
        assert isinstance(message, Completion | StreamItem | Close | Ping | Invocation), message
        if isinstance(message, Invocation):
            assert message.target in {"Notified", "Shouted"}
        if isinstance(message, Completion) and message.error:
            assert LEAK not in message.error
            assert "Traceback" not in message.error


json_records = st.one_of(
    st.builds(
        lambda target, args, invocation_id: json.dumps(
            {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)}
        ),
        targets,
        arguments,
        st.sampled_from(["x1", "x2", "x3"]),
    ),
    st.text(max_size=30).map(lambda t: t.replace("\x1e", "")),
    st.builds(lambda v: json.dumps({"type": 1, "invocationId": "x9", "target": v}), values),
)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_stop_backplane")
@settings(FUZZ, max_examples=60)
@given(records=st.lists(json_records, min_size=1, max_size=4))
async def test_no_json_frame_breaks_the_websocket_transport(records, cases):
    """Through the real WebSocket consumer: the connection answers, or ends with a Close error."""
    cases["test_no_json_frame_breaks_the_websocket_transport"] += 1
    client = HubCommunicator(EchoHub)
    assert await client.connect() == {}
    try:
        await client.send_raw("".join(record + "\x1e" for record in records))
        try:
            alive = await client.invoke("Echo", "alive", timeout=5)
        except HubError:
            alive = None
    finally:
        await client.disconnect()

    if alive is None:
        assert client.closed_with["type"] == 7
        assert client.closed_with["error"].startswith("Connection closed with an error.")
        assert LEAK not in client.closed_with["error"]
    else:
        assert (alive, client.closed_with) == ("alive", None)
