"""Pre-encoded WebSocket frames: byte for byte what a WebSocket library writes."""

import pytest
from websockets.frames import Frame, Opcode

from realtime.transports.frames import websocket_event, websocket_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize("binary", [False, True])
def test_frames_match_the_websockets_library(size, binary):
    payload = ((b"\x00\xff" if binary else b"a\xc3\xa9") * size)[:size]
    opcode = Opcode.BINARY if binary else Opcode.TEXT

    expected = Frame(opcode, payload).serialize(mask=False, extensions=[])
    assert websocket_frame(payload, binary=binary) == expected


def test_events_are_text_for_str_and_binary_for_bytes():
    assert websocket_event("x") == {"type": "websocket.send", "text": "x"}
    assert websocket_event(b"x") == {"type": "websocket.send", "bytes": b"x"}
