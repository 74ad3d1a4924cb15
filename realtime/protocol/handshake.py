"""The handshake: one UTF-8 JSON record ended by 0x1E, whatever the hub protocol."""

from __future__ import annotations

import json
from dataclasses import dataclass

from realtime.protocol.messages import ProtocolError

RECORD_SEPARATOR = b"\x1e"


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """The client's choice of hub protocol and version."""

    protocol: str
    version: int


def parse_handshake(
    buffer: bytes, *, max_size: int | None = None
) -> tuple[HandshakeRequest | None, bytes]:
    """Parse the handshake request at the start of ``buffer``.

    Return ``(None, buffer)`` while no 0x1E has arrived (the caller keeps
    buffering), else the request and the bytes after the separator, which
    are hub messages sent in the same frame. Raise ProtocolError for an
    invalid request, or once the request exceeds ``max_size`` bytes.
    """
    buffer = bytes(buffer)
    end = buffer.find(RECORD_SEPARATOR)
    if max_size is not None and (end > max_size or (end == -1 and len(buffer) > max_size)):
        raise ProtocolError(f"The handshake request exceeds the limit of {max_size} bytes.")
    if end == -1:
        return None, buffer
    return _decode_request(buffer[:end]), buffer[end + 1 :]


def _decode_request(record: bytes) -> HandshakeRequest:
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("The handshake request is not valid UTF-8.") from exc
    try:
        payload = json.loads(text)
    except RecursionError as exc:
        raise ProtocolError("The handshake request is nested too deeply.") from exc
    except ValueError as exc:
        raise ProtocolError(f"The handshake request is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError("The handshake request must be a JSON object.")
    protocol = payload.get("protocol")
    if not isinstance(protocol, str):
        raise ProtocolError("The handshake request needs a string 'protocol' property.")
    version = payload.get("version")
    if type(version) is not int:  # bool is an int subclass
        raise ProtocolError("The handshake request needs an integer 'version' property.")
    return HandshakeRequest(protocol=protocol, version=version)


def encode_handshake_response(error: str | None = None) -> bytes:
    """Return the handshake response: ``{}`` on success, else ``{"error": ...}``."""
    if error is None:
        return b"{}" + RECORD_SEPARATOR
    # ASCII output keeps any string, even one with lone surrogates, valid.
    body = json.dumps({"error": error}, separators=(",", ":"))
    return body.encode("ascii") + RECORD_SEPARATOR
