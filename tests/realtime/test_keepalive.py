"""Keep-alive Pings: one pre-encoded frame per protocol where a transport takes frames."""

import pytest

from realtime import keepalive
from realtime.protocol import JsonHubProtocol, MessagePackHubProtocol, Ping
from realtime.transports.frames import websocket_frame


class FrameTransport:
    """A transport with the WebSocket fast path: it keeps what it is given."""

    name = "WebSockets"
    text_only = False
    send_event = None

    def __init__(self, unsent: int = 0) -> None:
        self.frames: list[bytes] = []
        self.unsent = unsent

    def write_frame(self, frame: bytes) -> int:
        self.frames.append(frame)
        return self.unsent


class Pinged:
    def __init__(self, transport, protocol) -> None:
        self.transport = transport
        self.protocol = protocol
        self.last_sent = 0.0
        self.sent: list = []
        self.dropped = False

    async def send(self, message) -> None:
        self.sent.append(message)

    async def overflowed(self) -> None:
        self.dropped = True


@pytest.mark.parametrize("protocol", [JsonHubProtocol(), MessagePackHubProtocol()])
async def test_a_ping_is_the_protocols_ping_in_one_websocket_frame(protocol):
    connection = Pinged(FrameTransport(), protocol)
    await keepalive.ping(connection)
    await keepalive.ping(connection)
    binary = protocol.transfer_format == "Binary"
    expected = websocket_frame(protocol.encode(Ping()), binary=binary)
    assert connection.transport.frames == [expected, expected]
    assert connection.sent == []
    assert connection.last_sent > 0


async def test_a_transport_without_frames_gets_a_ping_message():
    transport = FrameTransport()
    transport.write_frame = None
    connection = Pinged(transport, JsonHubProtocol())
    await keepalive.ping(connection)
    assert connection.sent == [Ping()]


async def test_a_client_that_does_not_read_its_pings_is_dropped(settings):
    settings.REALTIME = {"MAX_UNSENT_BYTES": 1000}
    connection = Pinged(FrameTransport(unsent=1001), JsonHubProtocol())
    await keepalive.ping(connection)
    assert connection.dropped
