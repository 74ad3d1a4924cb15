"""The handshake: one UTF-8 JSON record ended by 0x1E, whatever the hub protocol."""

from __future__ import annotations

import json
from dataclasses import dataclass

from realtime.protocol.json import token_name
from realtime.protocol.messages import ProtocolError

RECORD_SEPARATOR = b"\x1e"
# The echoed request goes into logs too: control characters (JSON allows
# newlines between tokens) are shown escaped so one request is one log line.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """The client's choice of hub protocol and version."""

    protocol: str
    version: int


def parse_handshake(buffer: bytes) -> tuple[HandshakeRequest | None, bytes]:
    """Parse the handshake request at the start of ``buffer``.

    Return ``(None, buffer)`` while no 0x1E has arrived (the caller keeps
    buffering and bounds what it keeps), else the request and the bytes
    after the separator, which are hub messages sent in the same frame.
    Raise ProtocolError for an invalid request.
    """
    buffer = bytes(buffer)
    end = buffer.find(RECORD_SEPARATOR)
    if end == -1:
        return None, buffer
    return _decode_request(buffer[:end]), buffer[end + 1 :]


def _decode_request(record: bytes) -> HandshakeRequest:
    # The texts are ASP.NET Core's (HandshakeProtocolTests), which name the
    # first bad property and echo a request that lacks one.
    try:
        text = record.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ProtocolError("Error reading JSON.") from exc
    if not isinstance(payload, dict):
        token = token_name(payload)
        raise ProtocolError(f"Unexpected JSON Token Type '{token}'. Expected a JSON Object.")
    for key, value in payload.items():
        if key == "protocol" and not isinstance(value, str):
            raise ProtocolError("Expected 'protocol' to be of type String.")
        if key == "version" and value is not None and type(value) is not int:  # not bool
            raise ProtocolError("Expected 'version' to be of type Number.")
    for key in ("protocol", "version"):
        if payload.get(key) is None:
            content = text.translate(_CONTROLS)
            raise ProtocolError(f"Missing required property '{key}'. Message content: {content}")
    return HandshakeRequest(protocol=payload["protocol"], version=payload["version"])


def encode_handshake_response(error: str | None = None) -> bytes:
    """Return the handshake response: ``{}`` on success, else ``{"error": ...}``."""
    if not error:  # ASP.NET Core writes no empty error either
        return b"{}" + RECORD_SEPARATOR
    # ASCII output keeps any string, even one with lone surrogates, valid.
    body = json.dumps({"error": error}, separators=(",", ":"))
    return body.encode("ascii") + RECORD_SEPARATOR
