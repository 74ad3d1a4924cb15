"""The SignalR hub protocol, server side: bytes in, messages out, and back.

Pure code: no Django, no asyncio, no I/O. Invalid input raises ProtocolError.
"""

from realtime.protocol.handshake import HandshakeRequest, encode_handshake_response, parse_handshake
from realtime.protocol.json import JsonHubProtocol
from realtime.protocol.messages import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    HubMessage,
    Invocation,
    Ping,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
)
from realtime.protocol.msgpack import MessagePackHubProtocol
from realtime.protocol.negotiate import (
    encode_negotiate_error,
    encode_negotiate_response,
    negotiate_version,
)
from realtime.protocol.registry import PROTOCOLS, HubProtocol, get_protocol

__all__ = [
    "PROTOCOLS",
    "Ack",
    "CancelInvocation",
    "Close",
    "Completion",
    "HandshakeRequest",
    "HubMessage",
    "HubProtocol",
    "Invocation",
    "JsonHubProtocol",
    "MessagePackHubProtocol",
    "Ping",
    "ProtocolError",
    "Sequence",
    "StreamInvocation",
    "StreamItem",
    "encode_handshake_response",
    "encode_negotiate_error",
    "encode_negotiate_response",
    "get_protocol",
    "negotiate_version",
    "parse_handshake",
]
