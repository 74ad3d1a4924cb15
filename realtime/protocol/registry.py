"""The hub protocols this server speaks, looked up by handshake name and version."""

from collections.abc import Sequence
from typing import Protocol

from realtime.protocol.json import JsonHubProtocol
from realtime.protocol.messages import HubMessage, ProtocolError
from realtime.protocol.msgpack import MessagePackHubProtocol


class HubProtocol(Protocol):
    """What a connection needs from a hub protocol."""

    name: str
    version: int
    transfer_format: str

    def parse(self, data: bytes, *, max_message_size: int | None = None) -> list[HubMessage]:
        """Return the messages in one transport frame; raise ProtocolError if invalid."""
        ...

    def encode(self, message: HubMessage) -> bytes:
        """Return ``message`` framed for the transport."""
        ...

    def encode_invocation_frame(self, target: str, arguments: Sequence[object]) -> bytes:
        """Return a framed non-blocking Invocation of ``target``."""
        ...


PROTOCOLS: dict[str, HubProtocol] = {
    "json": JsonHubProtocol(),
    "messagepack": MessagePackHubProtocol(),
}


def get_protocol(name: str, version: int) -> HubProtocol:
    """Return the protocol a handshake asked for, or raise ProtocolError.

    The messages match the ASP.NET Core server's handshake errors. Version 2
    (ASP.NET Core 8) adds the stateful reconnect messages, Ack and Sequence;
    version 1 clients never see them, so both are accepted.
    """
    protocol = PROTOCOLS.get(name)
    if protocol is None:
        raise ProtocolError(f"The protocol '{name}' is not supported.")
    if not 1 <= version <= protocol.version:
        raise ProtocolError(
            f"The server does not support version {version} of the '{name}' protocol."
        )
    return protocol
