"""A client's whole, small data frames read without autobahn's frame machine.

autobahn parses every frame a client sends through a general state machine:
a frame header object, a masker object from its native extension, a UTF-8
validator object, and six callbacks per message (frame begin, data and end,
message begin, frame and end). For the frames a hub receives almost always,
one whole unfragmented text or binary frame of up to 64 KiB arriving in
one read (an invocation, a completion, a keep-alive Ping), that machinery
was 40 % of the server's CPU per call in bench/'s RPC profile
(bench/results/FINDINGS.md).

`WholeFrames.dataReceived` reads such frames itself and hands each to
daphne's `onMessage`, as autobahn would; anything else (a control frame, a
fragment, a compressed or reserved-bit frame, an unmasked one, a frame
split across reads, text that is not UTF-8, a frame over daphne's size
limits, a socket not open) goes to autobahn as it is, from that frame on,
so every error is autobahn's own answer. autobahn's traffic counters
(`trafficStats`) do not count the frames read here; nothing reads them.
"""

from __future__ import annotations

from typing import Any

#: First octets of an unfragmented frame with no reserved bits: text, binary.
_TEXT, _BINARY = 0x81, 0x82
#: Masked frame whose payload length is the 7 bits, or the 16 bits after them.
_MASKED, _LENGTH_16 = 0x80, 126


def unmask(mask: bytes, payload: bytes) -> bytes:
    """XOR `payload` with the repeated 4-octet `mask` (RFC 6455, section 5.3)."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )


def whole_frame(data: bytes, start: int) -> tuple[int, bytes, bool] | None:
    """Read the whole data frame at `data[start:]` if it is one the fast path takes.

    Return its end, its unmasked payload and whether it is binary, or None.
    """
    if len(data) - start < 6:
        return None
    first, second = data[start], data[start + 1]
    if (first != _TEXT and first != _BINARY) or not second & _MASKED:
        return None
    length = second & 0x7F
    head = start + 2
    if length == _LENGTH_16:
        length = int.from_bytes(data[head : head + 2], "big")
        head += 2
        if length < _LENGTH_16:  # not the minimal encoding: autobahn refuses it
            return None
    elif length > _LENGTH_16:
        return None
    end = head + 4 + length
    if end > len(data):
        return None
    return end, unmask(data[head : head + 4], data[head + 4 : end]), first == _BINARY


class WholeFrames:
    """Mixed into daphne's WebSocket protocol class (`realtime.server.slim.adopt`)."""

    def dataReceived(self, data: bytes) -> None:
        start = 0
        while start < len(data) and self._reads_whole_frames():
            frame = whole_frame(data, start)
            if frame is None:
                break
            end, payload, binary = frame
            if not self._within_limits(len(payload)):
                break
            if not binary:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:  # autobahn closes with 1007
                    break
            start = end
            self.onMessage(payload, binary)
        if start < len(data):
            super().dataReceived(data[start:] if start else data)

    def _reads_whole_frames(self: Any) -> bool:
        # Open, between messages, nothing buffered, no ping waiting for its
        # pong (a data frame restarts autobahn's ping timeout), no frame logs.
        return (
            self.state == self.STATE_OPEN
            and not self.data
            and self.current_frame is None
            and not self.inside_message
            and self.autoPingTimeoutCall is None
            and not self.logFrames
            and not self.logOctets
        )

    def _within_limits(self: Any, size: int) -> bool:
        frame_limit, message_limit = self.maxFramePayloadSize, self.maxMessagePayloadSize
        return (frame_limit <= 0 or size <= frame_limit) and (
            message_limit <= 0 or size <= message_limit
        )
